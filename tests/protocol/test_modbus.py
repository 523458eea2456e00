"""Modbus RTU codec: published frames, round trips, register values, exact scaling."""
import struct

import pytest
from hypothesis import given, strategies as st

from protocol import modbus
from protocol.errors import ProtocolError

# Published frames. CRCs recomputed with an independent bit-by-bit CRC below.
#  - Modbus over Serial Line spec / Modbus reference guide: read holding 0x006B x3 from unit 17
#    and a reply (02 2B, 00 00, 00 64)
#  - Simply Modbus worked examples (simplymodbus.ca, FC03/04/06/16 pages)
#  - the project brief: read 2 input registers from address 0 of unit 1
SPEC_READ_HOLDING = "11 03 00 6B 00 03 76 87"
SPEC_READ_HOLDING_REPLY = "11 03 06 02 2B 00 00 00 64 C8 BA"
READ_INPUT_0_2 = "01 04 00 00 00 02 71 CB"
SIMPLY_READ_INPUT = "11 04 00 08 00 01 B2 98"
SIMPLY_READ_INPUT_REPLY = "11 04 02 00 0A F8 F4"
SIMPLY_WRITE_SINGLE = "11 06 00 01 00 03 9A 9B"
SIMPLY_WRITE_MULTIPLE = "11 10 00 01 00 02 04 00 0A 01 02 C6 F0"
SIMPLY_WRITE_MULTIPLE_REPLY = "11 10 00 01 00 02 12 98"
SIMPLY_EXCEPTION = "0A 81 02 B0 53"   # unit 10, function 01, illegal data address


def h(text):
    return bytes.fromhex(text)


def bitwise_crc(data):
    """The CRC as the serial line spec describes it, one bit at a time (an independent oracle)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("frame", [
    SPEC_READ_HOLDING, SPEC_READ_HOLDING_REPLY, READ_INPUT_0_2, SIMPLY_READ_INPUT,
    SIMPLY_READ_INPUT_REPLY, SIMPLY_WRITE_SINGLE, SIMPLY_WRITE_MULTIPLE,
    SIMPLY_WRITE_MULTIPLE_REPLY, SIMPLY_EXCEPTION])
def test_published_frames_have_good_crc_low_byte_first(frame):
    raw = h(frame)
    crc = bitwise_crc(raw[:-2])
    assert raw[-2:] == bytes([crc & 0xFF, crc >> 8])
    assert modbus.crc16(raw, 0, len(raw) - 2) == crc
    assert modbus.crc_ok(raw)


def test_builders_reproduce_published_requests():
    assert modbus.read_request(1, 4, 0, 2) == h(READ_INPUT_0_2)
    assert modbus.read_request(0x11, 3, 0x6B, 3) == h(SPEC_READ_HOLDING)
    assert modbus.write_single_request(0x11, 1, 3) == h(SIMPLY_WRITE_SINGLE)
    assert modbus.write_multiple_request(0x11, 1, [0x000A, 0x0102]) == h(SIMPLY_WRITE_MULTIPLE)
    assert modbus.write_multiple_request(0x11, 1, b"\x00\x0a\x01\x02") == h(SIMPLY_WRITE_MULTIPLE)


def test_builders_reproduce_published_replies():
    assert modbus.read_reply(0x11, 3, [0x022B, 0, 0x64]) == h(SPEC_READ_HOLDING_REPLY)
    assert modbus.read_reply(0x11, 4, [10]) == h(SIMPLY_READ_INPUT_REPLY)
    assert modbus.write_multiple_reply(0x11, 1, 2) == h(SIMPLY_WRITE_MULTIPLE_REPLY)
    assert modbus.exception_reply(10, 1, 2) == h(SIMPLY_EXCEPTION)


def test_parse_published_frames():
    req = modbus.parse_request(h(SPEC_READ_HOLDING))
    assert (req.unit, req.function, req.reply, req.address, req.count) == (17, 3, False, 0x6B, 3)
    rep = modbus.parse_reply(h(SPEC_READ_HOLDING_REPLY), request=req)
    assert rep.registers == (0x022B, 0, 0x64) and rep.reply is True
    write = modbus.parse_request(h(SIMPLY_WRITE_MULTIPLE))
    assert (write.address, write.count, write.registers) == (1, 2, (10, 0x102))
    ack = modbus.parse_reply(h(SIMPLY_WRITE_MULTIPLE_REPLY), request=write)
    assert (ack.address, ack.count) == (1, 2)
    exc = modbus.parse_reply(h(SIMPLY_EXCEPTION))
    assert (exc.function, exc.exception, exc.exception_name) == (1, 2, "illegal data address")


def test_parse_guesses_direction_from_shape():
    assert modbus.parse(h(SPEC_READ_HOLDING)).reply is False
    assert modbus.parse(h(SPEC_READ_HOLDING_REPLY)).reply is True
    assert modbus.parse(h(SIMPLY_WRITE_MULTIPLE)).reply is False
    assert modbus.parse(h(SIMPLY_WRITE_MULTIPLE_REPLY)).reply is True
    assert modbus.parse(h(SIMPLY_WRITE_SINGLE)).reply is None      # echo reads the same
    assert modbus.parse(h(SIMPLY_EXCEPTION)).exception == 2


def test_exception_names_cover_the_spec_codes():
    assert [modbus.exception_name(c) for c in (1, 2, 3, 4)] == [
        "illegal function", "illegal data address", "illegal data value",
        "server device failure"]
    assert modbus.exception_name(6) == "server device busy"
    assert modbus.exception_name(0x0B) == "gateway target device failed to respond"
    assert modbus.exception_name(0x42) == "exception code 66"


def with_crc(body):
    crc = bitwise_crc(body)
    return body + bytes([crc & 0xFF, crc >> 8])


@pytest.mark.parametrize("frame,offset,words", [
    (h("01 04 00 00 00 02 71 CA"), 6, "bad CRC"),
    (h("01 04 00"), 3, "at least 4 bytes"),
    (with_crc(h("01 2B 0E 01 00")), 1, "not supported"),        # read device id
    (with_crc(h("01 03 00 00 00 7E")), 4, "outside 1..125"),     # count 126
    (with_crc(h("01 03 05 00 00 00 00 00")), 2, "whole number of registers"),
    (with_crc(h("01 10 00 00 00 02 03 00 00 00")), 6, "does not match"),
    (with_crc(h("01 06 00 01 00 03 00")), 6, "this frame has 9"),  # a stray byte
])
def test_bad_frames_name_the_offset(frame, offset, words):
    with pytest.raises(ProtocolError) as err:
        modbus.parse(frame)
    assert words in err.value.reason
    assert err.value.offset == offset


def test_reply_must_answer_its_request():
    request = modbus.read_request(1, 4, 0, 2)
    with pytest.raises(ProtocolError, match="unit 2"):
        modbus.parse_reply(modbus.read_reply(2, 4, [0, 0]), request=request)
    with pytest.raises(ProtocolError, match="3 registers"):
        modbus.parse_reply(modbus.read_reply(1, 4, [0, 0, 0]), request=request)
    with pytest.raises(ProtocolError, match="function 3"):
        modbus.parse_reply(modbus.read_reply(1, 3, [0, 0]), request=request)
    # an exception reply to the same function answers it
    assert modbus.parse_reply(modbus.exception_reply(1, 4, 2), request=request).exception == 2


def test_builders_refuse_what_cannot_be_sent():
    for call in (lambda: modbus.read_request(0, 3, 0, 1),          # broadcast read
                 lambda: modbus.read_request(1, 3, 0, 126),
                 lambda: modbus.read_request(1, 3, 0xFFFF, 2),     # runs past 0xFFFF
                 lambda: modbus.read_request(248, 3, 0, 1),
                 lambda: modbus.read_request(1, 5, 0, 1),
                 lambda: modbus.write_single_request(1, 0, 0x10000),
                 lambda: modbus.write_multiple_request(1, 0, [0] * 124),
                 lambda: modbus.write_multiple_request(1, 0, b"\x00"),
                 lambda: modbus.exception_reply(1, 3, 0)):
        with pytest.raises(ProtocolError):
            call()
    # broadcast writes are fine
    assert modbus.parse(modbus.write_single_request(0, 1, 2)).unit == 0


def test_reply_length_tells_a_master_when_a_reply_is_whole():
    reply = h(SPEC_READ_HOLDING_REPLY)
    assert [modbus.reply_length(reply, n) for n in (0, 1, 2, 3)] == [0, 0, 0, 11]
    assert modbus.reply_length(h(SIMPLY_EXCEPTION), 2) == 5
    assert modbus.reply_length(h(SIMPLY_WRITE_MULTIPLE_REPLY), 2) == 8


units = st.integers(1, 247)
addresses = st.integers(0, 0xFFFF)
words = st.integers(0, 0xFFFF)


@given(units, st.sampled_from([3, 4]), addresses, st.integers(1, 125))
def test_read_request_round_trip(unit, function, address, count):
    if address + count > 0x10000:
        address = 0x10000 - count
    msg = modbus.parse_request(modbus.read_request(unit, function, address, count))
    assert (msg.unit, msg.function, msg.address, msg.count) == (unit, function, address, count)


@given(units, st.sampled_from([3, 4]), st.lists(words, min_size=1, max_size=125))
def test_read_reply_round_trip(unit, function, values):
    msg = modbus.parse_reply(modbus.read_reply(unit, function, values))
    assert msg.registers == tuple(values)
    assert msg.count == len(values)


@given(st.integers(0, 247), st.integers(0, 0xFF00), st.lists(words, min_size=1, max_size=123))
def test_write_round_trips(unit, address, values):
    request = modbus.write_multiple_request(unit, address, values)
    msg = modbus.parse_request(request)
    assert (msg.unit, msg.address, msg.registers) == (unit, address, tuple(values))
    reply = modbus.parse_reply(modbus.write_multiple_reply(unit or 1, address, len(values)))
    assert (reply.address, reply.count) == (address, len(values))
    single = modbus.parse(modbus.write_single_request(unit, address, values[0]))
    assert (single.address, single.registers) == (address, (values[0],))


@given(units, st.integers(1, 127), st.integers(1, 255))
def test_exception_round_trip(unit, function, code):
    msg = modbus.parse_reply(modbus.exception_reply(unit, function, code))
    assert (msg.unit, msg.function, msg.exception) == (unit, function, code)


# --- register values -------------------------------------------------------------------------

def test_eastron_style_float32_in_two_big_endian_registers():
    # 230.5 V as an SDM meter sends it: 43 66 80 00, high word first
    data = h("43 66 80 00")
    assert modbus.decode_value(data, 0, "float32") == 230.5
    assert modbus.decode_scaled(data, 0, "float32", 1) == 2305
    assert modbus.encode_value(230.5, "float32") == data


def test_integer_types():
    data = h("FF FE 00 01 80 00 00 00")
    assert modbus.decode_value(data, 0, "s16") == -2
    assert modbus.decode_value(data, 0, "u16") == 0xFFFE
    assert modbus.decode_value(data, 0, "u32") == 0xFFFE0001
    assert modbus.decode_value(data, 0, "s32") == -0x1FFFF
    assert modbus.decode_value(data, 4, "s32") == -0x80000000
    assert modbus.decode_scaled(h("00 00 30 39"), 0, "u32", -1) == 1234      # 1234.5 -> even
    assert modbus.decode_scaled(h("00 00 30 3A"), 0, "u32", -1) == 1235      # 1234.6
    with pytest.raises(ProtocolError):
        modbus.decode_value(data, 6, "u32")                                  # runs past the end
    with pytest.raises(ProtocolError):
        modbus.decode_value(data, 0, "f64")


def test_nan_and_infinity_are_not_readings():
    for raw in ("7F C0 00 00", "7F 80 00 00", "FF 80 00 00"):
        with pytest.raises(ProtocolError):
            modbus.decode_scaled(h(raw), 0, "float32", 2)


def test_scaled_energy_is_exact_where_float_arithmetic_is_not():
    # 0.145 kWh as float32 is 0.14499999582767487: x100 in float32 arithmetic would round up
    # on some boards; the exact conversion gives 14 (and 0.125 exactly is a tie -> 12, even).
    assert modbus.decode_scaled(struct.pack(">f", 0.145), 0, "float32", 2) == 14
    assert modbus.decode_scaled(struct.pack(">f", 0.125), 0, "float32", 2) == 12
    assert modbus.decode_scaled(struct.pack(">f", -1.5), 0, "float32", 0) == -2
    # subnormal and huge values
    assert modbus.decode_scaled(h("00 00 00 01"), 0, "float32", 2) == 0
    assert modbus.decode_scaled(struct.pack(">f", 3e38), 0, "float32", 0) == int(
        struct.unpack(">f", struct.pack(">f", 3e38))[0])


@given(st.floats(width=32, allow_nan=False, allow_infinity=False), st.integers(-4, 6))
def test_scaled_float32_matches_exact_rational_arithmetic(value, exp10):
    from fractions import Fraction
    data = struct.pack(">f", value)
    exact = Fraction(value) * Fraction(10) ** exp10
    assert modbus.decode_scaled(data, 0, "float32", exp10) == round(exact)   # ties to even


@given(st.integers(-(10 ** 6), 10 ** 6), st.integers(0, 3))
def test_encode_scaled_round_trip_for_meter_sized_values(scaled, exp10):
    # float32 carries 7 significant digits: a meter reading to that precision survives
    if abs(scaled) >= 2 ** 24:
        return
    data = modbus.encode_scaled(scaled, "float32", exp10)
    assert modbus.decode_scaled(data, 0, "float32", exp10) == scaled


@given(st.sampled_from(["u16", "s16", "u32", "s32"]), st.data())
def test_integer_value_round_trip(kind, data):
    bits = 16 * modbus.TYPE_REGISTERS[kind]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind[0] == "s" else (
        0, (1 << bits) - 1)
    value = data.draw(st.integers(low, high))
    assert modbus.decode_value(modbus.encode_value(value, kind), 0, kind) == value
    with pytest.raises(ProtocolError):
        modbus.encode_value(high + 1, kind)
