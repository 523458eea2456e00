# Wear: the ring erases every sector in turn, so after 100 full wraps the erase counts differ by
# at most one, and each sector header's erase count is the true one. Under MicroPython.
from mp_support import eq

from firmware import log_records
from firmware.hal.norflash import NorFlash
from firmware.ringlog import RingLog, _u32

ITEMS = list(range(15))


def test_100_wraps_spread_erases_evenly():
    flash = NorFlash(block_size=1024, block_count=8)
    log = RingLog(flash, create=True)
    log.cursor("uplink")
    values = [12345678, 3012345, 4023456, 2987654, 2321223, 0, 2201, 2198, 2205, 5123, 4980,
              5301, 11345, 987, -250]
    i = 0
    while min(flash.erase_counts) < 101:
        values[0] += 7
        log_records.append_readings(log, 1, i, ITEMS, values)
        if i % 50 == 0:
            log.advance("uplink", log.next_seq)
            log = RingLog(flash)          # remounts along the way change nothing
        i += 1
    counts = list(flash.erase_counts)
    assert max(counts) - min(counts) <= 1, "erase counts %r" % counts
    header = bytearray(20)
    used = log.stats()["sectors_used"]
    eq(used, 8, "every sector in use")
    for s in range(8):
        flash.readblocks(s, header, 0)
        eq(_u32(header, 12), counts[s], "header erase count of sector %d" % s)
    eq(log.lost("uplink"), 0, "a cursor that keeps up loses nothing")
