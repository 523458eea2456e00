# The boot's ring-log decisions (firmware/startup.py) under the real MicroPython: when a power
# off/on event (ERC14) is recorded, with which times, and the orderly-stop marker.
from mp_support import eq
from firmware import concentrator as conc
from protocol.clock_math import format15
from firmware import log_records, startup
from firmware.hal.norflash import NorFlash
from firmware.ringlog import EVENT, MARKER, RingLog
from protocol import clock_math

T0 = clock_math.to_seconds(2026, 11, 25, 10, 0, 0)


class _Wall:
    def __init__(self, now):
        self.t = now

    def now(self):
        return self.t


def _board(log, dev, now):
    c = conc.Concentrator()
    c.log = log
    c.dev = dev
    c.wall = _Wall(now)
    c.boot_at = now
    return c


def _events(log, erc):
    return [r for r in log.records(0, rtype=EVENT) if r[4][0] == erc]


def _fresh():
    dev = NorFlash(block_size=4096, block_count=4)
    return dev, RingLog(dev, create=True)


def test_first_boot_records_no_power_event_only_the_boot_marker():
    dev, log = _fresh()
    startup._record_boot(_board(log, dev, T0))
    eq(_events(log, conc.ERC14), [], "no ERC14 on an empty log")
    last = log.latest()
    eq((last[1], last[4][0]), (MARKER, log_records.MARK_BOOT), "boot marker")


def test_an_orderly_stop_is_not_a_power_cut():
    dev, log = _fresh()
    c = _board(log, dev, T0)
    startup._record_boot(c)
    log_records.append_readings(log, 1, T0 + 60, [1], [12345])
    c.wall.t = T0 + 90
    c.stopped()                                  # what Ctrl-C from `conc` leads to
    log = RingLog(dev)                           # the next boot mounts again
    c2 = _board(log, dev, T0 + 100)
    startup._record_boot(c2)
    eq(_events(log, conc.ERC14), [], "no ERC14 after a stop marker")
    eq(c2.power_off_at, None, "no power-off time")


def test_a_power_cut_records_erc14_with_the_newest_time_among_the_last_records():
    dev, log = _fresh()
    startup._record_boot(_board(log, dev, T0))
    log_records.append_readings(log, 1, T0 + 300, [1], [100])      # a real-time reading
    log_records.append_readings(log, 1, T0 + 240, [65], [100])     # then its curve point (slot start)
    # the power goes: nothing more is written
    log = RingLog(dev)
    c = _board(log, dev, T0 + 3600)
    startup._record_boot(c)
    eq(c.power_off_at, T0 + 300, "newest timestamp, not the last record's")
    erc14 = _events(log, conc.ERC14)
    eq(len(erc14), 1, "one ERC14")
    eq(erc14[0][4][1:], format15(T0 + 300) + format15(T0 + 3600), "off and on times")


def test_time15_is_format_15_minute_first_bcd():
    seconds = clock_math.to_seconds(2026, 3, 9, 7, 45, 59)
    eq(format15(seconds), bytes((0x45, 0x07, 0x09, 0x03, 0x26)), "format 15")
