# heapsize: 384K
# Standard active reporting under MicroPython: the ring log's records go out as AFN0C / AFN0D /
# AFN0E standard units (no vendor unit F241), as the tasks the master sets with AFN04 F65..F68
# ask; the tasks are saved with the settings; the cursor still moves only over what the master
# confirmed.
import json

from mp_support import ask_terminal, eq
from firmware import quantities as qs
from firmware import log_records
from firmware.hal.norflash import NorFlash
from firmware.ringlog import RingLog
from firmware.terminal import Terminal
from firmware.uplink import CURSOR, EventIndex, Uploader
from firmware.vclock import VirtualClock
from firmware.wallclock import WallClock
from protocol import clock_math, gw376
from protocol import settings as schema

START = 848000000                       # 2026-11-15 17:46:40 (seconds since 2000)
PW = bytes.fromhex("7077") + bytes(14)
RT = [qs.item_id(qs.REALTIME, q) for q in (1, 2, 3, 4, 5, 6, 11, 14, 17, 21)]
FROZEN = [qs.item_id(qs.FROZEN, q) for q in (1, 2, 3, 4, 5)]


class Store:
    def __init__(self):
        self.saved = None

    def save(self, settings):
        self.saved = dict(settings)


def setup():
    log = RingLog(NorFlash(block_size=4096, block_count=8), create=True)
    s = schema.defaults()
    s.update({"terminal.area": 4101, "terminal.address": 7, "comm.password": "7077" + "00" * 14})
    clock = VirtualClock()
    wall = WallClock(clock, START)
    ev = EventIndex(log)
    ev.read_to = 0
    term = Terminal(s, wall, log, events=ev, store=Store())
    return log, term, ev, s, wall


def drain(up, log, confirm=True):
    """Every frame the uploader has now, confirmed one by one; the parsed frames."""
    out = []
    pseq = 0
    while True:
        got = up.next_frame(pseq)
        if got is None:
            return out
        frame = gw376.parse(bytes(got[0][:got[1]]))
        out.append(frame)
        if confirm:
            up.on_answer(pseq, True)
        pseq = (pseq + 1) & 15


def test_records_go_as_standard_units_by_default_and_nothing_else():
    log, term, ev, s, wall = setup()
    rt = [123456, 30000, 30000, 30000, 33456, 789, 2203, 1234, 15000, 987]
    log_records.append_readings(log, 1, START - 900, RT, rt)
    log_records.append_readings(log, 2, START - 900, RT[:5], [5000, 1000, 1000, 1000, 2000])
    log_records.append_marker(log, START - 800, 7)
    log_records.append_event(log, 0, START - 700, 3, bytes(5) + b"\x01" + b"\x00\x00\x01\x00")
    log_records.append_readings(log, 1, START - 600, FROZEN, [123000, 30000, 30000, 30000, 33000])
    log_records.append_event(log, 1, START - 500, 31, bytes(16))
    up = Uploader(log, term, ev, window=4, max_frame=600)
    frames = drain(up, log)
    eq([f.afn for f in frames], [0x0C, 0x0E, 0x0D, 0x0E])
    for f in frames:
        eq((f.prm, f.con, f.direction), (1, True, 1))
        for unit in f.units:
            if unit[1] == 241:
                raise AssertionError("vendor unit in standard mode")
    units = {(pn, fn): data for pn, fn, data in frames[0].units}
    eq(sorted(units), [(1, 25), (1, 129), (1, 131), (2, 129)])
    t = clock_math.from_seconds(START - 900)
    eq(units[(1, 129)]["read_time"], (t[0], t[1], t[2], t[3], t[4]))
    eq(units[(1, 129)]["forward_active"], [12345600, 3000000, 3000000, 3000000, 3345600])
    eq(units[(1, 131)]["reverse_active"][0], 78900)
    eq((units[(1, 25)]["voltage"][0], units[(1, 25)]["current"][0],
        units[(1, 25)]["active_power"][0], units[(1, 25)]["power_factor"][0]),
       (2203, 1234, 15000, 987))
    eq([(pn, fn) for pn, fn, _ in frames[1].units], [(0, 2)])          # ERC3: a normal event
    eq(frames[1].units[0][2]["records"][0]["erc"], 3)
    frozen = frames[2].units[0]
    t = clock_math.from_seconds(START - 600)
    eq((frozen[0], frozen[1], frozen[2]["td"]), (1, 161, (t[0], t[1], t[2])))
    eq(frozen[2]["forward_active"][0], 12300000)
    eq((frames[3].units[0][1], frames[3].acd), (1, 1))                 # ERC31: important, ACD
    eq(log.cursor(CURSOR), log.next_seq)                               # all confirmed, markers too


def test_a_lost_confirm_sends_the_same_units_again_and_the_cursor_waits():
    log, term, ev, s, wall = setup()
    for i in range(3):
        log_records.append_readings(log, 1 + i, START - 900, RT[:5], [100 + i] * 5)
    up = Uploader(log, term, ev, window=4, max_frame=600)
    first = drain(up, log, confirm=False)
    eq(len(first), 1)
    eq(log.cursor(CURSOR), 1)
    up.restart()                                   # a reconnect: from the cursor again
    again = drain(up, log)
    eq(again[0].units, first[0].units)
    eq(log.cursor(CURSOR), log.next_seq)


def _ask(term, frame):
    return ask_terminal(term, frame, VirtualClock())


def test_tasks_set_by_the_master_are_saved_and_decide_what_goes_when():
    log, term, ev, s, wall = setup()
    base = clock_math.from_seconds(START - 3600)
    task = {"unit": 0, "period": 15, "ratio": 1, "units": [(1, 129)],
            "base": (base[0], base[1], base[2], base[3], base[4], base[5], 1)}
    got = _ask(term, gw376.Frame(0x04, [(1, 65, task), (1, 67, {"action": 0x55})],
                                 area=4101, terminal=7, master=1, pw=PW))
    eq(got[0].units[0][1], 1)                                          # confirmed
    saved = term.store.saved["report.tasks"]
    eq(saved, [[1, 1, 0, 15, START - 3600, 1, 1, [(1, 129)]]])      # (pn, fn) pairs as tuples
    rebooted = schema.load(json.loads(json.dumps(term.store.saved)))[0]["report.tasks"]
    eq(rebooted, saved)             # valid after a reboot, and equal: a repeated set changes nothing
    back = _ask(term, gw376.Frame(0x0A, [(1, 65, None), (1, 67, None)], area=4101, terminal=7,
                                  master=1))
    eq(back[0].units[0][2]["units"], [(1, 129)])
    eq(back[0].units[1][2]["action"], 0x55)

    boundary = START - 3600 + (3600 // 900) * 900          # the last boundary before START
    log_records.append_readings(log, 1, boundary - 60, RT[:5], [1] * 5)     # due
    log_records.append_readings(log, 2, boundary - 50, RT[:5], [2] * 5)     # p2: not asked for
    log_records.append_readings(log, 1, boundary + 60, RT[:5], [3] * 5)     # after the boundary
    up = Uploader(log, term, ev, window=4, max_frame=600)
    frames = drain(up, log)
    # the parameter change (ERC3, a normal event, at the boundary), then p1's reading
    eq([[(pn, fn) for pn, fn, _ in f.units] for f in frames], [[(0, 2)], [(1, 129)]])
    eq(frames[1].units[0][2]["forward_active"][0], 100)
    eq(log.cursor(CURSOR), 4)                      # the third waits for the next boundary
    wall.set(boundary + 900)
    frames = drain(up, log)
    eq(frames[0].units[0][2]["forward_active"][0], 300)
    eq(log.cursor(CURSOR), log.next_seq)

    # stopped (F67 AAH): nothing is asked for, readings are stepped over; events still go
    _ask(term, gw376.Frame(0x04, [(1, 67, {"action": 0xAA})], area=4101, terminal=7, master=1,
                           pw=PW))
    eq(term.settings["report.tasks"][0][6], 0)
    log_records.append_readings(log, 1, boundary + 950, RT[:5], [4] * 5)
    log_records.append_event(log, 1, boundary + 960, 31, bytes(16))
    frames = drain(up, log)
    eq([(f.afn, f.units[0][1]) for f in frames], [(0x0E, 2), (0x0E, 1)])    # ERC3, ERC31
    eq(log.cursor(CURSOR), log.next_seq)


def test_the_same_tasks_set_again_change_nothing_and_record_nothing():
    log, term, ev, s, wall = setup()
    base = clock_math.from_seconds(START)
    task = {"unit": 1, "period": 1, "ratio": 1, "units": [(0xFFFF, 129)],
            "base": (base[0], base[1], base[2], base[3], base[4], base[5], 1)}
    frame = gw376.Frame(0x04, [(2, 65, task), (2, 67, {"action": 0x55})], area=4101,
                        terminal=7, master=1, pw=PW)
    _ask(term, frame)
    events = log.next_seq
    term.store.saved = None
    eq(_ask(term, frame)[0].units[0][1], 1)                  # confirmed again
    eq((log.next_seq, term.store.saved), (events, None))      # no ERC3, no rewrite


def test_the_station_switches_the_compact_mode_on_with_the_vendor_afn04_f241():
    log, term, ev, s, wall = setup()
    log_records.append_readings(log, 1, START - 900, RT[:5], [7] * 5)
    got = _ask(term, gw376.Frame(0x04, [(0, 241, {"compact": 1})], area=4101, terminal=7,
                                 master=1, pw=PW))
    eq((got[0].units[0][1], term.store.saved["report.compact"]), (1, 1))
    up = Uploader(log, term, ev, window=4, max_frame=600)
    eq([fn for _, fn, _ in drain(up, log)[0].units], [241])      # ring-log records again
    back = _ask(term, gw376.Frame(0x0A, [(0, 241, None)], area=4101, terminal=7, master=1))
    eq(back[0].units[0][2], {"compact": 1})
    bad = _ask(term, gw376.Frame(0x04, [(0, 241, {"compact": 7})], area=4101, terminal=7,
                                 master=1, pw=PW))
    eq(bad[0].units[0][1], 2)                                      # denied: 0 or 1 only


def test_held_reports_are_looked_at_again_in_a_while_not_at_every_turn():
    log, term, ev, s, wall = setup()
    s["report.tasks"] = [[1, 1, 1, 1, START - 1800, 1, 1, [[0xFFFF, 129]]]]    # hourly
    log_records.append_readings(log, 1, START + 10, RT[:5], [5] * 5)    # after the last boundary
    up = Uploader(log, term, ev, window=4, max_frame=600)
    eq(up.has_work(), True)
    eq(drain(up, log), [])                                 # held for the boundary
    eq(up.has_work(), False)                               # and not looked at every turn
    wall.set(START + 1800)                                 # the next hourly boundary
    eq(up.has_work(), True)
    eq([fn for _, fn, _ in drain(up, log)[0].units], [129])


def test_a_standard_frame_leaves_no_code_behind_it():
    # the report code, the data formats and their BCD helpers are loaded for the frame and
    # dropped again while the 1376.1 codec is not loaded for a request
    import sys
    log, term, ev, s, wall = setup()
    log_records.append_readings(log, 1, START - 900, RT, [123456, 30000, 30000, 30000, 33456, 789,
                                                      2203, 1234, 15000, 987])
    up = Uploader(log, term, ev, window=4, max_frame=600)
    eq(up.next_frame(0) is not None, True)
    eq([m for m in ("firmware.reports", "protocol.gw376_formats", "protocol.bcd")
        if m in sys.modules], [])


CURVE = [qs.item_id(qs.CURVE, q) for q in (1, 2, 3, 4, 5, 6, 11, 14, 17, 21, 25)]
CURVE_VALUES = [123456, 30000, 30000, 30000, 33456, 789, 2203, 1234, 15000, 987, 5000]


def test_curve_points_go_as_afn0d_curves_and_the_task_ratio_thins_them():
    log, term, ev, s, wall = setup()
    one = START - START % 86400 - 86400 + 3600               # 01:00 yesterday
    log_records.append_readings(log, 1, one, CURVE, CURVE_VALUES)
    log_records.append_readings(log, 1, one + 900, CURVE, CURVE_VALUES)
    up = Uploader(log, term, ev, window=4, max_frame=600)
    frames = drain(up, log)
    eq([f.afn for f in frames], [0x0D])
    units = {(pn, fn): data for pn, fn, data in frames[0].units}
    # each stored quantity in its curve: F101 forward / F103 reverse energy register, F89
    # voltage A, F92 current A, F81 power, F105 power factor; frequency (q25) and the tariff
    # registers have no curve unit and are not sent
    eq(sorted(set(fn for _, fn in units)), [81, 89, 92, 101, 103, 105])
    eq(len(frames[0].units), 12)
    t = clock_math.from_seconds(one)
    first = [data for pn, fn, data in frames[0].units if fn == 101][0]
    eq(first, {"start": (t[0], t[1], t[2], t[3], t[4]), "density": 1, "points": 1,
               "values": [123456]})
    eq([data["values"][0] for pn, fn, data in frames[0].units if fn in (89, 92, 81, 105, 103)][:5],
       [15000, 2203, 1234, 789, 987])
    eq(log.cursor(CURSOR), log.next_seq)

    # a class 2 task with R = 4 on 15-minute curves: the hourly points, density 60 min (3)
    s["report.tasks"] = [[2, 1, 0, 15, one - 3600, 4, 1, [[0xFFFF, 101], [0xFFFF, 89]]]]
    log_records.append_readings(log, 1, one + 1800, CURVE, CURVE_VALUES)     # 01:30: thinned out
    log_records.append_readings(log, 1, one + 3600, CURVE, CURVE_VALUES)     # 02:00: reported
    frames = drain(up, log)
    eq([[(fn, d["start"][3], d["start"][4], d["density"]) for pn, fn, d in f.units]
        for f in frames], [[(89, 2, 0, 3), (101, 2, 0, 3)]])
    eq(log.cursor(CURSOR), log.next_seq)                  # the thinned point is stepped over


def test_a_freeze_on_the_first_of_a_month_is_also_the_month_before_as_f177():
    log, term, ev, s, wall = setup()
    first = clock_math.to_seconds(2026, 11, 1)                   # 2026-11-01 00:00
    wall.set(first + 3600)
    log_records.append_readings(log, 1, first, FROZEN, [123000, 30000, 30000, 30000, 33000])
    log_records.append_readings(log, 2, first - 86400, FROZEN, [5000, 1000, 1000, 1000, 2000])
    up = Uploader(log, term, ev, window=4, max_frame=600)
    frames = drain(up, log)
    eq([(pn, fn, d["td"]) for f in frames for pn, fn, d in f.units],
       [(1, 161, (2026, 11, 1)), (1, 177, (2026, 10)), (2, 161, (2026, 10, 31))])
    monthly = frames[0].units[1][2]
    eq((monthly["forward_active"], monthly["read_time"]),
       ([12300000, 3000000, 3000000, 3000000, 3300000], (2026, 11, 1, 0, 0)))


def test_a_slot_s_real_time_and_curve_batches_go_as_two_frames_confirmed_together():
    # the poller logs, per meter, a real-time batch (AFN0C units) then the slot's curve point
    # (AFN0D): the records of a run go out as one AFN0C and one AFN0D frame, not one per record
    log, term, ev, s, wall = setup()
    slot = START - START % 900
    for pn in (1, 2, 3):
        log_records.append_readings(log, pn, slot + 2, RT, [100 * pn] * 10)
        log_records.append_readings(log, pn, slot, CURVE, CURVE_VALUES)
    up = Uploader(log, term, ev, window=4, max_frame=600)
    start = log.cursor(CURSOR)
    a = up.next_frame(1)
    fa = gw376.parse(bytes(a[0][:a[1]]))           # the buffer holds one frame at a time
    b = up.next_frame(2)
    fb = gw376.parse(bytes(b[0][:b[1]]))
    eq(up.next_frame(3), None)
    eq((fa.afn, fb.afn, fa.seq, fb.seq), (0x0C, 0x0D, 1, 2))
    eq(sorted(set(pn for pn, _, _ in fa.units)), [1, 2, 3])
    eq(sorted(set(pn for pn, _, _ in fb.units)), [1, 2, 3])
    for pseq, parsed in ((1, fa), (2, fb)):         # resent: built again from the ring log
        slot = [x for x in up.slots if x.pseq == pseq][0]
        got = up.resend(slot, 1)
        eq(gw376.parse(bytes(got[0][:got[1]])), parsed)
    eq(up.on_answer(2, True), True)                 # the curve frame confirmed first:
    eq(log.cursor(CURSOR), start)                   # the cursor waits for its partner
    up.restart()                                    # a reconnect: both built again, same units
    again = drain(up, log)
    eq([f.units for f in again], [fa.units, fb.units])
    eq(log.cursor(CURSOR), log.next_seq)            # both confirmed: every record delivered
