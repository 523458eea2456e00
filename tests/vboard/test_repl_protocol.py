"""The virtual board's pty speaks the REPL protocol byte for byte as a USB board does
(mpremote's transport_serial.py is the reference): friendly REPL, raw REPL, raw-paste with flow
control, Ctrl-C of running code, soft reset running boot.py and main.py."""
import struct

import pytest

from tests.vboard.vboard_support import Console, VirtualBoard, mpremote


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with VirtualBoard(tmp_path_factory.mktemp("repl")) as b:
        yield b


@pytest.fixture
def console(board):
    c = Console(board.port)
    c.drain(0.05)
    yield c
    if c.serial.is_open:
        c.write(b"\x03\x02")   # leave it at the friendly prompt for the next test
        c.close()


def test_friendly_repl_echoes_and_prints_expression_values(console):
    console.friendly()
    console.write(b"6*7\r")
    assert console.read_until(b">>> ").endswith(b"6*7\r\n42\r\n>>> ")


def test_friendly_repl_keeps_globals_and_continues_blocks(console):
    console.friendly()
    console.write(b"def f(x):\r")
    assert console.read_until(b"... ").endswith(b"def f(x):\r\n... ")
    console.write(b"    return x + 1\r\r")
    console.read_until(b">>> ")
    console.write(b"f(41)\r")
    assert b"\r\n42\r\n>>> " in console.read_until(b"42\r\n>>> ")


def test_friendly_repl_reports_errors_and_goes_on(console):
    console.friendly()
    console.write(b"1/0\r")
    out = console.read_until(b">>> ")
    assert b"ZeroDivisionError" in out and b"Traceback" in out


def test_raw_repl_frames_output_and_error(console):
    console.raw()
    out, err = console.raw_exec("print('a')\nprint('b')")
    assert (out, err) == (b"a\r\nb\r\n", b"")
    out, err = console.raw_exec("print('x')\nraise ValueError('bad')")
    assert out == b"x\r\n"
    assert b"ValueError: bad" in err
    console.write(b"\x02")
    assert console.read_until(b">>> ").startswith(b"\r\nMicroPython")


def test_raw_paste_flow_control_with_a_long_chunk(console):
    console.raw()
    source = ("x = %r\nprint(len(x))\n" % ("y" * 5000)).encode()
    console.write(b"\x05A\x01")
    assert console.serial.read(2) == b"R\x01"
    window = struct.unpack("<H", console.serial.read(2))[0]
    assert window > 0
    remaining, i = window, 0
    while i < len(source):
        while remaining == 0 or console.serial.in_waiting:
            assert console.read_until(b"\x01") == b"\x01"
            remaining += window
        chunk = source[i:i + remaining]
        console.write(chunk)
        remaining -= len(chunk)
        i += len(chunk)
    console.write(b"\x04")
    reply = console.read_until(b"\x04>")
    # optional pending window grants, then the end-of-data ack, output, end, error, end
    assert reply.lstrip(b"\x01") == b"\x045000\r\n\x04\x04>"


def test_ctrl_c_interrupts_a_loop_in_the_friendly_repl(console):
    console.friendly()
    console.write(b"while True: pass\r\r")
    console.read_until(b"... ")
    console.drain(0.3)
    console.write(b"\x03")
    out = console.read_until(b">>> ")
    assert b"KeyboardInterrupt" in out


def test_ctrl_c_interrupts_code_sent_in_raw_paste(board, console):
    console.raw()
    console.write(b"\x05A\x01")
    assert console.serial.read(2) == b"R\x01"
    console.serial.read(2)
    console.write(b"print('started')\nwhile True:\n  pass\n\x04")
    console.read_until(b"started\r\n")
    console.write(b"\x03")
    err = console.read_until(b"\x04>")
    assert b"KeyboardInterrupt" in err
    out, _ = console.raw_exec("print('still alive')")
    assert out == b"still alive\r\n"


def test_two_quick_ctrl_c_reach_a_program_that_catches_the_first(console):
    # mpremote-style tools send Ctrl-C twice: the board spaces them (the program must have
    # time to handle the first), but neither is dropped, even for a program that never waits.
    console.raw()
    console.write(b"try:\n while True: pass\nexcept KeyboardInterrupt:\n print('caught once')\n"
                  b" while True: pass\n\x04")
    console.read_until(b"OK")
    console.drain(0.2)
    console.write(b"\x03\x03")
    out = console.read_until(b"\x04>")
    assert out.startswith(b"caught once\r\n\x04") and b"KeyboardInterrupt" in out
    assert b"hard reset" not in out
    assert console.raw_exec("print('alive')") == (b"alive\r\n", b"")


def test_ctrl_c_never_lands_inside_the_garbage_collector(console):
    # The unix port raises KeyboardInterrupt from its SIGINT handler wherever the interpreter
    # is: inside a collection it leaves the heap locked ("MemoryError: heap is locked") or the
    # interpreter dead. A board raises it between bytecodes; the virtual board delivers a
    # Ctrl-C while the program waits, as this one (and the firmware's kernel) does now and
    # then, between long stretches of collecting.
    console.raw()
    console.write(b"import gc, time\nlive = [bytearray(16) for _ in range(1000)]\ncaught = 0\n"
                  b"while caught < 6:\n try:\n  while True:\n"
                  b"   for _ in range(200):\n    gc.collect()\n   time.sleep_ms(1)\n"
                  b" except KeyboardInterrupt:\n  caught += 1\n  print('caught', caught)\n"
                  b"print('done', len(live))\n\x04")
    console.read_until(b"OK")
    console.drain(0.2)
    for _ in range(6):
        console.write(b"\x03")
        console.read_until(b"caught")
    out = console.read_until(b"\x04>")
    assert b"done 1000\r\n\x04\x04>" in out and b"Error" not in out
    assert console.raw_exec("print('alive')") == (b"alive\r\n", b"")


def test_soft_reset_runs_boot_then_main_in_the_friendly_repl(board, console):
    mpremote(board.port, "exec",
             "open('boot.py','w').write('print(\"boot ran\")\\nBOOTED=1\\n')\n"
             "open('main.py','w').write('print(\"main ran\", BOOTED)\\n')")
    try:
        console.friendly()
        console.write(b"gone = 1\r")
        console.read_until(b">>> ")
        console.write(b"\x04")
        out = console.read_until(b">>> ")
        assert b"MPY: soft reboot\r\nboot ran\r\nmain ran 1\r\nMicroPython" in out
        console.write(b"'gone' in globals()\r")   # a fresh interpreter: REPL state is gone
        assert b"False" in console.read_until(b">>> ")
        # in the raw REPL a soft reset runs boot.py only, as mpremote expects
        console.raw()
        console.write(b"\x04")
        out = console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        assert out == b"OK\r\nMPY: soft reboot\r\nboot ran\r\nraw REPL; CTRL-B to exit\r\n>"
    finally:
        mpremote(board.port, "exec", "import os\nos.remove('boot.py')\nos.remove('main.py')")


def test_sys_exit_and_machine_soft_reset_are_soft_resets(console):
    console.raw()
    console.raw_exec("import builtins\nbuiltins.marker = 1")
    console.write(b"import machine\nmachine.soft_reset()\x04")
    out = console.read_until(b"raw REPL; CTRL-B to exit\r\n>")
    assert out.startswith(b"OK\x04\x04MPY: soft reboot\r\n")
    out, err = console.raw_exec("import builtins\nprint(hasattr(builtins, 'marker'))")
    assert out == b"False\r\n"
    console.friendly()
    console.write(b"import sys; sys.exit()\r")
    out = console.read_until(b">>> ")
    assert b"MPY: soft reboot\r\n" in out


def test_ctrl_c_interrupts_a_running_main_py_for_mpremote(board, console):
    mpremote(board.port, "exec", "open('main.py','w').write('import time\\nwhile True:\\n time.sleep_ms(5)\\n')")
    try:
        console.friendly()
        console.write(b"\x04")     # soft reset: main.py now runs forever
        console.read_until(b"MPY: soft reboot\r\n")
        console.close()
        # `resume` makes mpremote interrupt the program without a soft reset
        proc = mpremote(board.port, "resume", "exec", "print('interrupted main')", timeout=20)
        assert b"interrupted main" in proc.stdout
    finally:
        mpremote(board.port, "exec", "import os\nos.remove('main.py')")
