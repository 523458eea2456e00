"""The ProtocolError contract of the Modbus codec: random and mutated input never raises
anything else (no IndexError, ValueError, struct.error), and a frame that parses is one the
builders would produce again."""
from hypothesis import given, settings, strategies as st

from protocol import modbus
from protocol.errors import ProtocolError


def with_crc(body):
    crc = modbus.crc16(body)
    return bytes(body) + bytes([crc & 0xFF, crc >> 8])


PARSERS = (modbus.parse, modbus.parse_request, modbus.parse_reply)


def only_protocol_errors(frame):
    for parse in PARSERS:
        try:
            parse(frame)
        except ProtocolError as exc:
            assert isinstance(exc.reason, str) and exc.reason
            assert exc.offset is None or 0 <= exc.offset <= max(len(frame), 256)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_random_bytes(frame):
    only_protocol_errors(frame)


@settings(max_examples=400)
@given(st.binary(min_size=2, max_size=260))
def test_random_bodies_with_a_good_crc(body):
    # a right CRC gets past the first check: the structure checks must hold on their own
    frame = with_crc(body)
    only_protocol_errors(frame)
    try:
        message = modbus.parse(frame)
    except ProtocolError:
        return
    assert rebuild(message) == frame


def test_found_by_fuzzing():
    # a 16 reply confirming 0 registers parsed, though no request can write 0 registers
    for body in (b"\x01\x10\x00\x00\x00\x00", b"\x01\x10\xff\xff\x00\x02"):
        only_protocol_errors(with_crc(body))
        try:
            modbus.parse(with_crc(body))
        except ProtocolError as exc:
            assert exc.offset == 4
        else:
            raise AssertionError("accepted %r" % body)


def rebuild(message):
    if message.exception is not None:
        return modbus.exception_reply(message.unit, message.function, message.exception)
    if message.function in (3, 4):
        if message.reply:
            return modbus.read_reply(message.unit, message.function, message.data)
        return modbus.read_request(message.unit, message.function, message.address,
                                   message.count)
    if message.function == 6:
        return modbus.write_single_request(message.unit, message.address, message.registers[0])
    if message.reply:
        return modbus.write_multiple_reply(message.unit, message.address, message.count)
    return modbus.write_multiple_request(message.unit, message.address, message.data)


valid = st.one_of(
    st.builds(modbus.read_request, st.integers(1, 247), st.sampled_from([3, 4]),
              st.integers(0, 0xFF00), st.integers(1, 125)),
    st.builds(modbus.read_reply, st.integers(1, 247), st.sampled_from([3, 4]),
              st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125)),
    st.builds(modbus.write_multiple_request, st.integers(0, 247), st.integers(0, 0xFF00),
              st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=123)),
    st.builds(modbus.exception_reply, st.integers(1, 247), st.integers(1, 127),
              st.integers(1, 255)),
)


@settings(max_examples=400)
@given(valid, st.data())
def test_mutated_frames(frame, data):
    frame = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "grow", "fix_crc"]))
        if action == "flip" and frame:
            i = data.draw(st.integers(0, len(frame) - 1))
            frame[i] = data.draw(st.integers(0, 255))
        elif action == "cut" and frame:
            del frame[data.draw(st.integers(0, len(frame) - 1)):]
        elif action == "grow":
            frame += data.draw(st.binary(min_size=1, max_size=8))
        elif action == "fix_crc" and len(frame) > 2:
            frame = bytearray(with_crc(frame[:-2]))
    only_protocol_errors(bytes(frame))


@settings(max_examples=300)
@given(st.binary(max_size=12), st.integers(-4, 14),
       st.sampled_from(["u16", "s16", "u32", "s32", "float32", "f64"]), st.integers(-3, 6))
def test_register_values(data, offset, kind, exp10):
    for call in (lambda: modbus.decode_value(data, offset, kind),
                 lambda: modbus.decode_scaled(data, offset, kind, exp10)):
        try:
            call()
        except ProtocolError:
            pass
