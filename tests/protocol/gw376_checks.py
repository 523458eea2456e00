# Checks shared by the CPython and MicroPython tests of protocol.gw376 (MicroPython subset).
import binascii

import gw376_vectors as vectors
from protocol import gw376
from protocol.gw376_units import Unknown


def unhex(text):
    return binascii.unhexlify(text.replace(" ", ""))


def check_vector(name):
    """Parse one captured frame; compare every expected field; return the Frame."""
    raw = unhex(vectors.CAPTURED[name])
    frame = gw376.parse(raw)
    for attribute, expected in vectors.EXPECTED.get(name, {}).items():
        actual = getattr(frame, attribute)
        if actual != expected:
            raise AssertionError("%s.%s: expected %r, got %r" % (name, attribute, expected,
                                                                 actual))
    if name in vectors.UNKNOWN_UNITS:
        pn, fn, raw_hex = vectors.UNKNOWN_UNITS[name]
        if frame.units != [(pn, fn, Unknown(unhex(raw_hex)))]:
            raise AssertionError("%s: unknown unit not kept raw: %r" % (name, frame.units))
    if name in vectors.NON_STANDARD:
        if not frame.notes:
            raise AssertionError("%s: non-standard frame without a note" % name)
    elif frame.notes:
        raise AssertionError("%s: standard frame with notes %r" % (name, frame.notes))
    rebuilt = gw376.build(frame)
    if name in vectors.NOT_BYTE_EXACT:
        again = gw376.parse(rebuilt)
        if again.units != frame.units:
            raise AssertionError("%s: rebuilt frame decodes differently" % name)
    elif rebuilt != raw:
        raise AssertionError("%s: rebuilt %s" % (name, binascii.hexlify(rebuilt)))
    return frame


def all_vector_names():
    return sorted(vectors.CAPTURED)
