# heapsize: 384K
# The uplink's parts under MicroPython without a modem: upload frames and their identity, the
# confirm window and the cursor, denials, event reports (ACD, EC, pointers), multi-frame
# replies, PW checks, and the reconnect backoff.
from mp_support import ask_terminal, eq
from firmware import quantities as qs
from firmware import log_records
from firmware.hal.norflash import NorFlash
from firmware.link import Link
from firmware.ringlog import RingLog
from firmware.terminal import Terminal
from firmware.uplink import CURSOR, EventIndex, Uploader
from firmware.vclock import VirtualClock
from firmware.wallclock import WallClock
from protocol import gw376
from protocol import settings as schema
from protocol.gw376_upload import upload_identity
from protocol.readings_payload import unpack_readings

ITEMS = [qs.item_id(qs.CURVE, 1), qs.item_id(qs.CURVE, 11)]


def setup(readings=0, events=()):
    log = RingLog(NorFlash(block_size=4096, block_count=8), create=True)
    for i in range(readings):
        log_records.append_readings(log, 1 + i % 3, 1000 + i, ITEMS, [100000 + i, 2200 + i])
    for erc in events:
        log_records.append_event(log, 0, 5000, erc, bytes(16) if erc == 31 else b"")
    s = schema.defaults()
    # compact: these tests read the ring-log identity F241; the standard units have their own
    s.update({"terminal.area": 4101, "terminal.address": 7, "comm.password": "7077" + "00" * 14,
              "report.compact": 1})
    clock = VirtualClock()
    wall = WallClock(clock, 848000000)
    ev = EventIndex(log)
    ev.read_to = 0
    term = Terminal(s, wall, log, events=ev)
    return log, term, ev, s, clock


def frame_of(got):
    return gw376.parse(bytes(got[0][:got[1]]))


def test_upload_frames_carry_dense_identities_and_the_records_bytes():
    log, term, ev, s, clock = setup(readings=200)
    up = Uploader(log, term, ev, window=4, max_frame=600)
    seen = []
    frames = 0
    while True:
        got = up.next_frame(frames)
        if got is None:
            break
        if got[1] > 600:
            raise AssertionError("frame over its limit")
        frames += 1
        f = frame_of(got)
        eq((f.afn, f.control, f.con, f.direction), (0x0D, 0xC4, True, 1))
        ident = upload_identity(f)
        eq(len(ident["records"]), ident["count"])
        for seq, rtype, point, ts, payload in ident["records"]:
            rec = log.read(seq)
            eq((rtype, point, ts, payload), (rec[1], rec[2], rec[3], rec[4]))
            seen.append(seq)
    eq(frames, 4)                                  # the window is full
    eq(seen, list(range(1, 1 + len(seen))))        # in order, dense
    eq(up.in_flight(), 4)
    eq(unpack_readings(log.read(1)[4]), [(ITEMS[0], 100000), (ITEMS[1], 2200)])


def test_a_resent_upload_is_built_again_with_the_same_records_and_pseq():
    # the window keeps what a frame carries, not its bytes: a resend builds it from the log
    log, term, ev, s, clock = setup(readings=120, events=(31,))
    up = Uploader(log, term, ev, window=3, max_frame=400)
    sent = []
    for i in range(3):
        got = up.next_frame(i)
        sent.append(bytes(got[0][:got[1]]))        # the buffer holds one frame at a time
    for i in range(3):                             # every slot, each built again in turn
        slot = up.expired(10000, 5000, lambda a, b: a - b)
        eq(slot is not None, True)
        got = up.resend(slot, 10000 + i)
        again = bytes(got[0][:got[1]])
        eq((again, slot.tries), (sent[slot.pseq], 2))
    eq(up.stats["resent"], 3)
    eq(up.on_answer(1, True), True)                # confirms still work after the rebuild
    eq(log.cursor(CURSOR), 1)


def test_a_resent_event_report_keeps_its_pointer():
    log, term, ev, s, clock = setup(readings=1, events=(31,))
    up = Uploader(log, term, ev, window=2, max_frame=400)
    up.next_frame(0)
    first = frame_of(up.next_frame(1))
    eq(first.afn, 0x0E)
    slot = [x for x in up.slots if x.pseq == 1][0]
    again = frame_of(up.resend(slot, 1))
    eq((again.afn, again.seq, again.units, upload_identity(again)),
       (0x0E, 1, first.units, upload_identity(first)))


def test_a_resend_whose_records_were_reclaimed_gives_none():
    log, term, ev, s, clock = setup()
    up = Uploader(log, term, ev, window=2, max_frame=400)
    log_records.append_readings(log, 1, 1000, ITEMS, [1, 2])
    up.next_frame(0)
    slot = up.slots[0]
    big = [100000] * 2
    while log.oldest_seq <= slot.first:            # the log wraps over the unconfirmed record
        log_records.append_readings(log, 2, 2000, ITEMS, big)
    eq(up.resend(slot, 1), None)


def test_the_cursor_moves_only_over_a_confirmed_prefix():
    log, term, ev, s, clock = setup(readings=200)
    up = Uploader(log, term, ev, window=3, max_frame=400)
    frames = [upload_identity(frame_of(up.next_frame(i))) for i in range(3)]
    eq(up.on_answer(1, True), True)                # the second frame first: no move
    eq(log.cursor(CURSOR), 1)
    eq(up.on_answer(0, True), True)                # now both
    eq(log.cursor(CURSOR), frames[1]["first"] + frames[1]["count"])
    eq(up.on_answer(9, True), False)               # not ours
    eq(up.on_answer(2, False), True)               # denied: sent again from the cursor
    eq(up.stats["denied"], 1)
    again = upload_identity(frame_of(up.next_frame(3)))
    eq(again["first"], frames[2]["first"])


def test_a_reconnect_resends_from_the_cursor_and_nothing_confirmed_again():
    log, term, ev, s, clock = setup(readings=100)
    up = Uploader(log, term, ev, window=2, max_frame=400)
    a = upload_identity(frame_of(up.next_frame(0)))
    b = upload_identity(frame_of(up.next_frame(1)))
    up.on_answer(0, True)
    up.restart()
    c = upload_identity(frame_of(up.next_frame(2)))
    eq(c["first"], b["first"])
    eq(a["first"] + a["count"], c["first"])


def test_important_events_go_alone_with_acd_ec_and_their_pointer():
    log, term, ev, s, clock = setup(readings=3, events=(3, 31, 31))
    up = Uploader(log, term, ev, window=4, max_frame=1460)
    first = frame_of(up.next_frame(0))
    eq(first.afn, 0x0D)
    eq(upload_identity(first)["count"], 4)          # 3 readings + the normal ERC3
    eq((first.acd, first.ec), (1, (2, 1)))
    second = frame_of(up.next_frame(1))
    eq((second.afn, second.acd, second.ec), (0x0E, 1, (2, 1)))
    value = second.units[0][2]
    eq((value["pm"], value["pn"], value["records"][0]["erc"]), (0, 1, 31))
    eq(upload_identity(second)["first"], 5)
    up.on_answer(0, True)
    up.on_answer(1, True)
    eq(ev.unread_important(), True)                 # one important event still unread
    third = frame_of(up.next_frame(2))
    eq(third.units[0][2]["pm"], 1)
    up.on_answer(2, True)
    eq(ev.unread_important(), False)
    eq(log.backlog(CURSOR), 0)
    q = ev.query(True, 0, 2)
    eq([r["erc"] for r in _records(q)], [31, 31])


def test_long_replies_are_split_into_frames_with_fir_fin():
    log, term, ev, s, clock = setup(events=[31] * 40)
    term.max_user_data = 200
    request = gw376.Frame(0x0E, [(0, 1, {"pm": 0, "pn": 40})], area=4101, terminal=7, seq=3)
    value = ev.query(True, 0, 40, room=10000)
    replies = gw376.responses(request, [(0, 1, value)], 2000)
    eq(len(replies), 1)
    req2 = gw376.Frame(0x0A, [(0, 1, None), (0, 3, None), (0, 8, None)], area=4101,
                       terminal=7, seq=5)
    term.max_user_data = 60
    from firmware import terminal_query
    out = terminal_query.query(term, req2)
    eq(len(out) > 1, True)
    eq((out[0].fir, out[0].fin, out[-1].fir, out[-1].fin), (True, False, False, True))
    eq([f.seq for f in out], [(5 + i) & 15 for i in range(len(out))])


def test_wrong_or_missing_pw_is_denied_and_recorded_without_the_pw():
    log, term, ev, s, clock = setup()
    import firmware.kernel
    k = firmware.kernel.Kernel(clock)
    out = []

    async def go():
        for pw in (b"pw" + bytes(14), b"px" + bytes(14), None):
            f = gw376.Frame(0x05, [(0, 31, (2026, 1, 2, 3, 4, 5, 5))], area=4101, terminal=7,
                            master=2, pw=pw)
            raw = gw376.build(f)
            out.append(gw376.parse((await term.handle(gw376.parse(raw), raw))[0]).units[0][1])
        k.stop()

    k.task_create(go, 5)
    k.run(1000)
    eq(out, [1, 2, 2])
    events = [r for r in log.records(rtype=2)]
    eq([r[4][0] for r in events], [20, 20])
    eq(bytes(events[0][4][6:22]), bytes(16))        # the PW field is zeroed
    eq(events[0][4][22], 2)                         # the master's address


def test_backoff_doubles_to_its_cap_with_jitter():
    log, term, ev, s, clock = setup()
    s["comm.redial_s"] = 30
    s["comm.redial_max_s"] = 1800
    draws = []

    def rand(n):
        draws.append(n)
        return n - 1                                # the top of the jitter range

    link = Link(None, None, term, s, clock=clock, rand=rand)
    eq([link.backoff_ms(f) for f in (1, 2, 3, 7, 20)],
       [30000, 60000, 120000, 1800000, 1800000])
    link.rand = lambda n: 0                         # the bottom: half the delay
    eq(link.backoff_ms(2), 30000)


def test_online_modes_always_time_windows_and_passive_activation():
    log, term, ev, s, clock = setup()
    link = Link(None, None, term, s, clock=clock)
    eq(link.want_online(), True)                    # mode 1: always
    s["comm.online_mode"] = 3
    hour = term.wall.calendar()[3]
    s["comm.online_hours"] = 0xFFFFFF & ~(1 << hour)
    eq(link.want_online(), False)                   # outside its window
    s["comm.online_hours"] = 1 << hour
    eq(link.want_online(), True)
    s["comm.online_mode"] = 2
    eq(link.want_online(), False)                   # passive: nothing asks for it
    link.activate()
    eq(link.want_online(), True)
    link.activated = False
    log_records.append_event(log, 0, 5000, 31, bytes(16))
    eq(link.want_online(), True)                    # an important event waits: go online


def test_start_builds_the_uplink_from_a_booted_concentrator():
    from firmware import link as link_module
    from firmware.kernel import Kernel
    log, term, ev, s, clock = setup(readings=2)
    s["master.host"] = "127.0.0.1"

    class C:
        pass

    c = C()
    c.kernel = Kernel(clock)
    c.board = {"modem": {"family": "socket"}}
    c.settings = s
    c.wall = term.wall
    c.log = log
    c.archive = None
    c.poller = None
    up = link_module.start(c, 10)
    st = up.status()
    eq((st["state"], st["backlog"]), ("down", 2))
    c.board = {"modem": {"family": "sim800", "device": None}}
    eq(link_module.start(c, 11), None)              # a board without a modem device


def _records(value):
    """The records of an EventIndex.query() value (their wire bytes) as the station decodes them."""
    from protocol import gw376_unit_events
    raw = bytes([0, 0, 0, value["pn"] - value["pm"] & 0xFF]) + bytes(value["records"])
    return gw376_unit_events.decode_events(raw, 0, len(raw))[0]["records"]


def _ask(term, clock, frame):
    return ask_terminal(term, frame, clock)


def _down(afn, units, pw=None):
    if gw376.needs_pw(afn, gw376.DOWN) and pw is None:
        pw = b"pw" + bytes(14)
    return gw376.Frame(afn, units, area=4101, terminal=7, master=1, pw=pw)


def test_frozen_energy_by_day_and_month_from_the_ring_log():
    from protocol import clock_math
    log, term, ev, s, clock = setup()
    frozen = [qs.item_id(qs.FROZEN, q) for q in (1, 2, 3, 4, 5)]
    day = clock_math.to_seconds(2026, 11, 1) + 300           # 00:05 on the 1st
    log_records.append_readings(log, 2, day, frozen, [500000, 100000, 200000, 150000, 50000])
    out = _ask(term, clock, _down(0x0D, [(2, 161, (2026, 11, 1))]))
    value = out[0].units[0][2]
    eq((out[0].units[0][0], value["td"], value["forward_active"]),
       (2, (2026, 11, 1), [50000000, 10000000, 20000000, 15000000, 5000000]))
    month = _ask(term, clock, _down(0x0D, [(2, 177, (2026, 10))]))[0].units[0][2]
    eq((month["td"], month["forward_active"][0]), ((2026, 10), 50000000))
    none = _ask(term, clock, _down(0x0D, [(2, 161, (2026, 11, 2))]))[0]
    eq((none.afn, none.units[0][1]), (0, 2))                # no data: denied


def test_relay_control_is_queued_and_answered_with_the_outcome():
    log, term, ev, s, clock = setup()
    s["comm.response_timeout_s"] = 5
    submitted = []

    class Relay:                    # firmware/relay.py as the poller's bus task runs it
        def __init__(self, outcome):
            self.outcome = outcome
            self.count = 0
            self.last = None
            self.last_outcome = None

        def submit(self, point, command):
            submitted.append((point, command))
            self.last = (point, 0x1A, "", None)
            self.last_outcome = self.outcome
            self.count += 1
            return 0

    term.relay = Relay(0)
    out = _ask(term, clock, _down(0x05, [(3, 1, {"warn_delay_min": 0,
                                                  "limit_half_hours": 0})]))
    eq((submitted, out[0].units[0][1]), ([(3, "trip")], 1))
    term.relay = Relay(1)                                    # the meter refused
    out = _ask(term, clock, _down(0x05, [(3, 2, None)]))
    eq((submitted[-1], out[0].units[0][1]), ((3, "permit_close"), 2))


def test_transparent_forwarding_and_the_archive_over_afn04_f10():
    import os
    from firmware.archive import Archive
    log, term, ev, s, clock = setup()

    class Bus:
        async def forward(self, port, data, timeout_ms, byte_timeout_ms):
            return b"\x68" + bytes(data) + b"\x16"

    term.forwarder = Bus()
    out = _ask(term, clock, _down(0x10, [(0, 1, {"port": 2, "control": 0x6B,
                                                  "frame_timeout": 5, "frame_timeout_in_s": 1,
                                                  "byte_timeout_10ms": 10,
                                                  "data": b"\x01\x02"})]))
    eq(out[0].units[0][2], {"port": 2, "data": b"\x68\x01\x02\x16"})
    path = "/tmp/mp_uplink_meters.dat"
    try:
        os.remove(path)
    except OSError:
        pass
    term.archive = Archive(path)
    meter = {"serial": 1, "point": 4, "baud": 2400, "port": 1, "protocol": 30,
             "address": "000000000042", "password": bytes(6), "tariffs": 4,
             "integer_digits": 6, "decimal_digits": 2, "collector": "000000000000",
             "user_class": 0, "user_subclass": 0}
    ok = _ask(term, clock, _down(0x04, [(0, 10, {"meters": [meter]})]))[0]
    eq(ok.units[0][1], 1)
    eq(term.archive.get(4)["address"], "000000000042")
    back = _ask(term, clock, _down(0x0A, [(0, 10, {"serials": [1]})]))[0].units[0][2]
    eq((back["meters"][0]["point"], back["meters"][0]["address"]), (4, "000000000042"))
    erc3 = [r for r in log.records(rtype=2) if r[4][0] == 3]
    eq(len(erc3), 1)
    os.remove(path)


def test_link_frames_are_built_without_the_codec_exactly_as_the_codec_builds_them():
    log, term, ev, s, clock = setup()
    for fn in (1, 2, 3):
        clock_value = term.wall.calendar() if fn == 3 else None
        want = gw376.build(gw376.link_frame(fn, 4101, 7, 5, clock_value))
        eq(term.link_frame(fn, 5), want)
    log_records.append_event(log, 0, 5000, 31, bytes(16))      # an unread important event
    got = gw376.parse(term.link_frame(3, 6))
    eq((got.acd, got.ec), (1, (1, 0)))


def test_the_heartbeat_form_is_a_setting_2013_with_the_clock_2009_without():
    log, term, ev, s, clock = setup()
    eq(gw376.parse(term.link_frame(3, 1)).units, [(0, 3, term.wall.calendar())])
    s["comm.heartbeat_clock"] = 0
    bare = term.link_frame(3, 2)
    eq(bare, gw376.build(gw376.link_frame(3, 4101, 7, 2)))
    eq((len(bare), gw376.parse(bare).units), (20, [(0, 3, None)]))
    eq(len(term.link_frame(1, 3)), 20)                       # the login never has data


def test_the_codec_is_dropped_after_a_minute_without_requests():
    import sys
    from firmware import terminal
    log, term, ev, s, clock = setup()
    terminal.codec()
    term.codec_at = term.wall.now()
    term.idle()
    eq("protocol.gw376" in sys.modules, True)
    clock.advance(61000)
    term.idle()
    eq("protocol.gw376" in sys.modules, False)
    eq(terminal.codec().AFN_CLASS1, 0x0C)                  # and back on demand


def test_the_admin_handlers_leave_nothing_behind_when_the_codec_goes():
    # a set request brings the administration handlers, the settings schema and its checks back in;
    # they leave with the codec, as firmware/startup.py unloads them after boot
    import sys
    from firmware import terminal
    log, term, ev, s, clock = setup()
    gone = ("firmware.terminal_admin", "firmware.terminal_query", "firmware.terminal_archive",
            "firmware.terminal_control",
            "protocol.gw376", "protocol.gw376_units", "protocol.gw376_fields",
            "protocol.gw376_unit_ids", "protocol.gw376_unit_archive", "protocol.gw376_unit_events",
            "protocol.gw376_unit_energy",
            "protocol.gw376_unit_forward", "protocol.gw376_unit_text", "protocol.gw376_dadt",
            "protocol.gw376_formats",
            "protocol.bcd", "protocol.settings", "protocol.pw")
    codec = terminal.codec()
    for afn, fn, direction in ((0, 3, 1), (4, 10, 0), (0x0E, 1, 1), (0x10, 1, 0)):
        codec.units_codec.codec(afn, fn, direction)     # each family of unit coders comes in
    from protocol import gw376_unit_energy  # noqa: F401
    from protocol import gw376_unit_text    # noqa: F401
    from firmware import terminal_admin    # noqa: F401
    from firmware import terminal_control  # noqa: F401
    from firmware import terminal_query    # noqa: F401
    from firmware import terminal_archive  # noqa: F401
    from protocol import pw                # noqa: F401
    from protocol import settings          # noqa: F401
    eq([name for name in gone if name not in sys.modules], [])
    term.codec_at = term.wall.now()
    clock.advance(61000)
    term.idle()
    eq([name for name in gone if name in sys.modules], [])


def test_a_request_leaves_only_the_codec_core_loaded_when_it_is_answered():
    # the station's post-login requests come one after the other: each brings its handler and
    # unit family in, and none may carry the last one's on top of its own
    import sys
    from firmware import terminal
    log, term, ev, s, clock = setup()
    log_records.append_event(log, 0, 5000, 31, bytes(16))
    answers = _ask(term, clock, _down(0x0E, [(0, 1, {"pm": 0, "pn": 1})]))
    eq(answers[0].units[0][2]["records"][0]["erc"], 31)
    s["report.tasks"] = {}
    _ask(term, clock, _down(0x04, [(0, 241, {"compact": 1})]))
    eq([name for name in terminal._REQUEST_MODULES if name in sys.modules], [])
    eq([name for name in terminal._CODEC_MODULES if name not in sys.modules], [])
    # no request module is held by the core (it would stay, and a request would load a copy)
    for name in terminal._CODEC_MODULES:
        held = [n for n in dir(sys.modules[name])
                if type(getattr(sys.modules[name], n)) is type(sys)
                and getattr(sys.modules[name], n).__name__ in terminal._REQUEST_MODULES]
        eq((name, held), (name, []))


def test_a_frame_the_station_keeps_refusing_is_stepped_over_and_reported():
    log, term, ev, s, clock = setup(readings=30)
    up = Uploader(log, term, ev, window=1, max_frame=200)
    first = None
    for i in range(3):
        got = upload_identity(frame_of(up.next_frame(i)))
        if first is None:
            first = got
        eq(got["first"], first["first"])         # the same frame again after each denial
        up.on_answer(i, False)
        eq(up.paused, True)
        up.paused = False                        # the link's pause is over
    end = first["first"] + first["count"]
    eq((log.cursor(CURSOR), up.stats["refused_records"]), (end, first["count"]))
    rec = [r for r in log.records(rtype=2)][-1]
    eq((rec[4][0], rec[4][1], rec[4][5]), (251, first["first"], first["count"]))
    eq(ev.unread_important(), True)              # reported like any important event


class _SparseLog:
    """A log whose events lie far apart in sequence numbers, as after days of readings."""

    def __init__(self, events, oldest):
        self.events = dict(events)          # seq -> ERC
        self.oldest_seq = oldest
        self.next_seq = max(self.events) + 1

    def stats(self):
        return {"sectors": 256, "sector_size": 4096}   # 1 MB: fewer than 65536 records

    def _record(self, seq):
        return (seq, 2, 0, 0, bytes([self.events[seq], seq & 0xFF, (seq >> 8) & 0xFF]))

    def records(self, first_seq=0, rtype=None):
        for seq in sorted(self.events):
            if seq >= max(first_seq, self.oldest_seq):
                yield self._record(seq)

    def read(self, seq):
        if self.oldest_seq <= seq < self.next_seq and seq in self.events:
            return self._record(seq)
        return None


def test_event_pointers_resolve_sequences_far_apart():
    important = [100, 70000, 70001, 135536, 200000]     # gaps over and at 65535 records
    log = _SparseLog([(s, 1) for s in important] + [(135000, 3), (190000, 3)], oldest=0)
    ev = EventIndex(None)
    ev.log = log
    ev._scanned = log.next_seq             # indexed by hand below
    for seq in sorted(log.events):
        ev.add(seq, log.events[seq])
    log.oldest_seq = 60000                  # the first important event has left the log
    eq([ev.index_of(s, 1) for s in important], [-1, 1, 2, 3, 4])
    eq([ev.index_of(s, 3) for s in (135000, 190000)], [0, 1])
    got = ev.query(True, 1, 5)
    eq([r["raw"] for r in _records(got)], [bytes([s & 0xFF, (s >> 8) & 0xFF])
                                           for s in important[1:]])
    eq((got["pm"], got["pn"]), (1, 5))
    eq(_records(ev.query(True, 0, 5)), [])  # pointer 0 left the log: the reply stops there
    eq([r["raw"] for r in _records(ev.query(False, 1, 2))],
       [bytes([190000 & 0xFF, (190000 >> 8) & 0xFF])])


def test_a_set_whose_save_fails_is_denied_and_changes_nothing():
    log, term, ev, s, clock = setup()

    class FullDisk:
        def save(self, settings):
            raise OSError(28)

    term.store = FullDisk()
    before = dict(s)
    tasks = {"unit": 0, "period": 15, "base": (2026, 11, 1, 0, 0, 0, 7), "ratio": 1,
             "units": [(gw376.PN_ALL, 129)]}
    denied = _ask(term, clock, _down(0x04, [(0, 241, {"compact": 0}), (1, 65, tasks)]))[0]
    eq((denied.afn, denied.units[0][1]), (0, 2))
    eq(s, before)                     # report.compact back to 1, report.tasks absent again
    f1 = dict(_ask(term, clock, _down(0x0A, [(0, 1, None)]))[0].units[0][2], heartbeat_min=9)
    denied = _ask(term, clock, _down(0x04, [(0, 1, f1)]))[0]
    eq((denied.afn, denied.units[0][1], s), (0, 2, before))
