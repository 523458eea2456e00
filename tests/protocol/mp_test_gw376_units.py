# Frame and unit round trips under the real MicroPython (the hypothesis versions run on
# CPython; these fixed values prove the compiled codecs agree).
from mp_support import eq, raises
from protocol import gw376
from protocol import gw376_formats as formats
from protocol.errors import ProtocolError

ARCHIVE = {"meters": [{
    "serial": 1, "point": 1, "baud": 2400, "port": 2, "protocol": 30,
    "address": "000000123456", "password": b"\x00" * 6, "tariffs": 4,
    "integer_digits": 6, "decimal_digits": 2, "collector": "000000000000",
    "user_class": 1, "user_subclass": 0}]}

EVENTS = {"ec_important": 3, "ec_normal": 0, "pm": 254, "pn": 1, "records": [
    {"erc": 14, "power_off": (2024, 3, 1, 10, 0), "power_on": (2024, 3, 1, 10, 5)},
    {"erc": 31, "time": (2024, 3, 1, 11, 0), "pn": 7, "start": 1,
     "last_read_time": (2024, 3, 1, 10, 45), "forward_active": 1234567, "forward_reactive": None},
    {"erc": 3, "time": (2024, 3, 1, 12, 0), "master": 1, "units": [(0, 1), (0, 3), (1, 10)]},
]}


def _round_trip(frame):
    again = gw376.parse(gw376.build(frame))
    eq(again.units, frame.units, "units")
    assert again == frame
    return again


def test_set_and_query_parameters():
    comm = {"rts_delay_20ms": 0, "send_delay_min": 2, "response_timeout_s": 30, "retries": 3,
            "confirm_flags": 4, "heartbeat_min": 5}
    master = {"primary_ip": "10.0.0.2", "primary_port": 9000, "backup_ip": "10.0.0.3",
              "backup_port": 9001, "apn": "CMNET"}
    frame = gw376.Frame(0x04, [(0, 1, comm), (0, 3, master), (0, 10, ARCHIVE)],
                        pw=b"0123456789abcdef", tp=(1, 28, 16, 0, 0, 5))
    again = _round_trip(frame)
    eq(again.pw, b"0123456789abcdef", "PW")
    reply = gw376.response(gw376.Frame(0x0A, [(0, 1, None), (0, 10, {"serials": [1]})]),
                           [(0, 1, comm), (0, 10, ARCHIVE)])
    _round_trip(reply)


def test_events_with_acd_and_ec():
    frame = gw376.Frame(0x0E, [(0, 1, EVENTS)], gw376.UP, 1, acd=1, ec=(3, 0))
    again = _round_trip(frame)
    eq(again.ec, (3, 0), "EC")


def test_energy_and_control():
    energy = {"td": (2024, 3, 1), "read_time": (2024, 3, 2, 0, 5), "tariffs": 4,
              "forward_active": [1234567890, 1, 2, None, 4]}
    _round_trip(gw376.Frame(0x0D, [(1, 161, energy), (2, 161, energy)], gw376.UP, 0))
    _round_trip(gw376.Frame(0x05, [(1, 1, {"warn_delay_min": 2, "limit_half_hours": 0}),
                                   (0, 31, (2024, 3, 2, 8, 0, 0, 6))], pw=bytes(16)))


def test_bad_frames_raise_protocol_error_only():
    good = gw376.build(gw376.Frame(0x0E, [(0, 1, EVENTS)], gw376.UP, 1, acd=1, ec=(3, 0)))
    for cut in range(len(good)):
        raises(ProtocolError, gw376.parse, good[:cut])
    for at in range(6, len(good) - 2):
        raw = bytearray(good)
        raw[at] ^= 0x5A
        raw[-2] = sum(raw[6:-2]) & 0xFF
        try:
            gw376.parse(bytes(raw))
        except ProtocolError:
            pass


def test_format_text():
    eq(formats.to_text(14, 1234567890), "123456.7890", "format 14")
    eq(formats.to_text(25, -1500), "-1.500", "format 25")


def test_describe_runs_on_micropython():
    # host-only module, but it must stay in the MicroPython subset like all of protocol/
    from protocol.gw376_describe import describe
    reply = gw376.Frame(0x0C, [(1, 129, {"read_time": (2024, 3, 2, 0, 5), "tariffs": 0,
                                         "forward_active": [1234567890]})], gw376.UP, 0)
    out = describe(gw376.parse(gw376.build(reply)))
    eq(out["units"][0]["data"]["forward_active"], ["123456.7890"], "exact text")
    eq(out["afn"], "0C", "afn")
