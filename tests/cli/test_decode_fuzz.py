"""`conc decode` on random and mutated input: a decoded frame or a DecodeError, nothing else.

A traceback instead of a one-line reason is a bug for a field engineer, wherever it starts.
"""
from hypothesis import given, settings, strategies as st

from host_tools import decoding

# whole frames of each protocol (sources as in tests/cli/test_decode.py)
SEEDS = [bytes.fromhex(h) for h in (
    "6861100130121568910833333433ab3933334916",
    "68611001301215681c10356a3935343333334d333333336345cc2c16",
    "6856341200000068810643c3ab896745d916",
    "683200320068c97101220800027900000400e416",
    "684a004a00684b71012208020ce2010101100239191628007c16",
    "68c600c600688871012208020ca2010101101816280818040001000000eeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    "eeeeeeeeeeee0239191628008c16",
    "010404436680006fdf",
    "11100001000204000a0102c6f0",
)]


def decode_all(data, protocol=None, skip_noise=False):
    try:
        found = decoding.split_frames(data, protocol, skip_noise)
    except decoding.DecodeError as exc:
        assert 0 <= exc.offset <= len(data) and exc.reason
        found = exc.found
    for index, frame in enumerate(found):
        decoding.render(decoding.describe(frame, index))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([None, "dlt645", "gw376", "modbus"]),
       st.booleans())
def test_random_bytes(data, protocol, skip_noise):
    decode_all(data, protocol, skip_noise)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_frames(seed, data):
    frame = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):          # repair the checksum so the body gets parsed
        if frame[0] == 0x68 and frame[-1] == 0x16 and len(frame) > 8:
            head = 6 if frame[5] == 0x68 and frame[1:3] == frame[3:5] else 0
            frame[-2] = sum(frame[head:-2]) & 0xFF
        else:
            from protocol import modbus
            crc = modbus.crc16(frame, 0, len(frame) - 2)
            frame[-2:] = bytes([crc & 0xFF, crc >> 8])
    decode_all(bytes(frame))
    decode_all(bytes(frame), skip_noise=True)
