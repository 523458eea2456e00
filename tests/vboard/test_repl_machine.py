"""The REPL state machine on its own, with a fake agent: the orderings that are hard to hit
through a live pty (Ctrl-C before the interpreter is ready, input typed while code runs)."""
from host_tools.vboard.agent_process import BOOT, EXEC_RAW, EXEC_SINGLE
from host_tools.vboard.repl import RAW_PASTE_WINDOW, ReplMachine, needs_more_input


class FakeBoard:
    def __init__(self):
        self.output = b""
        self.executed = []
        self.interrupts = 0
        self.resets = 0

    def out(self, data):
        self.output += data

    def execute(self, kind, source):
        self.executed.append((kind, source))

    def interrupt(self):
        self.interrupts += 1
        return True

    def soft_reset(self):
        self.resets += 1


def booted():
    board = FakeBoard()
    repl = ReplMachine(board)
    repl.agent_ready("MicroPython test")
    repl.agent_running()
    repl.agent_done(b"0", b"")
    board.output = b""
    board.executed.clear()
    return board, repl


def test_continuation_rules():
    assert needs_more_input("def f():")
    assert needs_more_input("while True: pass")
    assert needs_more_input("x = (1,")
    assert needs_more_input('s = """abc')
    assert needs_more_input("def f():\n    return 1")
    assert not needs_more_input("def f():\n    return 1\n")
    assert not needs_more_input("x = ')'  # (")
    assert not needs_more_input("print('a:')")


def test_ctrl_c_before_the_interpreter_is_ready_is_held_until_code_runs():
    board = FakeBoard()
    repl = ReplMachine(board)
    repl.feed(b"\r\x03\r\x01")
    assert board.interrupts == 0
    repl.agent_ready("MicroPython test")
    assert board.executed == [(BOOT, b"1")] and board.interrupts == 0
    repl.agent_running()
    assert board.interrupts == 1
    repl.agent_done(b"0", b"")
    # the bytes typed after the Ctrl-C are read by the REPL once main.py has stopped
    assert board.output.endswith(b"\r\nraw REPL; CTRL-B to exit\r\n>")


def test_input_typed_while_code_runs_waits_for_the_repl():
    board, repl = booted()
    repl.feed(b"x = 1\r2+2\r")
    assert board.executed == [(EXEC_SINGLE, b"x = 1\n")]
    repl.agent_running()
    repl.agent_done(b"0", b"")
    assert board.executed[-1] == (EXEC_SINGLE, b"2+2\n")


def test_raw_repl_empty_ctrl_d_is_a_soft_reset_that_stays_raw():
    board, repl = booted()
    repl.feed(b"\x01\x04")
    assert board.output.endswith(b"OK\r\nMPY: soft reboot\r\n") and board.resets == 1
    repl.agent_ready("MicroPython test")
    assert board.executed[-1] == (BOOT, b"0")     # no main.py in the raw REPL


def test_raw_paste_grants_windows_and_acknowledges_the_end():
    board, repl = booted()
    repl.feed(b"\x01\x05A\x01")
    assert board.output.endswith(b"R\x01" + RAW_PASTE_WINDOW.to_bytes(2, "little"))
    board.output = b""
    repl.feed(b"a" * RAW_PASTE_WINDOW + b"\x04")
    assert board.output == b"\x01\x04"
    assert board.executed[-1] == (EXEC_RAW, b"a" * RAW_PASTE_WINDOW)
    repl.agent_running()
    repl.agent_output(b"out\n")
    repl.agent_done(b"E", b"Traceback\nValueError\n")
    assert board.output.endswith(b"out\r\n\x04Traceback\r\nValueError\r\n\x04>")


def test_friendly_line_editing():
    board, repl = booted()
    repl.feed(b"1+x\x7f1\r")
    assert board.executed[-1] == (EXEC_SINGLE, b"1+1\n")
    assert b"\x08 \x08" in board.output
