"""host_tools.usb, the transport under every `conc` USB command, against the virtual board."""
import hashlib
import os

import pytest

from host_tools.errors import CliError
from host_tools.usb import Board, BoardError, resolve_port
from tests.vboard.vboard_support import Console, VirtualBoard, mpremote


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with VirtualBoard(tmp_path_factory.mktemp("usb")) as b:
        yield b


def test_exec_eval_and_board_errors(board):
    with Board.open(board.port) as b:
        assert b.exec("print('hi')") == "hi\n"
        assert b.eval("[1, 2] * 2") == [1, 2, 1, 2]
        with pytest.raises(BoardError) as err:
            b.exec("raise ValueError('nope')")
        assert "ValueError: nope" in err.value.message
        assert b.info()["platform"] == "linux"


def test_files_are_written_atomically_and_verified(board):
    data = os.urandom(5000)
    with Board.open(board.port) as b:
        b.makedirs("/t/deep")
        seen = []
        b.write_file("/t/deep/blob.bin", data, progress=seen.append)
        assert sum(seen) == len(data)
        assert b.read_file("/t/deep/blob.bin") == data
        assert b.sha256(["/t/deep/blob.bin", "/t/missing"]) == {
            "/t/deep/blob.bin": hashlib.sha256(data).hexdigest(), "/t/missing": None}
        assert b.walk("/t") == {"/t/deep/blob.bin": 5000}
        assert ("deep", True, 0) in b.listdir("/t")
        b.write_file("/t/deep/blob.bin", b"short")          # replaces the old file
        assert b.read_file("/t/deep/blob.bin") == b"short"
        assert b.walk("/t") == {"/t/deep/blob.bin": 5}     # no temporary file left behind
        b.remove("/t/deep/blob.bin")
        b.remove("/t/deep/blob.bin")                         # missing: not an error
        with pytest.raises(BoardError) as err:
            b.read_file("/t/deep/blob.bin")
        assert "ENOENT" in err.value.message


def test_the_firmware_is_interrupted_then_resumed(board):
    mpremote(board.port, "exec",
             "with open('main.py', 'w') as f:\n"
             " f.write('import time\\nRUNNING = True\\nprint(\"main running\")\\n"
             "while True:\\n time.sleep_ms(10)\\n')")
    try:
        with Board.open(board.port) as b:
            b.resume()           # main.py now runs, as after power-on
        console = Console(board.port)
        console.read_until(b"main running\r\n")
        console.close()
        with Board.open(board.port) as b:
            # Ctrl-C stopped main.py; its globals are still there to inspect
            assert b.eval("RUNNING") is True
        console = Console(board.port)
        console.read_until(b"main running\r\n")     # closing the session resumed the firmware
        console.write(b"\r")
        assert b">>>" not in console.drain(0.3)    # ...so the REPL does not answer
        console.close()
    finally:
        mpremote(board.port, "exec", "import os\nos.remove('main.py')")


def test_what_the_program_printed_when_it_was_stopped_is_kept(board, tmp_path, monkeypatch):
    # a firmware's last words when `conc` stops it (a traceback, "stop marker not written") are
    # the evidence of a stop gone wrong: kept in the session and in CONC_STOP_LOG's file
    log = tmp_path / "stops.log"
    monkeypatch.setenv("CONC_STOP_LOG", str(log))
    mpremote(board.port, "exec",
             "with open('main.py', 'w') as f:\n"
             " f.write('import time\\nprint(\"main running\")\\ntry:\\n while True:\\n"
             "  time.sleep_ms(10)\\nexcept KeyboardInterrupt:\\n print(\"last words\")\\n"
             " raise\\n')")
    try:
        with Board.open(board.port) as b:
            b.resume()
        console = Console(board.port)
        console.read_until(b"main running\r\n")
        console.close()
        with Board.open(board.port) as b:
            said = b.stop_output
        assert "last words" in said and "KeyboardInterrupt" in said, said
        assert "raw REPL" not in said       # the REPL's banner is not evidence
        assert "last words" in log.read_text()
    finally:
        mpremote(board.port, "exec", "import os\nos.remove('main.py')")


def test_soft_reset_gives_a_clean_interpreter(board):
    with Board.open(board.port) as b:
        b.exec("leftover = 1")
        b.soft_reset()
        assert b.eval("'leftover' in globals()") is False


def test_missing_and_busy_ports_are_device_errors(board, tmp_path):
    with pytest.raises(CliError) as err:
        Board.open(str(tmp_path / "ttyNOPE"))
    assert err.value.exit_code == 3 and "no board on" in err.value.message
    with pytest.raises(CliError) as err:
        Board.open("/dev/null")
    assert err.value.exit_code == 3 and "not a serial port" in err.value.message
    with Board.open(board.port):
        with pytest.raises(CliError) as err:
            Board.open(board.port)
        assert err.value.exit_code == 3 and "busy" in err.value.message


def test_auto_port_finds_the_one_running_virtual_board(tmp_path, monkeypatch):
    import serial.tools.list_ports
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda: [])
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))   # only the boards of this test
    with pytest.raises(CliError) as err:
        resolve_port("auto")
    assert err.value.exit_code == 3 and "no board found" in err.value.message
    with VirtualBoard(tmp_path / "one", env={"XDG_RUNTIME_DIR": str(tmp_path)}) as one:
        assert resolve_port("auto") == one.port
        with VirtualBoard(tmp_path / "two", env={"XDG_RUNTIME_DIR": str(tmp_path)}) as two:
            with pytest.raises(CliError) as err:
                resolve_port("auto")
            assert one.port in err.value.message and two.port in err.value.message
    assert resolve_port("/dev/ttyUSB7") == "/dev/ttyUSB7"


def test_a_board_that_goes_away_mid_transfer_is_a_clean_error(tmp_path):
    vb = VirtualBoard(tmp_path).start()
    b = Board.open(vb.port)
    b.exec("x = 1")
    vb.power_cut()
    with pytest.raises(CliError) as err:
        b.write_file("/big.bin", os.urandom(20000))
    assert err.value.exit_code in (1, 3)
    b.close()
