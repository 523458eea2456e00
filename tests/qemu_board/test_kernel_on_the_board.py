"""The kernel's MicroPython tests on the emulated Cortex-M4F board, with its hot path compiled to
ARM machine code (armv7emsp) and executed from ROMFS.

mp_test_io is not among them: it needs socket pairs, which the board (no network) has not; the
board's own I/O (UARTs through select.poll) is what tests/qemu_board/test_qemu_board.py runs.
nor mp_test_heap_locked's real-clock test, which streams bytes over such a socket pair. Nor are
the tests that give the kernel a watchdog: on a board that is the real machine.WDT,
which cannot be stopped and resets the board once the test is over.
"""
import ast

import pytest

from host_tools.build import march_of
from tests.qemu_board.qemu_support import MARCH, TESTS, qemu_session, run_mp_module

MODULES = ("mp_test_sched", "mp_test_services", "mp_test_supervision", "mp_test_time_wrap",
           "mp_test_heap_locked")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    extra = [TESTS / "mp_support.py", TESTS / "kernel" / "kernel_support.py"]
    extra += [TESTS / "kernel" / (name + ".py") for name in MODULES]
    with qemu_session(tmp_path_factory.mktemp("qemu-kernel"), extra) as board:
        yield board


def test_the_board_runs_the_kernel_as_arm_machine_code(board):
    assert board.info()["march"] == MARCH
    header = board.eval("open('/rom/firmware/kernel.mpy', 'rb').read(4)")
    assert march_of(header[2] << 8) == MARCH
    # MicroPython refuses machine code of another architecture at import
    board.exec("import firmware.kernel")


def board_tests(module):
    """The module's test functions, without those that start a watchdog or need sockets."""
    tree = ast.parse((TESTS / "kernel" / (module + ".py")).read_text())
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            and "watchdog_ms" not in ast.unparse(node) and "mp_test_io" not in ast.unparse(node)]


@pytest.mark.parametrize("module", MODULES)
def test_kernel_tests_pass_on_the_board(board, module):
    out = run_mp_module(board, module, only=board_tests(module))
    assert "@@DONE" in out, out[-3000:]
    assert "@@FAIL" not in out, out[-3000:]
    assert out.count("@@PASS") == len(board_tests(module)), out[-2000:]
