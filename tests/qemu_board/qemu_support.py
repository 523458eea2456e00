"""The emulated Cortex-M4F board for tests and benchmarks: build it (`make qemu-board`, cached),
start it on a fresh flash, put the firmware and test modules in its ROMFS, and talk to its REPL.

    with qemu_session(tmp_path, extra={"mp_support": TESTS / "mp_support.py"}) as board:
        out = run_mp_module(board, "mp_test_sched")     # mp_runner's output
"""
import contextlib
import subprocess
from pathlib import Path

import pytest

from host_tools import boards, qemu_build, romfs
from host_tools.build import build, out_dir_for, sources, target_name, with_native, NATIVE_MARK
from host_tools.deploy import flash_file_writer
from host_tools.qemu_board import QemuBoard

ROOT = Path(__file__).resolve().parent.parent.parent
TESTS = ROOT / "tests"
MARCH = "armv7emsp"        # the Cortex-M4F's native code (board_configs/qemu_m4/mpconfigboard.mk)


def built_firmware():
    missing = [name for name in qemu_build.TARBALLS
               if not (qemu_build.deps_dir() / name).exists()]
    if missing:
        pytest.skip("the MicroPython source tarballs are not in %s: %s" % (
            qemu_build.deps_dir(), ", ".join(missing)))
    return qemu_build.build()


def compile_module(src, out_dir):
    """A test module compiled for the board (its @viper marks too), as NAME.mpy in out_dir."""
    out = Path(out_dir) / (src.stem + ".mpy")
    text = src.read_text()
    if NATIVE_MARK in text:
        text = with_native(text)
    subprocess.run([str(qemu_build.mpy_cross_path()), "-march=" + MARCH, "-s", src.name, "-o",
                    str(out), "-"], input=text, text=True, check=True, capture_output=True)
    return out.read_bytes()


def romfs_files(extra_sources, work_dir):
    """{path: bytes}: protocol/ and firmware/ built for the board, plus the extra modules at
    the image's root (/rom, on sys.path)."""
    out = out_dir_for(MARCH)
    build(out, march=MARCH)
    files = {target_name(rel).as_posix(): (out / target_name(rel)).read_bytes()
             for rel, _ in sources()}
    for src in extra_sources:
        files[Path(src).stem + ".mpy"] = compile_module(Path(src), work_dir)
    return files


@contextlib.contextmanager
def qemu_session(state_dir, extra_sources=(), buses=None, modem=None):
    """A booted board with the firmware and `extra_sources` in ROMFS, at its raw REPL."""
    from host_tools.usb import Board
    from host_tools.vboard import registry
    built_firmware()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    qemu = QemuBoard(state_dir, boards.load("qemu_m4"), buses, modem)
    qemu.start()
    entry = registry.register(qemu.port, state_dir)
    board = None
    try:
        board = Board.open(qemu.port, soft_reset=True)
        image = romfs.build_image(romfs_files(extra_sources, state_dir))
        romfs.deploy(board, image, writer=flash_file_writer(qemu.port))
        board.soft_reset()
        yield board
    finally:
        if board is not None:
            board.close(resume=False)
        registry.unregister(entry)
        qemu.stop()


def run_mp_module(board, module, timeout=300, only=None):
    """tests/mp_runner.py's output for one test module on the board (`only`: these tests)."""
    # a fresh interpreter per module (the runner also drops sys.path[0]); the board's sys has
    # no argv: the runner's arguments go in as literals
    board.soft_reset()
    runner = (TESTS / "mp_runner.py").read_text()
    code = runner.replace("sys.argv[1]", repr(module)).replace("sys.argv[2:]", repr(list(only or [])))
    return board.exec(code, timeout=timeout)
