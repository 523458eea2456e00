"""protocol.gw376: the frame layer, on the captured vectors and on hand-built frames."""
import pytest

import gw376_checks
from protocol import gw376, gw376_dadt, gw376_describe
from protocol.errors import ProtocolError
from protocol.gw376_units import Unknown

unhex = gw376_checks.unhex


@pytest.mark.parametrize("name", gw376_checks.all_vector_names())
def test_captured_frame_decodes(name):
    gw376_checks.check_vector(name)


def test_heartbeat_fields_by_name():
    frame = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["heartBeat"]))
    assert gw376_describe.function_name(frame) == "link test"
    assert frame.address_text == "0171-2082"
    assert gw376_describe.AFN_NAMES[frame.afn] == "link test"


def test_login_builds_like_the_captured_frame():
    login = gw376.link_frame(1, area=171, terminal=2082, seq=8)
    assert gw376.build(login) == unhex(gw376_checks.vectors.CAPTURED["login"])


def test_eight_points_share_one_da():
    request = gw376.Frame(0x0C, [(pn, 129, None) for pn in range(1, 9)], area=171,
                          terminal=2082, seq=3)
    raw = gw376.build(request)
    assert raw[14:18] == bytes.fromhex("ff 01 01 10")      # DA p1..p8, DT F129
    assert len(raw) == 20
    assert gw376.parse(raw).units == request.units


def test_units_expand_pn_first_then_fn():
    # DA p1+p2, DT F129+F130 (AFN0C requests): p1F129, p1F130, p2F129, p2F130
    raw = gw376.build(gw376.Frame(0x0C, [(1, 129, None), (1, 130, None), (2, 129, None),
                                         (2, 130, None)]))
    assert raw[14:18] == bytes.fromhex("03 01 03 10")


def test_da_dt_helpers_match_the_standard_examples():
    assert gw376_dadt.da_bytes(1) == (0x01, 0x01)
    assert gw376_dadt.da_bytes(9) == (0x01, 0x02)
    assert gw376_dadt.da_bytes(0) == (0, 0)
    for fn, expected in ((1, "0100"), (3, "0400"), (10, "0201"), (25, "0103"), (31, "4003"),
                         (33, "0104"), (129, "0110"), (161, "0114")):
        assert bytes(gw376_dadt.dt_bytes(fn)).hex() == expected
    assert gw376_dadt.expand_da(0xFF, 0x00) == [gw376.PN_ALL]
    with pytest.raises(ProtocolError):
        gw376_dadt.expand_dt(0, 1)
    with pytest.raises(ProtocolError):
        gw376_dadt.da_bytes(2041)


def test_aux_pw_ec_tp_positions():
    control = gw376.Frame(0x05, [(1, 1, {"warn_delay_min": 0, "limit_half_hours": 0})],
                          pw=bytes(range(16)), tp=(7, 28, 16, 19, 39, 5), seq=7)
    raw = gw376.build(control)
    # C A AFN SEQ | DA DT data(1) | PW(16) | Tp(6)
    assert raw[13] == 0x80 | 0x60 | 7
    assert raw[19:35] == bytes(range(16))
    assert raw[35:41] == bytes.fromhex("07 39 19 16 28 05")
    assert gw376.parse(raw) == control

    report = gw376.Frame(0x0E, [(0, 1, {"ec_important": 1, "ec_normal": 0, "pm": 0, "pn": 1,
                                        "records": [{"erc": 21, "time": (2024, 1, 2, 3, 4),
                                                     "fault": 4}]})],
                         gw376.UP, 1, acd=1, ec=(1, 0))
    raw = gw376.build(report)
    assert raw[6] == 0xE4          # DIR up, PRM 1, ACD 1, function 4 (user data)
    assert raw[-4:-2] == b"\x01\x00"
    assert gw376.parse(raw).ec == (1, 0)


def test_uplink_pw_only_on_afn06():
    auth = gw376.Frame(0x06, [(0, 2, Unknown(b"\x11" * 16))], gw376.UP, 0,
                       pw=b"\x22" * 16)
    parsed = gw376.parse(gw376.build(auth))
    assert parsed.pw == b"\x22" * 16
    assert parsed.units[0][2].raw == b"\x11" * 16


def test_unknown_fn_keeps_the_rest_of_the_region():
    raw = gw376.build(gw376.Frame(0x0C, [(1, 5, Unknown(b"\x01\x02\x03"))],
                                  gw376.UP, 0, tp=(1, 1, 1, 1, 1, 0)))
    frame = gw376.parse(raw)
    assert frame.units == [(1, 5, Unknown(b"\x01\x02\x03"))]
    assert frame.tp == (1, 1, 1, 1, 1, 0)           # AUX is never swallowed


def test_answers_echo_address_seq_and_tp():
    request = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["qafn12f129"]))
    energy = {"read_time": (2018, 8, 28, 16, 18), "tariffs": 4,
              "forward_active": [100, None, None, None, None]}
    # this terminal marks its single-frame AFN0C replies FIR=0 FIN=1 (SEQ A2)
    reply = gw376.response(request, [(1, 129, energy)], fir=False)
    assert gw376.build(reply) == unhex(gw376_checks.vectors.CAPTURED["rafn12f129"])
    denied = gw376.deny(request)
    assert (denied.direction, denied.prm, denied.function, denied.units) == (
        gw376.UP, 0, gw376.FN_DENY, [(0, 2, None)])
    per_unit = gw376.confirm_units(request, [(1, 129, 0), (2, 129, 1)])
    assert gw376.parse(gw376.build(per_unit)).units == [
        (0, 3, {"afn": 0x0C, "items": [(1, 129, 0), (2, 129, 1)]})]


def test_heartbeat_with_a_clock():
    beat = gw376.link_frame(3, 171, 2082, 4, clock=(2024, 3, 1, 12, 0, 0, 5))
    assert gw376.parse(gw376.build(beat)).units == [(0, 3, (2024, 3, 1, 12, 0, 0, 5))]


@pytest.mark.parametrize("change,reason,offset", [
    (lambda b: b.__setitem__(3, b[3] ^ 4), "differ", 3),
    (lambda b: b.__setitem__(5, 0x69), "second start", 5),
    (lambda b: (b.__setitem__(1, b[1] ^ 3), b.__setitem__(3, b[3] ^ 3)), "protocol id", 1),
    (lambda b: b.__setitem__(len(b) - 1, 0x17), "end with 16", 19),
    (lambda b: b.__setitem__(len(b) - 2, b[-2] ^ 1), "checksum", 18),
])
def test_header_errors_name_the_byte(change, reason, offset):
    raw = bytearray(unhex(gw376_checks.vectors.CAPTURED["heartBeat"]))
    change(raw)
    with pytest.raises(ProtocolError) as err:
        gw376.parse(bytes(raw))
    assert reason in err.value.reason
    assert err.value.offset == offset


def test_build_refuses_inconsistent_frames():
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x04, [], pw=b"short"))
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x0C, [], gw376.UP, 0, fcb=1))
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x0C, [], gw376.DOWN, 1, ec=(1, 1)))
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x0C, [(1, 129, {"tariffs": 1})], gw376.UP, 0))
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x0C, [(1, 129, None)], area=10000))
    too_big = {"port": 1, "data": bytes(16400)}
    with pytest.raises(ProtocolError):
        gw376.build(gw376.Frame(0x10, [(0, 1, too_big)], gw376.UP, 0))


def test_board_heap_cost_of_the_gw376_modules_stays_bounded():
    # What importing the board-side 1376.1 modules costs a heap (unix port: 64-bit words, about
    # 1.7x an ESP32's cost). Measured 61.5 KB when written (deframer alone 3.1 KB), 63.5 KB
    # before and 64.0 KB after the AFN0D curve replies (F81..F108 up); the budget catches
    # regressions. The firmware loads gw376_units only while it answers a request
    # (firmware/terminal.py codec()), so this is no resident cost. gw376_describe is host-only
    # and not counted.
    from tests import micropython
    proc = micropython.run_code(
        "import gc, binascii\n"
        "import protocol.errors, protocol.bcd, protocol.compat\n"
        "gc.collect(); before = gc.mem_free()\n"
        "import protocol.gw376_deframer\n"
        "gc.collect(); print(before - gc.mem_free())\n"
        "import protocol.gw376, protocol.gw376_units, protocol.gw376_formats\n"
        "gc.collect(); print(before - gc.mem_free())\n", timeout=60)
    assert proc.returncode == 0, proc.stderr
    deframer, everything = [int(n) for n in proc.stdout.split()[-2:]]
    assert deframer < 4 * 1024
    assert everything < 65 * 1024


def test_parse_in_place_from_a_deframer_buffer():
    from protocol.gw376_deframer import Deframer
    deframer = Deframer(2048)
    raw = unhex(gw376_checks.vectors.CAPTURED["rafn12f129"])
    deframer.feed(raw)
    frame = gw376.parse(deframer.buffer, deframer.frame_length)
    assert frame == gw376.parse(raw)
    with pytest.raises(ProtocolError):
        gw376.parse(deframer.buffer, deframer.frame_length - 1)
    with pytest.raises(ProtocolError):
        gw376.parse(raw, len(raw) + 1)


def test_responses_split_into_numbered_frames():
    request = gw376.Frame(0x0D, [(pn, 161, (2024, 3, 1)) for pn in range(1, 41)], area=171,
                          terminal=2082, seq=14, tp=(9, 2, 0, 30, 0, 0))
    energy = {"td": (2024, 3, 1), "read_time": (2024, 3, 2, 0, 5), "tariffs": 4,
              "forward_active": [1, 2, 3, 4, 5]}
    units = [(pn, 161, energy) for pn in range(1, 41)]
    frames = gw376.responses(request, units, max_user_data=255)
    assert len(frames) > 1
    assert [f.seq for f in frames] == [(14 + i) & 15 for i in range(len(frames))]
    assert [(f.fir, f.fin) for f in frames] == (
        [(True, False)] + [(False, False)] * (len(frames) - 2) + [(False, True)])
    received = []
    for frame in frames:
        raw = gw376.build(frame)
        assert len(raw) - 8 <= 255
        received += gw376.parse(raw).units
    assert received == units
    single = gw376.responses(request, units[:1])
    assert len(single) == 1 and single[0].fir and single[0].fin and single[0].seq == 14
    forward = gw376.Frame(0x10, [], pw=bytes(16))
    with pytest.raises(ProtocolError) as err:
        gw376.responses(forward, [(0, 1, {"port": 1, "data": bytes(300)})], max_user_data=255)
    assert "more than one frame holds" in err.value.reason


def test_tp_age_and_expiry():
    tp = (1, 28, 23, 59, 0, 2)                      # sent day 28 23:59:00, 2 minutes allowed
    assert gw376.tp_age_seconds(tp, 28, 23, 59, 30) == 30
    assert not gw376.tp_expired(tp, 29, 0, 1, 0)    # exactly 2 minutes
    assert gw376.tp_expired(tp, 29, 0, 1, 1)
    assert gw376.tp_age_seconds(tp, 1, 0, 0, 0, days_in_sent_month=28) == 60
    assert gw376.tp_age_seconds(tp, 28, 23, 58, 0) == 0     # master clock ahead
    assert not gw376.tp_expired((1, 1, 0, 0, 0, 0), 20, 0, 0, 0)   # delay 0: no limit


def test_answer_function_follows_the_link_service():
    login = gw376.link_frame(1, 171, 2082, 1)
    assert gw376.confirm(login).control == 0x0B            # what masters send (PROTOCOLS.md)
    read = gw376.Frame(0x0C, [(1, 129, None)])              # request class 2 data (4B)
    assert (gw376.confirm(read).function, gw376.deny(read).function) == (8, 9)
    reset = gw376.Frame(0x01, [(0, 1, None)], pw=bytes(16))  # reset: send/confirm
    assert gw376.confirm(reset).function == gw376.FN_CONFIRM
    assert gw376.confirm(read, function=0).function == 0    # a peer that wants 0 gets it


def test_is_reply_to():
    request = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["qafn12f129"]))
    reply = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["rafn12f129"]))
    assert gw376.is_reply_to(reply, request)
    assert gw376.is_reply_to(gw376.deny(request), request)
    assert not gw376.is_reply_to(request, request)
    other = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["qafn12f25"]))   # PSEQ 11
    assert not gw376.is_reply_to(gw376.response(other, []), request)
    frames = gw376.responses(request, [(pn, 129, {"read_time": (2024, 1, 1, 0, 0), "tariffs": 0,
                                                  "forward_active": [1]}) for pn in range(1, 30)],
                             max_user_data=120)
    assert len(frames) > 1 and all(gw376.is_reply_to(f, request) for f in frames)


def test_every_class2_request_carries_its_time_label():
    daily = gw376.Frame(0x0D, [(1, 3, (2024, 3, 1)), (1, 185, (2024, 3, 1))])
    monthly = gw376.Frame(0x0D, [(1, 21, (2024, 2)), (1, 215, (2024, 2))])
    curve = gw376.Frame(0x0D, [(1, 81, {"start": (2024, 3, 1, 0, 15), "density": 1,
                                        "points": 96})])
    for frame in (daily, monthly, curve):
        assert gw376.parse(gw376.build(frame)) == frame
    raw = gw376.build(curve)
    assert raw[18:25] == bytes.fromhex("15 00 01 03 24 01 60")
