"""Modules the firmware needs only for a while, unloaded so that their code and tables leave the
heap: boot-only code (firmware/startup.py), plan compilation (firmware/plan_compile.py and the
quantity tables it reads), a protocol's catalogue once its plans are built.
"""


def unload_module(name):
    """Forget a module so its code leaves the heap (tables only compiling needs)."""
    import sys
    sys.modules.pop(name, None)
    package, _, attr = name.rpartition(".")
    parent = sys.modules.get(package)
    if parent is not None:
        try:
            delattr(parent, attr)
        except (AttributeError, KeyError, TypeError):
            pass


def forget_tables():
    """Unload the tables only plan compilation needs (call once every plan is compiled)."""
    unload_module("firmware.quantities")
    unload_module("protocol.reading_items")     # its name table, imported by quantities only
