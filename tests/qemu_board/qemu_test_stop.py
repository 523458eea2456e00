# The firmware's stop on the board (firmware/concentrator.py Concentrator.run, stopped(),
# hal/interrupts.py) with Ctrl-C placed at exact points: mps2.ctrl_c() does what the REPL UART's
# receive interrupt does with a Ctrl-C byte, at the instant it is called. `conc` sends Ctrl-C
# twice and the second one arrives whenever the host gets to it (issue 16): these tests put it
# where it cost the stop marker. Board only (mps2, kbd_intr): named so that tests/conftest.py does
# not run it on the unix port; tests/qemu_board/test_stop_on_the_board.py runs it on the board.
import mps2

from mp_support import eq
from firmware import concentrator as conc
from firmware.hal import interrupts
from firmware.hal.norflash import NorFlash
from firmware.ringlog import MARKER, READINGS, RingLog
from firmware import log_records
from protocol import clock_math

T0 = clock_math.to_seconds(2026, 11, 25, 10, 0, 0)


class _Wall:
    def now(self):
        return T0


def _jump(n=1):
    # a loop: its jumps are where MicroPython raises a pending KeyboardInterrupt
    for _ in range(n):
        pass


def _running_board():
    """A concentrator whose boot has logged what ended the previous run, with a reading last."""
    dev = NorFlash(block_size=4096, block_count=4)
    c = conc.Concentrator()
    c.dev = dev
    c.log = RingLog(dev, create=True)
    c.wall = _Wall()
    c.boot_recorded = True
    log_records.append_readings(c.log, 3, T0, [1], [12345])
    return c


def _stop(c, boot):
    """c.run(boot) as main.py runs it; the KeyboardInterrupt must come out of it."""
    try:
        c.run(boot)
    except KeyboardInterrupt:
        return
    raise AssertionError("run() ended without the KeyboardInterrupt")


def _newest(c):
    seq, rtype, point, ts, payload = RingLog(c.dev).latest()     # as the next boot mounts it
    return rtype, payload[0] if rtype == MARKER else point


def test_one_ctrl_c_leaves_the_stop_marker_last():
    c = _running_board()

    def boot(c):
        mps2.ctrl_c()
        _jump()

    _stop(c, boot)
    eq(_newest(c), (MARKER, conc.MARK_STOPPED), "the newest record")


def test_a_second_ctrl_c_while_the_first_leaves_still_leaves_the_stop_marker_last():
    # The second Ctrl-C is pending when the first reaches Concentrator.run: before the fix the
    # type test of its `except KeyboardInterrupt` raised it, out of the handler, no marker.
    c = _running_board()

    def boot(c):
        try:
            mps2.ctrl_c()
            _jump()             # the first Ctrl-C raised here
        finally:
            mps2.ctrl_c()       # the second arrives while the first is on its way out

    _stop(c, boot)
    eq(_newest(c), (MARKER, conc.MARK_STOPPED), "the newest record")
    eq(len([r for r in RingLog(c.dev).records(0, rtype=MARKER)]), 1, "stop markers")


def test_a_ctrl_c_inside_a_log_write_and_one_after_leave_a_whole_log_with_the_marker_last():
    c = _running_board()

    def boot(c):
        try:
            mps2.ctrl_c()
            log_records.append_readings(c.log, 4, T0, [1], [54321])    # raised at its first jump
            _jump()
        finally:
            mps2.ctrl_c()

    _stop(c, boot)
    kinds = [(r[1], r[2]) for r in RingLog(c.dev).records(0)]
    eq(kinds[0], (READINGS, 3), "the reading before")
    eq(kinds[-1], (MARKER, 0), "the newest record")
    eq(RingLog(c.dev).latest()[4][0], conc.MARK_STOPPED, "the marker's code")


def test_hold_takes_a_ctrl_c_that_came_before_it_and_holds_off_the_next():
    mps2.ctrl_c()
    try:
        interrupts.hold()
        _jump(3)
        mps2.ctrl_c()           # held off: an ordinary character
        _jump(3)
    except KeyboardInterrupt:
        raise AssertionError("a KeyboardInterrupt came through hold()") from None
    finally:
        interrupts.release()
    try:
        mps2.ctrl_c()
        _jump(3)
    except KeyboardInterrupt:
        return
    raise AssertionError("Ctrl-C still held off after release()")
