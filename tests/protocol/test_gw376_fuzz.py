"""Bad input to the 1376.1 codec: only ProtocolError, never another exception or a hang.

Mutated frames get a fresh L and CS so the mutation reaches the unit decoders instead of being
stopped by the checksum.
"""
from hypothesis import HealthCheck, given, settings, strategies as st

import gw376_checks
import gw376_strategies as strat
from protocol import gw376
from protocol.errors import ProtocolError

CAPTURED = [gw376_checks.unhex(h) for h in gw376_checks.vectors.CAPTURED.values()]


def parse_or_protocol_error(raw):
    try:
        frame = gw376.parse(raw)
    except ProtocolError as err:
        assert isinstance(err.reason, str) and err.reason
        assert err.offset is None or 0 <= err.offset <= len(raw)
        return None
    # whatever parses must build again without crashing
    try:
        gw376.build(frame)
    except ProtocolError:
        pass
    return frame


def reframe(user_data):
    """Wrap user data (C .. AUX) in a header with a right L and CS."""
    field = (len(user_data) << 2) | 2
    head = bytes([0x68, field & 0xFF, field >> 8, field & 0xFF, field >> 8, 0x68])
    return head + bytes(user_data) + bytes([sum(user_data) & 0xFF, 0x16])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(raw):
    parse_or_protocol_error(raw)


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=8, max_size=300))
def test_random_user_data_in_a_valid_envelope(user_data):
    parse_or_protocol_error(reframe(user_data))


@st.composite
def mutated(draw):
    if draw(st.booleans()):
        raw = bytearray(draw(st.sampled_from(CAPTURED)))
    else:
        raw = bytearray(gw376.build(draw(strat.frames())))
    user = raw[6:-2]
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.integers(0, 3))
        at = draw(st.integers(0, max(0, len(user) - 1)))
        if action == 0 and user:
            user[at] = draw(st.integers(0, 255))
        elif action == 1 and user:
            del user[at:at + draw(st.integers(1, 8))]
        elif action == 2:
            user[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            user[at:at] = b"\xee" * draw(st.integers(1, 6))
    keep_envelope = draw(st.booleans())
    return reframe(user) if keep_envelope else bytes(raw[:6]) + bytes(user) + bytes(raw[-2:])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_frames(raw):
    parse_or_protocol_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CAPTURED), st.data())
def test_truncated_and_extended_frames(raw, data):
    cut = data.draw(st.integers(0, len(raw) - 1))
    parse_or_protocol_error(raw[:cut])
    parse_or_protocol_error(raw + data.draw(st.binary(min_size=1, max_size=5)))


def test_huge_length_field_does_not_allocate_or_hang():
    # L says 16383 bytes, 10 arrive: a short-frame error, not a 16 KB read
    raw = bytes.fromhex("68 fe ff fe ff 68") + bytes(10)
    assert parse_or_protocol_error(raw) is None


def test_archive_count_larger_than_the_frame_is_an_error():
    # AFN04 F10 claiming 65535 meters in a few bytes must fail before allocating 65535 entries
    frame = gw376.Frame(0x04, [(0, 10, {"meters": []})])
    raw = bytearray(gw376.build(frame))
    raw[18:20] = b"\xff\xff"
    assert parse_or_protocol_error(reframe(raw[6:-2])) is None


junk = st.one_of(st.none(), st.booleans(), st.integers(-300, 2 ** 33), st.text(max_size=8),
                 st.binary(max_size=20), st.floats(), st.lists(st.integers(-5, 300), max_size=7),
                 st.tuples(st.integers(-5, 300), st.integers(-5, 300)))
FIELDS = ("afn", "units", "direction", "prm", "function", "area", "terminal", "group", "master",
          "seq", "fir", "fin", "con", "fcb", "fcv", "acd", "pw", "ec", "tp", "trailing")


@settings(max_examples=300, deadline=None)
@given(strat.frames(), st.sampled_from(FIELDS), junk)
def test_build_with_a_junk_field_is_a_protocol_error_or_a_valid_frame(frame, field, value):
    setattr(frame, field, value)
    try:
        raw = gw376.build(frame)
    except ProtocolError as err:
        assert err.reason
        return
    parse_or_protocol_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0x04, 0x05, 0x0A, 0x0C, 0x0D, 0x0E, 0x10, 0x00, 0x02, 0x09]),
       st.integers(0, 1), st.integers(1, 248), junk)
def test_junk_unit_data_is_a_protocol_error(afn, direction, fn, value):
    frame = gw376.Frame(afn, [(1, fn, value)], direction, 0 if direction else 1)
    if gw376.needs_pw(afn, direction):
        frame.pw = bytes(16)
    try:
        gw376.build(frame)
    except ProtocolError:
        pass
