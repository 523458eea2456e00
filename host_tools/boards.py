"""Board configurations (board_configs/*.json): loading and validation on the host.

A board file says which pins and UARTs a board uses, where its data partition is and how much
heap the firmware may use. `conc flash --board NAME` installs the file on the board as
/board.json, which firmware/main.py reads at boot.
"""
import json
from pathlib import Path

BOARD_DIR = Path(__file__).resolve().parent.parent / "board_configs"
PLATFORMS = ("esp32", "stm32", "linux", "qemu")
# Where the firmware's code goes (optional key "code", default "files"): .mpy files on the
# filesystem, loaded into the heap when imported, or one ROMFS image mounted at /rom whose
# bytecode runs in place (qemu_m4's flash region, the virtual board's mapped image file).
CODE_PLACES = ("files", "romfs")
REQUIRED = {"name": str, "description": str, "platform": str, "heap_budget_kb": int,
            "buses": list, "modem": dict, "data_partition": dict, "watchdog_ms": int}


class BoardConfigError(Exception):
    pass


def names():
    return sorted(p.stem for p in BOARD_DIR.glob("*.json"))


def load(name):
    path = BOARD_DIR / ("%s.json" % name)
    if not path.exists():
        raise BoardConfigError("unknown board %r; known boards: %s" % (name, ", ".join(names())))
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise BoardConfigError("%s is not valid JSON: %s" % (path.name, exc)) from None
    problems = validate(config)
    if problems:
        raise BoardConfigError("%s: %s" % (path.name, "; ".join(problems)))
    return config


def validate(config):
    """Return the list of problems with a board config (empty when it is good)."""
    problems = []
    for key, kind in REQUIRED.items():
        if key not in config:
            problems.append("missing %r" % key)
        elif not isinstance(config[key], kind):
            problems.append("%r must be a %s" % (key, kind.__name__))
    if problems:
        return problems
    if config["platform"] not in PLATFORMS:
        problems.append("platform must be one of %s" % ", ".join(PLATFORMS))
    if not 32 <= config["heap_budget_kb"] <= 8192:
        problems.append("heap_budget_kb must be 32..8192")
    seen = set()
    for bus in config["buses"]:
        number = bus.get("bus")
        if not isinstance(number, int) or not 1 <= number <= 31 or number in seen:
            problems.append("each bus needs a unique number 1..31 (port number in AFN04 F10)")
        seen.add(number)
        if config["platform"] == "qemu":
            if not isinstance(bus.get("uart"), int):
                problems.append("bus %s needs the number of its UART" % number)
        elif config["platform"] != "linux" and not {"uart", "tx", "rx", "de"} <= set(bus):
            problems.append("bus %s needs uart, tx, rx and de (direction) pins" % number)
    if config.get("code", "files") not in CODE_PLACES:
        problems.append("code must be one of %s" % ", ".join(CODE_PLACES))
    if not config["buses"]:
        problems.append("a board needs at least one RS-485 bus")
    part = config["data_partition"]
    if not isinstance(part.get("label"), str) or not isinstance(part.get("block_size"), int):
        problems.append("data_partition needs a label and a block_size")
    elif part["block_size"] % 4096:
        problems.append("data_partition block_size must be a multiple of 4096")
    return problems
