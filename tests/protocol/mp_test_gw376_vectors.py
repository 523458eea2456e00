# The captured 1376.1 frames decode to the right fields under the real MicroPython, from the
# mpy-cross compiled package (vectors: tests/protocol/gw376_vectors.py).
from mp_support import eq, raises
import gw376_checks
from protocol import gw376
from protocol.errors import ProtocolError


def test_every_captured_frame_decodes():
    for name in gw376_checks.all_vector_names():
        gw376_checks.check_vector(name)


def test_runs_from_mpy():
    assert gw376.__file__.endswith(".mpy"), gw376.__file__


def test_login_confirm_round_trip():
    login = gw376.parse(gw376_checks.unhex(gw376_checks.vectors.CAPTURED["login"]))
    answer = gw376.confirm(login)
    eq(gw376.build(answer), gw376_checks.unhex("683200320068 0b 7101220800 00 68 00000100 1016"),
       "master answer to login")


def test_bad_checksum_is_protocol_error():
    raw = bytearray(gw376_checks.unhex(gw376_checks.vectors.CAPTURED["heartBeat"]))
    raw[-2] ^= 1
    err = raises(ProtocolError, gw376.parse, bytes(raw))
    eq(err.offset, len(raw) - 2, "offset")


def test_mutated_vectors_raise_protocol_error_only():
    # The same contract as the CPython fuzz tests, on the compiled board code: any single-byte
    # change to a captured frame (L and CS fixed up so the change reaches the unit decoders)
    # parses or raises ProtocolError, nothing else.
    import random
    random.seed(1376)
    for name in gw376_checks.all_vector_names():
        good = gw376_checks.unhex(gw376_checks.vectors.CAPTURED[name])
        for _ in range(40):
            raw = bytearray(good)
            at = 6 + random.getrandbits(16) % (len(raw) - 8)
            raw[at] = random.getrandbits(8)
            raw[-2] = sum(raw[6:-2]) & 0xFF
            try:
                gw376.parse(bytes(raw))
            except ProtocolError:
                pass
