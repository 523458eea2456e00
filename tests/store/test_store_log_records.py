"""Reading-batch encoding (firmware/log_records.py) on CPython: exact round trips for any integer,
the fast and the careful encoder paths agree, and a batch that does not fit is refused."""
import pytest

from protocol.errors import ProtocolError
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import log_records

item_ids = st.integers(min_value=0, max_value=0x3FFF)
values = st.one_of(st.none(), st.integers(min_value=-(2 ** 80), max_value=2 ** 80))


def encode(items, vals, size=256, at=16):
    buf = bytearray(size)
    end = log_records.pack_readings(buf, at, items, vals)
    return bytes(buf[at:end])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(item_ids, values), max_size=20))
def test_any_batch_round_trips_exactly(pairs):
    items = [p[0] for p in pairs]
    vals = [p[1] for p in pairs]
    try:
        payload = encode(items, vals, size=4096)
    except ValueError:
        pytest.skip("does not fit")
    assert log_records.unpack_readings(payload) == pairs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(item_ids, values), min_size=1, max_size=40))
def test_fast_path_and_careful_path_write_the_same_bytes(pairs):
    items = [p[0] for p in pairs]
    vals = [p[1] for p in pairs]
    try:
        fast = encode(items, vals, size=4096)
    except ValueError:
        return
    careful = bytearray(4096)
    end = log_records._pack_tail(careful, 0, items, vals, 0, len(items))
    assert bytes(careful[:end]) == fast


def test_known_encoding():
    # item 0 = 12345678 (zig-zag 24691356), item 3 = -1, item 70 = no data
    assert encode([0, 3, 70], [12345678, -1, None]) == bytes.fromhex("00 9c 85 e3 0b 06 01 8d 01")


def test_typical_batch_is_compact():
    vals = [12345678, 3012345, 4023456, 2987654, 2321223, 1523, 2201, 2198, 2205, 5123, 4980,
            5301, 11345, 987, 10871]
    payload = encode(list(range(15)), vals)
    assert len(payload) <= 60, len(payload)   # + 16-byte record header: < 5.2 bytes a reading


def test_a_batch_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        encode(list(range(60)), [10 ** 12] * 60)


def test_bad_item_ids_are_refused():
    with pytest.raises(ValueError, match="item id"):
        encode([0x4000], [1])
    with pytest.raises(ValueError, match="item id"):
        encode([-1], [1])


def test_truncated_payload_is_reported():
    with pytest.raises(ProtocolError, match="truncated"):
        log_records.unpack_readings(b"\x00\x9c")
