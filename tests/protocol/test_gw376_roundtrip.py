"""Hypothesis round trips: every data format, every data unit codec, whole frames."""
import pytest
from hypothesis import given, settings, strategies as st

import gw376_strategies as strat
from protocol import gw376
from protocol import gw376_formats as formats
from protocol import gw376_units as units
from protocol.errors import ProtocolError

ALL_FORMATS = sorted(formats.LENGTH)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_format_round_trip(fmt, data):
    value = data.draw(strat.format_value(fmt))
    raw = formats.encode(fmt, value)
    assert len(raw) == formats.LENGTH[fmt]
    assert formats.decode(fmt, raw) == value


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_all_ee_is_no_data(fmt):
    assert formats.decode(fmt, b"\xee" * formats.LENGTH[fmt]) is None
    assert formats.encode(fmt, None) == b"\xee" * formats.LENGTH[fmt]


def test_format_examples_from_the_standard():
    assert formats.decode(1, bytes.fromhex("59 23 16 28 48 18")) == (2018, 8, 28, 16, 23, 59, 2)
    assert formats.decode(5, bytes.fromhex("01 82")) == -201          # -20.1
    assert formats.decode(7, bytes.fromhex("27 24")) == 2427          # 242.7 V
    assert formats.decode(9, bytes.fromhex("56 34 92")) == -123456     # -12.3456 kW
    assert formats.decode(11, bytes.fromhex("78 56 34 12")) == 12345678
    assert formats.decode(14, bytes.fromhex("90 78 56 34 12")) == 1234567890
    assert formats.decode(15, bytes.fromhex("18 16 28 08 18")) == (2018, 8, 28, 16, 18)
    assert formats.decode(20, bytes.fromhex("27 08 18")) == (2018, 8, 27)
    assert formats.decode(21, bytes.fromhex("07 18")) == (2018, 7)
    assert formats.decode(25, bytes.fromhex("00 50 81")) == -15000    # -15.000 A
    assert formats.decode(2, bytes.fromhex("23 B1")) == (-123, -1)     # -12.3
    assert formats.to_text(14, 1234567890) == "123456.7890"
    assert formats.to_text(5, -201) == "-20.1"


def test_partly_ee_value_is_no_data():
    # captured AFN0C F34 replies pad a missing energy as 00 EE EE EE EE
    assert formats.decode(14, bytes.fromhex("00eeeeeeee")) is None


def test_bad_bcd_and_short_values_are_protocol_errors():
    with pytest.raises(ProtocolError) as err:
        formats.decode(11, bytes.fromhex("0A000000"))
    assert err.value.offset == 0
    with pytest.raises(ProtocolError):
        formats.decode(14, b"\x00\x00")
    with pytest.raises(ProtocolError):
        formats.encode(7, 10000)            # XXX.X cannot hold 1000.0
    with pytest.raises(ProtocolError):
        formats.encode(5, -8000)            # sign bit would be a digit


def _one_per_codec():
    # Many Fns share one codec entry (e.g. every daily AFN0D request is a format-20 day):
    # test each entry once, through the first Fn that uses it.
    # Entries are compared by value: codec() builds some of them on each call.
    seen, chosen = set(), []
    for afn, fn, direction in units.known_units():
        entry = units.codec(afn, fn, direction)
        if entry not in seen:
            seen.add(entry)
            chosen.append((afn, fn, direction))
    return chosen


@pytest.mark.parametrize("afn,fn,direction", _one_per_codec(), ids=lambda v: str(v))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_unit_round_trip(afn, fn, direction, data):
    value = data.draw(strat.unit_value(afn, fn, direction))
    raw = units.encode(afn, fn, direction, value)
    decoded, end = units.decode(afn, fn, direction, raw, 0, len(raw))
    assert end == len(raw)
    assert decoded == value


@settings(max_examples=300, deadline=None)
@given(strat.frames())
def test_frame_round_trip(frame):
    raw = gw376.build(frame)
    parsed = gw376.parse(raw)
    assert parsed == frame
    assert parsed.notes == []
    assert gw376.build(parsed) == raw


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(strat.point, st.sampled_from([2, 25, 33, 34] + list(range(129, 137)))),
                max_size=20))
def test_grouped_units_expand_back_in_order(pairs):
    # AFN0C requests: units without data, so any mix of points and classes is a valid frame
    frame = gw376.Frame(0x0C, [(pn, fn, None) for pn, fn in pairs])
    assert [(pn, fn) for pn, fn, _ in gw376.parse(gw376.build(frame)).units] == pairs
