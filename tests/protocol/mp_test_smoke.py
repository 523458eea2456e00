# Smoke test of the MicroPython harness itself: the compiled package imports on the board.
from mp_support import raises, eq
from protocol.errors import ProtocolError
from protocol import compat


def test_protocol_error_carries_reason_and_offset():
    err = raises(ProtocolError, _fail)
    eq(err.reason, "bad checksum", "reason")
    eq(err.offset, 7, "offset")
    eq(str(err), "bad checksum (at byte 7)", "str")


def test_runs_on_micropython_from_mpy():
    import protocol.errors
    assert compat.MICROPYTHON
    assert protocol.errors.__file__.endswith(".mpy"), protocol.errors.__file__


def _fail():
    raise ProtocolError("bad checksum", 7)
