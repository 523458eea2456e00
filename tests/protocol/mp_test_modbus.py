# Modbus RTU under the real MicroPython interpreter, from the mpy-cross compiled package.
# Vectors as in tests/protocol/test_modbus.py (Modbus serial line spec, Simply Modbus, brief).
import micropython

from mp_support import eq, raises, unhex
from protocol import modbus
from protocol.errors import ProtocolError
from protocol.modbus_map import load_map

SPEC_READ_HOLDING = "11 03 00 6B 00 03 76 87"
SPEC_READ_HOLDING_REPLY = "11 03 06 02 2B 00 00 00 64 C8 BA"
READ_INPUT_0_2 = "01 04 00 00 00 02 71 CB"
SIMPLY_WRITE_MULTIPLE = "11 10 00 01 00 02 04 00 0A 01 02 C6 F0"
SIMPLY_EXCEPTION = "0A 81 02 B0 53"


def test_published_frames_build_and_parse():
    eq(modbus.read_request(1, 4, 0, 2), unhex(READ_INPUT_0_2), "read input")
    eq(modbus.read_request(0x11, 3, 0x6B, 3), unhex(SPEC_READ_HOLDING), "read holding")
    eq(modbus.write_multiple_request(0x11, 1, [10, 0x102]), unhex(SIMPLY_WRITE_MULTIPLE), "16")
    eq(modbus.exception_reply(10, 1, 2), unhex(SIMPLY_EXCEPTION), "exception")
    req = modbus.parse(unhex(SPEC_READ_HOLDING))
    eq((req.unit, req.function, req.address, req.count, req.reply), (17, 3, 0x6B, 3, False), "")
    rep = modbus.parse_reply(unhex(SPEC_READ_HOLDING_REPLY), request=req)
    eq(rep.registers, (0x022B, 0, 0x64), "registers")
    exc = modbus.parse(unhex(SIMPLY_EXCEPTION))
    eq(exc.exception_name, "illegal data address", "exception name")


def test_bad_frames_raise_protocol_error_only():
    err = raises(ProtocolError, modbus.parse, unhex("01 04 00 00 00 02 71 CA"))
    eq(err.offset, 6, "bad CRC offset")
    for junk in (b"", b"\x01", b"\x01\x03\x00", bytes(range(40)), b"\xff" * 300):
        raises(ProtocolError, modbus.parse, junk)


def test_float32_and_exact_scaling():
    data = unhex("43 66 80 00")               # 230.5 V
    eq(modbus.decode_value(data, 0, "float32"), 230.5, "float")
    eq(modbus.decode_scaled(data, 0, "float32", 1), 2305, "scaled")
    # 0.145 kWh is 0.14499999582767487 as float32: exactly 14 hundredths, on any float size
    eq(modbus.decode_scaled(modbus.encode_value(0.145, "float32"), 0, "float32", 2), 14, "")
    eq(modbus.decode_scaled(unhex("46 40 E6 AE"), 0, "float32", 2), 1234567, "12345.67 kWh")
    eq(modbus.decode_value(unhex("FF FE"), 0, "s16"), -2, "s16")
    raises(ProtocolError, modbus.decode_scaled, unhex("7F C0 00 00"), 0, "float32", 2)


def test_map_loads_beside_the_compiled_module():
    sdm630 = load_map("sdm630")
    plan = sdm630.read_plan(["voltage_a", "voltage_b", "energy_fwd_total"])
    eq([(b.function, b.start, b.count) for b in plan], [(4, 0, 4), (4, 0x48, 2)], "plan")
    reply = modbus.parse_reply(modbus.read_reply(1, 4, unhex("43 66 80 00 43 67 00 00")))
    eq(plan[0].decode(reply), [("voltage_a", 2305), ("voltage_b", 2310)], "values")


def test_framer_allocates_nothing_in_steady_state():
    framer = modbus.RtuFramer(9600)
    request = modbus.read_request(1, 4, 0, 2)
    reply = modbus.read_reply(1, 4, [0x4366, 0x8000])
    rx = bytearray(64)
    rx[0:len(reply)] = reply
    silence = modbus.silence_us(9600)
    got = [0, 0]
    # warm up, then run the hot loop with the heap locked: any allocation raises MemoryError
    framer.feed(request, 0)
    framer.poll(silence)
    t = 100000
    micropython.heap_lock()
    try:
        for _ in range(50):
            framer.feed(request, t)
            framer.feed(request, t + 10)          # whole chunk, slice copy path
            t += 20000
            framer.feed(rx, t, 3)                 # readinto buffer, byte loop path
            framer.feed(rx, t + 500, 3)
            t += 1000
            got[0] += framer.poll(t)              # the bad 6-byte request pair was dropped
            rx_n = framer.poll(t + silence)
            got[1] += rx_n
            t += 30000
    finally:
        micropython.heap_unlock()
    eq(got, [0, 0], "nothing complete yet: 6 bytes of junk then 6 of a reply")
    eq(framer.crc_errors >= 50, True, "crc errors counted")


def test_framer_hands_out_frames_with_the_heap_locked():
    framer = modbus.RtuFramer(9600)
    request = modbus.read_request(1, 4, 0, 2)
    silence = modbus.silence_us(9600)
    lengths = bytearray(40)
    t = 0
    micropython.heap_lock()
    try:
        for i in range(40):
            framer.feed(request, t)
            t += silence
            lengths[i] = framer.poll(t)
            t += 1
    finally:
        micropython.heap_unlock()
    eq(bytes(lengths), bytes([8]) * 40, "lengths")
    eq(bytes(framer.frame[:8]), request, "frame")
    eq(framer.frames, 40, "count")


def test_early_mode_with_the_heap_locked():
    # a master reading replies on a jittery link: frames end by length, leftovers are kept
    framer = modbus.RtuFramer(9600, early=True)
    reply = modbus.read_reply(1, 4, [0x4366, 0x8000])
    exception = modbus.exception_reply(1, 4, 2)
    both = reply + exception[:2]
    rest = exception[2:]
    got = bytearray(40)
    micropython.heap_lock()
    try:
        for i in range(20):
            framer.feed(both, i * 10)
            got[2 * i] = framer.poll(i * 10)
            framer.feed(rest, i * 10 + 1)
            got[2 * i + 1] = framer.poll(i * 10 + 1)
    finally:
        micropython.heap_unlock()
    eq(bytes(got), bytes([len(reply), len(exception)]) * 20, "lengths")
    eq(bytes(framer.frame[:5]), exception, "last frame")
