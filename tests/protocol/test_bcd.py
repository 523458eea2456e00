import pytest
from hypothesis import given, strategies as st

from protocol import bcd
from protocol.errors import ProtocolError


def test_energy_reading_lsb_first():
    # 000006.78 kWh as DL/T 645 sends it after removing 0x33: 78 06 00 00
    assert bcd.decode(bytes.fromhex("78060000")) == 678
    assert bcd.encode(678, 4) == bytes.fromhex("78060000")


def test_signed_value_sign_in_msb():
    assert bcd.decode(bytes.fromhex("345612"), signed=True) == 125634
    assert bcd.decode(bytes.fromhex("345692"), signed=True) == -125634


@given(st.integers(min_value=0, max_value=10**8 - 1))
def test_unsigned_round_trip(value):
    assert bcd.decode(bcd.encode(value, 4)) == value


@given(st.integers(min_value=-(8 * 10**5 - 1), max_value=8 * 10**5 - 1))
def test_signed_round_trip(value):
    assert bcd.decode(bcd.encode(value, 3, signed=True), signed=True) == value


def test_bad_nibble_names_the_byte():
    with pytest.raises(ProtocolError) as err:
        bcd.decode(bytes.fromhex("12A4"), 0, 2)
    assert err.value.offset == 1


def test_overflow_and_negative_unsigned_rejected():
    with pytest.raises(ProtocolError):
        bcd.encode(100, 1)
    with pytest.raises(ProtocolError):
        bcd.encode(-1, 2)
    with pytest.raises(ProtocolError):
        bcd.encode(800000, 3, signed=True)


def test_no_data_marker():
    assert bcd.is_no_data(b"\xee\xee\xee")
    assert not bcd.is_no_data(b"\xee\x00")
