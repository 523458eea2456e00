"""What the poller remembers about every measuring point, in preallocated arrays.

No object per meter: 2040 points would cost a Python object (and its dict) each, tens of bytes
before any field. Instead every field is one array indexed by measuring point, allocated once
at boot up to the highest point in the archive (firmware/startup.py; MAX_POINT when not given),
so a meter costs no object and no allocation while the firmware runs:

    fails[p]       bytearray   consecutive failed reads (saturates at 255)
    flags[p]       bytearray   NO_BLOCKS, NO_FREEZE, FAIL_RAISED, CLOCK_BAD, CLOCK_DONE,
                               ENERGY_KNOWN, MIDNIGHT_DONE, FROZEN_TRIED (bits below)
    frozen[p]      bytearray   bit d: the daily freeze of d days ago (0 = today's 00:00) stored
    last_good[p]   array 'I'   wall seconds (since 2000) of the last successful read
    last_energy[p] array 'I'   forward active energy total at that read, 0.01 kWh

11 bytes a point; with the archive's 1-byte bus index, 12. Nothing here is persisted: after a
restart the flags are learnt again (one "no data" answer per block DI) and the frozen bits
come back from the backfill.
"""
from array import array

from protocol.compat import const
from protocol.meter_record import MAX_POINT

NO_BLOCKS = const(0x01)      # answered "no requested data" to a block DI: read single DIs
NO_FREEZE = const(0x02)      # has no daily freeze: its midnight reading is the frozen value
FAIL_RAISED = const(0x04)    # ERC31 raised, waiting for its restore
CLOCK_BAD = const(0x08)      # ERC12 raised, not raised again until the clock is back in range
CLOCK_DONE = const(0x10)     # clock checked today
ENERGY_KNOWN = const(0x20)   # last_energy holds a real reading (ERC27 compares against it)
MIDNIGHT_DONE = const(0x40)  # today's midnight reading stored (meters without freeze)
FROZEN_TRIED = const(0x80)   # answered today's frozen-data reads: missing days do not exist

BYTES_PER_POINT = const(11)


class MeterState:
    def __init__(self, points=MAX_POINT):
        size = points + 1                    # index = measuring point, 0 unused
        self.points = points
        self.fails = bytearray(size)
        self.flags = bytearray(size)
        self.frozen = bytearray(size)
        self.last_good = array("I", bytes(4 * size))
        self.last_energy = array("I", bytes(4 * size))

    def forget(self, point):
        """A point was re-configured: start it afresh."""
        self.fails[point] = 0
        self.flags[point] = 0
        self.frozen[point] = 0
        self.last_good[point] = 0
        self.last_energy[point] = 0

    def new_day(self, points, days):
        """`days` midnights passed: age the frozen bits of `points` and clear daily flags."""
        frozen = self.frozen
        flags = self.flags
        keep = ~(CLOCK_DONE | MIDNIGHT_DONE | FROZEN_TRIED)
        for p in points:
            frozen[p] = (frozen[p] << days) & 0xFF if days < 8 else 0
            flags[p] &= keep

    def snapshot(self, point):
        """The state of one point as a dict (status commands, tests)."""
        return {"fails": self.fails[point], "flags": self.flags[point],
                "frozen": self.frozen[point], "last_good": self.last_good[point],
                "last_energy": self.last_energy[point]}
