"""The meter archive on the board's filesystem, and its compact index in RAM.

Meters live in one file of fixed 40-byte slots (protocol/meter_record.py), slot N-1 for
measuring point N, so reading a meter's entry is one seek and one read. RAM holds only the bus
of every point up to the highest one in use (one byte each: 256 points cost 257 bytes, 2040
points 2 KB), which is all the pollers need to know which points are theirs. Edits are applied in one pass that copies the file to a temporary name
and renames it over the old one, so a power cut leaves either the old archive or the new one.
"""
import os

from protocol.errors import ProtocolError
from protocol.meter_record import SLOT_SIZE, MAX_POINT

CHUNK_SLOTS = 32      # slots per file read or write: a 1.25 KB buffer


class Archive:
    def __init__(self, path="meters.dat"):
        self.path = path
        self.bus_of = bytearray(1)   # bus of point N, 0 = no meter; up to the highest point
        self._slot = bytearray(SLOT_SIZE)
        self._load_index()

    def __len__(self):
        count = 0
        for bus in self.bus_of:
            if bus:
                count += 1
        return count

    def points(self, bus=0):
        """Measuring points in order, all of them or those on one bus."""
        bus_of = self.bus_of
        for point in range(1, len(bus_of)):
            if bus_of[point] and (not bus or bus_of[point] == bus):
                yield point

    def bus(self, point):
        """The bus of a point, 0 when it has no meter."""
        return self.bus_of[point] if 0 < point < len(self.bus_of) else 0

    def read_slot(self, point, buf):
        """Fill `buf` (SLOT_SIZE bytes) with point's slot; False when there is no meter."""
        if not self.bus(point):
            return False
        with open(self.path, "rb") as f:
            f.seek((point - 1) * SLOT_SIZE)
            return f.readinto(buf) == SLOT_SIZE

    def protocol_code(self, point):
        """The protocol code in a point's slot (protocol/meter_record.py: 1 = 645-1997,
        30 = 645-2007, 200 = Modbus RTU), 0 when there is no meter: read from the raw slot,
        as the pollers read it, without loading the entry codec."""
        return self._slot[1] if self.read_slot(point, self._slot) else 0

    def get(self, point):
        """The entry of a point as a dict, or None."""
        if not self.read_slot(point, self._slot):
            return None
        from protocol import meter_record   # not resident: see firmware/startup.py
        return meter_record.unpack(self._slot, point)

    def apply(self, changes):
        """Apply {point: entry-or-None} atomically; return the number of points changed.

        Every entry is validated first and an address used twice on one bus is refused, so
        nothing is written unless all of it is good. Send large imports in batches (the
        host sends 64 at a time): the batch is held in RAM at 40 bytes a point.
        """
        from protocol import meter_record
        points = sorted(changes)
        slots = bytearray(SLOT_SIZE * len(points))     # all-zero slot = remove
        mv = memoryview(slots)
        for i, point in enumerate(points):
            if not isinstance(point, int) or not 1 <= point <= MAX_POINT:
                raise ProtocolError("measuring point must be 1..%d, not %r" % (MAX_POINT, point))
            entry = changes[point]
            if entry is not None:
                entry = dict(entry)
                entry["point"] = point
                meter_record.pack(meter_record.validate(entry), mv[i * SLOT_SIZE:])
        self._check_unique(points, slots)
        self._rewrite(points, slots)
        self._load_index()
        return len(points)

    def _scan(self, visit):
        """Call visit(point, chunk, offset) for every in-use slot, reading the file in chunks."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        buf = bytearray(SLOT_SIZE * CHUNK_SLOTS)
        point = 1
        with f:
            while point <= MAX_POINT:
                n = f.readinto(buf)
                if not n:
                    break
                for off in range(0, n - SLOT_SIZE + 1, SLOT_SIZE):
                    if buf[off] & 1:
                        visit(point, buf, off)
                    point += 1

    def _load_index(self):
        # sized to the file's slots (the highest point in use: _rewrite ends the file there);
        # never shrunk, so a point a poller sized its state to stays indexable
        try:
            slots = min(os.stat(self.path)[6] // SLOT_SIZE, MAX_POINT)
        except OSError:
            slots = 0
        if slots + 1 > len(self.bus_of):
            self.bus_of = bytearray(slots + 1)
        bus_of = self.bus_of
        for i in range(len(bus_of)):
            bus_of[i] = 0

        def visit(point, buf, off):
            bus_of[point] = buf[off + 2]
        self._scan(visit)

    def _check_unique(self, points, slots):
        # Keys of the batch only: a dict over all 2040 points would not fit the heap.
        batch = {}
        for i, point in enumerate(points):
            off = i * SLOT_SIZE
            if slots[off]:
                key = (slots[off + 2], bytes(slots[off + 6:off + 12]))
                if key in batch:
                    raise ProtocolError("points %d and %d have the same bus and address"
                                        % (batch[key], point))
                batch[key] = point
        if not batch:
            return

        def visit(point, buf, off):
            if point not in changes_points:
                other = batch.get((buf[off + 2], bytes(buf[off + 6:off + 12])))
                if other is not None:
                    raise ProtocolError("point %d has the same bus and address as point %d"
                                        % (other, point))
        changes_points = points
        self._scan(visit)

    def _rewrite(self, points, slots):
        last = 0
        for point in self.points():
            last = point
        for i, point in enumerate(points):
            if slots[i * SLOT_SIZE] and point > last:
                last = point
        tmp = self.path + ".tmp"
        buf = bytearray(SLOT_SIZE * CHUNK_SLOTS)
        mv = memoryview(buf)
        try:
            old = open(self.path, "rb")
        except OSError:
            old = None
        try:
            with open(tmp, "wb") as out:
                first = 1
                while first <= last:
                    count = min(CHUNK_SLOTS, last - first + 1)
                    size = count * SLOT_SIZE
                    for i in range(size):
                        buf[i] = 0
                    if old is not None:
                        old.readinto(mv[:size])
                    for i, point in enumerate(points):
                        if first <= point < first + count:
                            off = (point - first) * SLOT_SIZE
                            buf[off:off + SLOT_SIZE] = slots[i * SLOT_SIZE:(i + 1) * SLOT_SIZE]
                    out.write(mv[:size])
                    first += count
        finally:
            if old is not None:
                old.close()
        os.rename(tmp, self.path)
