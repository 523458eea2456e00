"""The firmware's stop marker on the emulated board with Ctrl-C placed at exact points
(tests/qemu_board/qemu_test_stop.py, through the board's mps2.ctrl_c()): the unix port cannot hold
Ctrl-C off, and the host cannot place a Ctrl-C between two given bytecodes."""
import pytest

from tests.qemu_board.qemu_support import TESTS, qemu_session, run_mp_module

MODULE = TESTS / "qemu_board" / "qemu_test_stop.py"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with qemu_session(tmp_path_factory.mktemp("qemu-stop"), [TESTS / "mp_support.py", MODULE]) \
            as board:
        yield board


def test_the_stop_marker_survives_a_second_ctrl_c_anywhere(board):
    out = run_mp_module(board, "qemu_test_stop")
    assert "@@DONE" in out, out[-3000:]
    assert "@@FAIL" not in out, out[-3000:]
    assert out.count("@@PASS") == 4, out[-2000:]
