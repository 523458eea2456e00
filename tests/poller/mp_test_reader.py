# heapsize: 256K
# The poller's building blocks under MicroPython: requests built in place, replies decoded from
# the wire bytes without allocating, timeouts from wire time, per-point state sizes, event
# layouts, plan boundaries.
import micropython

from mp_support import eq, unhex
from firmware import events as ev
from event_decode import decode
from firmware import meter_state as ms
from firmware import plans as pl
from firmware.hal.norflash import NorFlash
from firmware.bus_link import BusLink
from firmware.meter_reader import MeterReader
from firmware.meter_state import MeterState
from firmware.log_records import unpack_event
from firmware.ringlog import RingLog
from protocol import clock_math, dlt645


class FakePort:
    char_us = 11 * 1000000 // 2400      # 2400 baud 8E1
    pollable = None

    def __init__(self):
        self.sent = []
        self.pending = b""

    def write(self, buf):
        self.sent.append(bytes(buf))
        return len(buf)

    def readinto(self, buf):
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def slot_for(address):
    slot = bytearray(40)
    slot[0] = 1
    slot[1] = 30
    slot[6:12] = dlt645.address_bytes(address)
    return slot


def test_requests_are_built_in_place_exactly_as_the_codec_builds_them():
    link = BusLink(None, None, FakePort())
    link.set_meter(slot_for("151230011061"))
    link._build(link.tx, 0x11, 0x0001FF00, 4)
    eq(bytes(link.tx), dlt645.build_read("151230011061", 0x0001FF00))
    link._build(link.tx97, 0x01, 0x901F, 2)
    eq(bytes(link.tx97), dlt645.build_read_1997("151230011061", 0x901F))


def test_the_time_broadcast_is_built_in_place_exactly_as_the_codec_builds_it():
    port = FakePort()
    port.pending = b"\x68noise"            # whatever waits on the bus is drained first
    link = BusLink(None, None, port)
    for t in ((2026, 3, 5, 3, 17, 9), (2099, 12, 31, 23, 59, 59), (2000, 1, 1, 0, 0, 0)):
        port.sent = []
        eq(link.broadcast_time(t + (4,)), 18)    # a calendar carries the weekday too
        eq(port.sent, [dlt645.build_broadcast_time(t)])
    eq(port.pending, b"")


def test_the_reply_timeout_is_wire_time_plus_the_turnaround_allowance():
    link = BusLink(None, None, FakePort(), turnaround_ms=500)
    # 16-byte request + 36-byte reply at 4583 us a character = 238 ms, + 500 + 20
    eq(link.timeout_ms(16, 36), 758)
    eq(link.gap_ms, 50)


def _feed_reply(link, address, di, payload):
    frame = dlt645.build_read_reply(address, di, payload)
    link._build(link.tx, 0x11, di, 4)
    link.df.feed(b"\xfe\xfe" + frame)
    size = link.df.next_frame()
    eq(size, len(frame))
    return size


def test_a_reply_is_matched_and_decoded_from_the_wire_bytes_without_allocating():
    link = BusLink(None, None, FakePort())
    reader = MeterReader(link, MeterState(8))
    link.set_meter(slot_for("000000000001"))
    # energy block: 1234.56 kWh total, tariffs; current -1.234 A (signed); a no-data element
    energy = unhex("56341200 00100000 00200000 00300000 EEEEEEEE")
    size = _feed_reply(link, "000000000001", 0x0001FF00, energy)
    values = []
    micropython.heap_lock()
    try:
        ok = link._matches(link.tx, 0x11, 4)
        at = link.payload_at(4)
        for i in range(link.length // 4):
            reader._put(0, 1 + i, link.element(at + 4 * i, 4, 0))
    finally:
        micropython.heap_unlock()
    eq(ok, True)
    eq(size > 0, True)
    for i in range(reader.count):
        values.append((reader.items[i], reader.values[i]))
    eq(values, [(1, 123456), (2, 1000), (3, 2000), (4, 3000), (5, None)])
    eq(reader.energy, 123456)
    _feed_reply(link, "000000000001", 0x02020100, unhex("341281"))
    eq(link._matches(link.tx, 0x11, 4), True)
    at = link.payload_at(4)
    eq(link.element(at, 3, 1), -11234)


def test_replies_that_do_not_answer_the_request_are_refused():
    link = BusLink(None, None, FakePort())
    link.set_meter(slot_for("000000000001"))
    _feed_reply(link, "000000000002", 0x00010000, unhex("00000000"))   # another meter
    eq(link._matches(link.tx, 0x11, 4), False)
    frame = dlt645.build_read_reply("000000000001", 0x00020000, unhex("00000000"))
    link.df.feed(frame)                                             # another DI
    link.df.next_frame()
    eq(link._matches(link.tx, 0x11, 4), False)
    frame = dlt645.build_error_reply("000000000001", 0x11, dlt645.ERR_NO_DATA)
    link.df.feed(frame)                                             # abnormal: an answer
    link.df.next_frame()
    eq(link._matches(link.tx, 0x11, 4), True)
    eq((link.abnormal, link.error), (True, dlt645.ERR_NO_DATA))


def test_a_non_bcd_element_marks_the_reply_bad():
    link = BusLink(None, None, FakePort())
    link.set_meter(slot_for("000000000001"))
    _feed_reply(link, "000000000001", 0x00010000, unhex("5634A200"))
    link._matches(link.tx, 0x11, 4)
    at = link.payload_at(4)
    link.bad = False
    eq(link.element(at, 4, 0), None)
    eq(link.bad, True)


def test_per_point_state_is_preallocated_at_eleven_bytes_a_point():
    import gc
    gc.collect()
    before = gc.mem_alloc()
    state = MeterState(2040)
    gc.collect()
    # the arrays and their headers: 2041 x 11 bytes plus a few hundred of object overhead
    eq(gc.mem_alloc() - before <= 2041 * ms.BYTES_PER_POINT + 512, True, "heap of MeterState")
    size = (len(state.fails) + len(state.flags) + len(state.frozen) +
            len(state.last_good) * 4 + len(state.last_energy) * 4)
    eq(size, 2041 * ms.BYTES_PER_POINT)
    state.frozen[5] = 0b011
    state.flags[5] = ms.CLOCK_DONE | ms.NO_BLOCKS
    state.new_day([5], 1)
    eq((state.frozen[5], state.flags[5]), (0b110, ms.NO_BLOCKS))


class Wall:
    def __init__(self, now):
        self.t = now

    def now(self):
        return self.t


def _events():
    log = RingLog(NorFlash(block_size=4096, block_count=4), create=True)
    state = MeterState(16)
    return log, state, ev.Events(log, Wall(0), state, fail_count=2, clock_error_s=300)


def _logged(log):
    return [unpack_event(r[4]) + (r[2],) for r in log.records()]


def test_erc31_is_raised_after_k_failures_once_and_restored_by_a_success():
    log, state, events = _events()
    t = clock_math.to_seconds(2026, 3, 5, 10, 15)
    events.read_ok(3, 123456, t)
    events.read_failed(3, t + 60)
    eq(_logged(log), [])
    events.read_failed(3, t + 120)
    events.read_failed(3, t + 180)
    events.read_ok(3, 123500, t + 240)
    got = _logged(log)
    eq([(erc, len(data), point) for erc, data, point in got], [(31, 21, 3), (31, 21, 3)])
    start = decode(31, got[0][1])
    eq((start["start"], start["time"], start["last_read_time"], start["forward_active"]),
       (True, (2026, 3, 5, 10, 17), (2026, 3, 5, 10, 15), 12345600))
    restore = decode(31, got[1][1])
    eq((restore["start"], restore["forward_active"]), (False, 12350000))


def test_erc27_on_a_decreasing_energy_and_erc12_on_a_clock_off_by_more_than_the_limit():
    log, state, events = _events()
    t = clock_math.to_seconds(2026, 3, 5, 10, 15)
    events.read_ok(4, 5000, t)
    events.read_ok(4, 4999, t + 60)
    events.clock_checked(5, t + 301, t)      # 301 s fast: raised
    events.clock_checked(5, t + 400, t)      # still off: not again
    events.clock_checked(5, t + 2, t)        # back in range: restored
    events.clock_checked(6, t - 300, t)      # exactly the limit: fine
    got = _logged(log)
    eq([(erc, len(data), point) for erc, data, point in got],
       [(27, 17, 4), (12, 7, 5), (12, 7, 5)])
    d = decode(27, got[0][1])
    eq((d["before"], d["after"]), (500000, 499900))
    eq([decode(12, g[1])["start"] for g in got[1:]], [True, False])


def test_plan_boundaries_and_due_slots():
    plans = pl.Plans({"plan.realtime_min": 15, "plan.curve_min": 15, "plan.frozen_at": 5,
                      "plan.time_sync_at": 197, "plan.realtime_items": "energy_fwd_block"})
    day = clock_math.to_seconds(2026, 3, 5)
    eq(plans.next_wake(day - 600), day)                     # 23:50 -> 00:00
    eq(plans.next_wake(day), day + 300)                     # 00:00 -> 00:05 frozen data
    eq(plans.next_wake(day + 300), day + 900)               # -> 00:15
    eq(plans.next_wake(day + 3 * 3600 + 900), day + 197 * 60)   # 03:15 -> 03:17 time sync
    sched = pl.BusSchedule(plans, day - 600)
    # booted after 00:05: today's frozen data is collected at once
    eq(sched.due(day - 600), pl.DUE_REALTIME | pl.DUE_CURVE | pl.DUE_FROZEN)
    sched.frozen_pending = False
    eq(sched.due(day - 590), 0)
    eq(sched.due(day), pl.DUE_NEW_DAY | pl.DUE_REALTIME | pl.DUE_CURVE)
    eq(sched.due(day + 300), pl.DUE_FROZEN)
    sched.frozen_pending = False                            # every meter answered
    eq(sched.due(day + 900), pl.DUE_REALTIME | pl.DUE_CURVE)
    eq(sched.due(day + 3 * 3600 + 900), pl.DUE_REALTIME | pl.DUE_CURVE)
    eq(sched.due(day + 197 * 60), pl.DUE_TIME_SYNC)
    eq(sched.due(day + 198 * 60), 0)                        # once a day
    eq(sched.due(day + 3 * 3600 + 45 * 60), pl.DUE_REALTIME | pl.DUE_CURVE)
    sched.sync_requested = True                             # the master set the clock:
    eq(sched.due(day + 4 * 3600 - 30), 0)                   # not within a minute of the hour
    eq(sched.due(day + 4 * 3600 + 30), pl.DUE_REALTIME | pl.DUE_CURVE)
    eq(sched.due(day + 4 * 3600 + 61), pl.DUE_TIME_SYNC)
    eq(sched.due(day + 4 * 3600 + 62), 0)
