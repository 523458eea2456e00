"""The power-loss-safe ring log on a raw flash partition: every reading and event the
concentrator takes, kept until the master station has confirmed it or the ring wraps.

A synchronous library; tasks call it directly. The on-flash format and what recovery concludes
from every torn state are in docs/ringlog.md.

    log = RingLog(dev, prog_size=None, create=True)   # mount; format only if there is no log
    # prog_size: the flash's program unit (default: dev.prog_size if it has one, else 1)
    # dev: any block device with the raw-partition protocol (firmware.hal.flash.open_data_partition)

Appending (durable when the call returns; returns the record's sequence number, its identity):
    seq = log.append(rtype, point, timestamp, payload)      # payload: bytes-like, exact length
    # allocation-free path (once a record of the same padded length was written):
    # encode straight into log.stage at PAYLOAD, then commit
    end = encode(log.stage, PAYLOAD, ...)                  # e.g. firmware.log_records.pack_readings
    seq = log.commit(rtype, point, timestamp, end - PAYLOAD)
    rtype: READINGS, EVENT, MARKER (any 1..0x3F is a data type); point: measuring point 0..65535
    (0 = the concentrator itself); timestamp: u32 seconds of the caller's clock.

Reading back (each record is a tuple (seq, rtype, point, timestamp, payload bytes)):
    log.records(first_seq=0, rtype=None, point=None, since=None, until=None)  -> generator
    log.read(seq) -> record or None
    log.latest(rtype=None, point=None) -> the newest matching record or None
    log.next_seq, log.oldest_seq   # records held: oldest_seq .. next_seq - 1 (dense)

Consumer cursors (names up to 8 ASCII bytes; at most 8):
    log.cursor(name)        -> position (the first sequence NOT yet confirmed); creates the
                               cursor at oldest_seq if new
    log.advance(name, seq)  confirm everything before seq (durable on return; never backwards)
    log.backlog(name)       records not yet confirmed and still held
    log.lost(name)          records the ring reclaimed before this cursor passed them
    log.cursor_names(), log.drop_cursor(name)
When the ring reclaims records a cursor has not passed, the cursor moves to the oldest record
kept, its lost count grows, and an EVENT record with ERC_RECORDS_LOST (payload: ERC, cursor name,
count lost now, new position, total lost) is appended: never silent.

    log.stats() -> dict; log.format() wipes the partition.
Errors: StoreError (no log / unknown version / bad geometry); ValueError for bad arguments.
"""
import binascii
import struct

from protocol.compat import const

crc32 = binascii.crc32
pack_into = struct.pack_into

MAGIC = b"RLOG"
VERSION = const(1)

# Record types: below _DATA_LIMIT a record is data and consumes a sequence number.
READINGS = const(0x01)
EVENT = const(0x02)
MARKER = const(0x03)
_DATA_LIMIT = const(0x40)
CURSOR = const(0x40)          # internal: one cursor's state (name, position, lost)
_ERASED = const(0xFF)          # the type byte of erased flash: end of a sector's records

ERC_RECORDS_LOST = const(250)  # event code of the log's own "records reclaimed unconfirmed"

_SECTOR_FIXED = const(20)      # sector header bytes before the cursor table
_CURSOR_SLOT = const(16)       # name 8 + position 4 + lost 4
_NAME_LEN = const(8)
_MAX_CURSORS = const(8)
_RECORD_HEADER = const(16)
PAYLOAD = _RECORD_HEADER        # where a record's payload starts in `stage`
MAX_PAYLOAD = const(240)
_MAX_RECORD = const(256)
_MAX_HEADER = const(152)       # _SECTOR_FIXED + 8 cursors + CRC
_DROPPED = const(0xFFFFFFFF)
_HDR_FMT = "<BBIIHI"           # type, length, seq, timestamp, point, crc
# Field offsets (docs/ringlog.md). A sector header: its cursor count, sequence, erase count and
# the first record sequence; a cursor slot (in the header or a CURSOR record): position, lost.
_S_CURSORS = const(5)
_S_SEQ = const(8)
_S_ERASES = const(12)
_S_FIRST_SEQ = const(16)
_C_POS = const(_NAME_LEN)
_C_LOST = const(_NAME_LEN + 4)
# A record: type, payload length, sequence, timestamp, point, CRC.
_R_LEN = const(1)
_R_SEQ = const(2)
_R_TIME = const(6)
_R_POINT = const(10)
_R_CRC = const(12)
# The loss event's payload after its ERC byte: cursor name, lost now, new position, total lost.
_L_NAME = const(1)
_L_NOW = const(_L_NAME + _NAME_LEN)
_L_POS = const(_L_NOW + 4)
_L_TOTAL = const(_L_POS + 4)
_LOSS_LEN = const(21)          # ERC 1 + name 8 + lost now 4 + position 4 + total lost 4


class StoreError(Exception):
    """The partition cannot be used as a ring log (says why and what to do)."""


def _u32(buf, at):
    return buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24


def _put32(buf, at, value):
    buf[at] = value & 0xFF
    buf[at + 1] = (value >> 8) & 0xFF
    buf[at + 2] = (value >> 16) & 0xFF
    buf[at + 3] = (value >> 24) & 0xFF


def _log2(value):
    """n with 2**n == value, or -1."""
    n = 0
    while (1 << n) < value:
        n += 1
    return n if (1 << n) == value else -1


def _name_bytes(name):
    raw = name.encode() if isinstance(name, str) else bytes(name)
    if not 0 < len(raw) <= _NAME_LEN or b"\x00" in raw:
        raise ValueError("cursor name must be 1..8 bytes without NUL: %r" % (name,))
    return raw + b"\x00" * (_NAME_LEN - len(raw))


def _name_text(raw):
    end = raw.find(b"\x00")
    return (raw if end < 0 else raw[:end]).decode()


class RingLog:
    def __init__(self, dev, prog_size=None, create=False):
        self.dev = dev
        self._n = dev.ioctl(4, 0)
        self._bs = dev.ioctl(5, 0)
        if prog_size is None:     # the device may say (the simulator does); 1 = NOR flash
            prog_size = getattr(dev, "prog_size", 1)
        self._align = max(4, prog_size)
        self._bs_log2 = _log2(self._bs)
        self._align_log2 = _log2(self._align)
        if self._bs < 1024 or self._n < 3 or self._bs_log2 < 0 or self._align_log2 < 0:
            raise StoreError("a ring log needs >= 3 blocks of >= 1024 bytes, powers of two, and "
                             "a power-of-two program unit (have %d x %d, unit %d)" % (
                                 self._n, self._bs, self._align))
        self.stage = bytearray(_MAX_RECORD)
        self._stage_mv = memoryview(self.stage)
        # One view per padded record length, made at its first use and kept: slicing a
        # memoryview allocates, and a log writes only a few lengths (not all 65 of them).
        self._views = [None] * (_MAX_RECORD // self._align + 1)
        self._hdr = bytearray(_MAX_HEADER + self._align)
        self._hview = None
        self._hcrc = None
        self._fix = bytearray(_SECTOR_FIXED)
        self._scan = bytearray(_MAX_RECORD)
        self._scan_mv = memoryview(self._scan)
        self._names = []
        self._pos = []
        self._lost = []
        self._last_ts = 0
        if not self._mount():
            if not create:
                raise StoreError("no ring log on this partition: format it (create=True)")
            self.format()

    # -- geometry helpers -------------------------------------------------------------------
    def _round(self, length):
        a = self._align - 1
        return (length + a) & ~a

    def _sector_index(self, k):
        """Ring index of the k-th sector of the run, counting from the tail."""
        return (self._head - self._count + 1 + k) % self._n

    def _peek(self, sector):
        """Read the fixed part of a sector header (trusted: only used on sectors of the run)."""
        self.dev.readblocks(sector, self._fix, 0)
        return self._fix

    # -- mount ------------------------------------------------------------------------------
    def _mount(self):
        n = self._n
        hbuf = bytearray(_MAX_HEADER)
        seqs = [-1] * n
        best = -1
        foreign = 0
        for i in range(n):
            self.dev.readblocks(i, hbuf, 0)
            ok = self._header_ok(hbuf)
            if ok < 0:
                foreign = ok
            elif ok:
                seqs[i] = _u32(hbuf, _S_SEQ)
                if best < 0 or seqs[i] > seqs[best]:
                    best = i
        if best < 0:
            if foreign == -1:
                raise StoreError("the partition holds a ring log of another format version: "
                                 "update the firmware or format the partition")
            if foreign == -2:
                raise StoreError("the partition holds a ring log formatted for another sector "
                                 "size or program unit: fix the board config or format it")
            return False
        head_seq = seqs[best]
        count = 1
        while count < n and seqs[(best - count) % n] == head_seq - count:
            count += 1
        self._head = best
        self._head_seq = head_seq
        self._count = count
        self.dev.readblocks(best, hbuf, 0)
        self._head_erases = _u32(hbuf, _S_ERASES)
        self.next_seq = _u32(hbuf, _S_FIRST_SEQ)
        self._load_cursor_table(hbuf)
        self.oldest_seq = _u32(self._peek(self._sector_index(0)), _S_FIRST_SEQ)
        self._off, self._closed = self._scan_head(self._round(_SECTOR_FIXED + _CURSOR_SLOT * hbuf[_S_CURSORS] + 4))
        if self._closed:
            self._roll()           # a torn tail: never write behind it, start a fresh sector
        else:
            self._settle_losses()  # a cut between reclaiming a sector and its loss event
        return True

    def remount(self):
        """Forget the state in RAM and mount again from the flash: after a write that may have
        been interrupted, the true append point (a torn record repaired). The buffers stay,
        so this needs almost no heap where a second RingLog would need about 3 KB, which a
        full heap may not have."""
        self._hview = None
        self._hcrc = None
        self._last_ts = 0
        if not self._mount():
            raise StoreError("the ring log is gone from its partition")

    def _header_ok(self, h):
        """1: a valid header of this log; 0: not a header; -1: a log of another format
        version; -2: a log formatted for another geometry."""
        if h[0] != 0x52 or h[1] != 0x4C or h[2] != 0x4F or h[3] != 0x47:   # "RLOG"
            return 0
        if h[4] != VERSION:
            return -1
        count = h[_S_CURSORS]
        if count > _MAX_CURSORS:
            return 0
        length = _SECTOR_FIXED + _CURSOR_SLOT * count
        if crc32(memoryview(h)[:length]) & 0xFFFFFFFF != _u32(h, length):
            return 0
        if 1 << h[6] != self._bs or 1 << h[7] != self._align:
            return -2
        return 1

    def _load_cursor_table(self, h):
        self._names = []
        self._pos = []
        self._lost = []
        for c in range(h[_S_CURSORS]):
            at = _SECTOR_FIXED + _CURSOR_SLOT * c
            self._set_cursor(bytes(h[at:at + _NAME_LEN]), _u32(h, at + _C_POS),
                             _u32(h, at + _C_LOST))

    def _set_cursor(self, name, pos, lost):
        if name in self._names:
            c = self._names.index(name)
            if pos == _DROPPED:
                del self._names[c], self._pos[c], self._lost[c]
                self._header_views()
            else:
                self._pos[c] = pos
                self._lost[c] = lost
        elif pos != _DROPPED and len(self._names) < _MAX_CURSORS:
            self._names.append(name)
            self._pos.append(pos)
            self._lost.append(lost)
            self._header_views()

    def _read_record(self, sector, off):
        """Read the record at off into self._scan. Returns its padded length, 0 at erased
        space, -1 when the bytes there are not a valid record (torn or never written)."""
        bs = self._bs
        if off + _RECORD_HEADER > bs:
            return 0
        mv = self._scan_mv
        self.dev.readblocks(sector, mv[:_RECORD_HEADER], off)
        buf = self._scan
        if buf[0] == _ERASED:
            return 0
        total = self._round(_RECORD_HEADER + buf[_R_LEN])
        if buf[0] == 0 or buf[_R_LEN] > MAX_PAYLOAD or off + total > bs:
            return -1
        self.dev.readblocks(sector, mv[_RECORD_HEADER:total], off + _RECORD_HEADER)
        stored = _u32(buf, _R_CRC)
        _put32(buf, _R_CRC, 0)
        ok = (crc32(mv[:total]) & 0xFFFFFFFF) == stored
        _put32(buf, _R_CRC, stored)
        return total if ok else -1

    def _erased_from(self, sector, off):
        """True when the rest of the sector from off reads as erased flash."""
        buf = self._scan
        while off < self._bs:
            k = min(_MAX_RECORD, self._bs - off)
            self.dev.readblocks(sector, self._scan_mv[:k], off)
            for i in range(k):
                if buf[i] != _ERASED:
                    return False
            off += k
        return True

    def _scan_head(self, off):
        """Replay the head sector. Returns (append offset, closed?)."""
        head = self._head
        buf = self._scan
        while True:
            total = self._read_record(head, off)
            if total == 0:
                if off + _RECORD_HEADER > self._bs:
                    return self._bs, False
                return off, not self._erased_from(head, off)
            if total < 0:
                return off, True
            rtype = buf[0]
            seq = _u32(buf, _R_SEQ)
            if rtype < _DATA_LIMIT:
                if seq != self.next_seq:
                    return off, True
                self.next_seq = seq + 1
                self._last_ts = _u32(buf, _R_TIME)
                if (rtype == EVENT and buf[_R_LEN] == _LOSS_LEN
                        and buf[PAYLOAD] == ERC_RECORDS_LOST):
                    at = PAYLOAD + _L_NAME
                    self._set_cursor(bytes(buf[at:at + _NAME_LEN]), _u32(buf, PAYLOAD + _L_POS),
                                     _u32(buf, PAYLOAD + _L_TOTAL))
            elif rtype == CURSOR:
                at = PAYLOAD
                self._set_cursor(bytes(buf[at:at + _NAME_LEN]), _u32(buf, at + _C_POS),
                                 _u32(buf, at + _C_LOST))
            off += total

    # -- format and sector rollover ---------------------------------------------------------
    def format(self):
        """Erase the whole partition and start an empty log (all records and cursors go).
        Sequence numbers carry on from the mounted log, so they stay unique for the station."""
        first = getattr(self, "next_seq", 1)
        for i in range(self._n):
            self.dev.ioctl(6, i)
        self._head = self._n - 1
        self._head_seq = 0
        self._head_erases = 2      # sector 0 is erased again as it opens
        self._count = 0
        self.next_seq = first
        self.oldest_seq = first
        self._names = []
        self._pos = []
        self._lost = []
        self._hview = None
        self._closed = True
        self._roll()

    def _header_views(self):
        length = _SECTOR_FIXED + _CURSOR_SLOT * len(self._names) + 4
        if self._hview is None or len(self._hcrc) != length - 4:  # pyright: ignore[reportArgumentType] - both views are made together
            hdr = self._hdr
            padded = self._round(length)
            for i in range(length, padded):
                hdr[i] = _ERASED
            self._hview = memoryview(hdr)[:padded]
            self._hcrc = memoryview(hdr)[:length - 4]
        return length

    def _roll(self):
        """Open the next sector: reclaim it (if it is the tail), erase it, write its header."""
        n = self._n
        s = (self._head + 1) % n
        full = self._count == n
        if full:
            erases = _u32(self._peek(s), _S_ERASES) + 1
        else:
            # Never used, or its header was lost to a cut erase: a ring erases its sectors in
            # turn, so it has been erased as often as the head (counts may run short by the
            # erases a cut interrupted).
            erases = self._head_erases
        self.dev.ioctl(6, s)
        if full:
            self._count -= 1
            self.oldest_seq = _u32(self._peek((s + 1) % n), _S_FIRST_SEQ)
        # The header keeps the cursors as they were: losses are applied by the loss events
        # written after it, so a cut in between re-derives them at mount instead of hiding them.
        self._header_views()
        hdr = self._hdr
        hdr[0:4] = MAGIC
        hdr[4] = VERSION
        hdr[_S_CURSORS] = len(self._names)
        hdr[6] = self._bs_log2
        hdr[7] = self._align_log2
        _put32(hdr, _S_SEQ, self._head_seq + 1)
        _put32(hdr, _S_ERASES, erases)
        _put32(hdr, _S_FIRST_SEQ, self.next_seq)
        at = _SECTOR_FIXED
        for c in range(len(self._names)):
            hdr[at:at + _NAME_LEN] = self._names[c]
            _put32(hdr, at + _C_POS, self._pos[c])
            _put32(hdr, at + _C_LOST, self._lost[c])
            at += _CURSOR_SLOT
        _put32(hdr, at, crc32(self._hcrc) & 0xFFFFFFFF)
        self.dev.writeblocks(s, self._hview, 0)
        self._head = s
        self._head_seq += 1
        self._head_erases = erases
        self._count += 1
        if self._count == 1:
            self.oldest_seq = self.next_seq
        self._off = len(self._hview)  # pyright: ignore[reportArgumentType] - both views are made together
        self._closed = False
        self._settle_losses()

    def _settle_losses(self):
        """Move cursors left behind by a reclaimed sector to the oldest record, one event each."""
        oldest = self.oldest_seq
        behind = 0
        for pos in self._pos:
            if pos < oldest:
                behind += 1
        if not behind:
            return
        if self._closed or self._off + behind * self._round(_RECORD_HEADER + _LOSS_LEN) > self._bs:
            self._roll()           # the fresh sector settles them
            return
        for c in range(len(self._names)):
            if self._pos[c] < oldest:
                lost_now = oldest - self._pos[c]
                total = self._lost[c] + lost_now
                body = bytearray(_LOSS_LEN)
                body[0] = ERC_RECORDS_LOST
                body[_L_NAME:_L_NAME + _NAME_LEN] = self._names[c]
                _put32(body, _L_NOW, lost_now)
                _put32(body, _L_POS, oldest)
                _put32(body, _L_TOTAL, total)
                # The event carries the cursor's new state: one record, atomic.
                self._write(EVENT, 0, self._last_ts, body, self.next_seq)
                self.next_seq += 1
                self._pos[c] = oldest
                self._lost[c] = total

    # -- writing ----------------------------------------------------------------------------
    def _write(self, rtype, point, timestamp, body, seq):
        """Write a small record from body through a scratch buffer (not the append path)."""
        total = self._round(_RECORD_HEADER + len(body))
        buf = bytearray(total)
        for i in range(total):
            buf[i] = _ERASED
        pack_into(_HDR_FMT, buf, 0, rtype, len(body), seq, timestamp, point, 0)
        buf[_RECORD_HEADER:_RECORD_HEADER + len(body)] = body
        _put32(buf, _R_CRC, crc32(buf) & 0xFFFFFFFF)
        self.dev.writeblocks(self._head, buf, self._off)
        self._off += total

    def append(self, rtype, point, timestamp, payload):
        """Append one data record; durable on return. Returns its sequence number."""
        length = len(payload)
        if length > MAX_PAYLOAD:
            raise ValueError("record payload of %d bytes exceeds %d" % (length, MAX_PAYLOAD))
        self.stage[PAYLOAD:PAYLOAD + length] = payload
        return self.commit(rtype, point, timestamp, length)

    def commit(self, rtype, point, timestamp, length):
        """Append the record whose payload was put in stage[PAYLOAD:PAYLOAD + length]."""
        if not 0 < rtype < _DATA_LIMIT:
            raise ValueError("record type must be 1..0x3F, not %r" % (rtype,))
        if not 0 <= length <= MAX_PAYLOAD:
            raise ValueError("record payload of %d bytes exceeds %d" % (length, MAX_PAYLOAD))
        if not 0 <= point <= 0xFFFF or not 0 <= timestamp <= 0xFFFFFFFF:
            raise ValueError("point must be 0..65535 and timestamp 0..2**32-1")
        if rtype == EVENT and length and self.stage[PAYLOAD] == ERC_RECORDS_LOST:
            raise ValueError("ERC %d is reserved for the log's own loss events" % ERC_RECORDS_LOST)
        end = _RECORD_HEADER + length
        total = (end + self._align - 1) & -self._align
        self._last_ts = timestamp      # loss events of a reclaim below carry this time
        if self._closed or self._off + total > self._bs:
            self._roll()
        seq = self.next_seq
        st = self.stage
        pack_into(_HDR_FMT, st, 0, rtype, length, seq, timestamp, point, 0)
        for i in range(end, total):
            st[i] = _ERASED
        view = self._views[total // self._align]
        if view is None:
            view = self._views[total // self._align] = self._stage_mv[:total]  # pyright: ignore[reportCallIssue, reportArgumentType] - a table of views, empty at first
        pack_into("<I", st, _R_CRC, crc32(view))     # unsigned on both interpreters
        self.dev.writeblocks(self._head, view, self._off)
        self._off += total
        self.next_seq = seq + 1
        return seq

    # -- cursors ----------------------------------------------------------------------------
    def _write_cursor(self, name, pos, lost):
        body = bytearray(_CURSOR_SLOT)
        body[0:_NAME_LEN] = name
        _put32(body, _C_POS, pos)
        _put32(body, _C_LOST, lost)
        if self._closed or self._off + self._round(_RECORD_HEADER + _CURSOR_SLOT) > self._bs:
            self._roll()          # the new header already holds the new state
            return
        self._write(CURSOR, 0, self._last_ts, body, self.next_seq)

    def _find(self, name):
        raw = _name_bytes(name)
        return raw, (self._names.index(raw) if raw in self._names else -1)

    def cursor(self, name):
        """Position of cursor `name` (first sequence not yet confirmed); created if new."""
        raw, c = self._find(name)
        if c >= 0:
            return self._pos[c]
        if len(self._names) >= _MAX_CURSORS:
            raise ValueError("at most %d cursors" % _MAX_CURSORS)
        if self._closed or self._off + self._round(_RECORD_HEADER + _CURSOR_SLOT) > self._bs:
            self._roll()      # reclaim first, so a new cursor does not start with a loss
        self._set_cursor(raw, self.oldest_seq, 0)
        self._write_cursor(raw, self.oldest_seq, 0)
        return self.oldest_seq

    def advance(self, name, seq):
        """Confirm every record before `seq` for cursor `name`. Durable on return.

        A seq at or behind the cursor is a no-op (the cursor never goes back); a seq past the
        newest record is a ValueError. Returns the cursor's position."""
        raw, c = self._find(name)
        if c < 0:
            self.cursor(name)
            c = self._names.index(raw)
        if seq > self.next_seq:
            raise ValueError("cannot confirm past the newest record (%d > %d)" % (
                seq, self.next_seq))
        if seq <= self._pos[c]:
            return self._pos[c]
        self._pos[c] = seq
        self._write_cursor(raw, seq, self._lost[c])
        return seq

    def drop_cursor(self, name):
        raw, c = self._find(name)
        if c >= 0:
            self._set_cursor(raw, _DROPPED, 0)
            self._write_cursor(raw, _DROPPED, 0)

    def cursor_names(self):
        return [_name_text(raw) for raw in self._names]

    def backlog(self, name):
        raw, c = self._find(name)
        pos = self.oldest_seq if c < 0 else self._pos[c]
        return self.next_seq - max(pos, self.oldest_seq)

    def lost(self, name):
        raw, c = self._find(name)
        return 0 if c < 0 else self._lost[c]

    # -- reading ----------------------------------------------------------------------------
    def _start_sector(self, first_seq):
        """Index in the run of the last sector whose first sequence is <= first_seq."""
        lo, hi = 0, self._count - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _u32(self._peek(self._sector_index(mid)), _S_FIRST_SEQ) <= first_seq:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def records(self, first_seq=0, rtype=None, point=None, since=None, until=None):
        """Yield (seq, rtype, point, timestamp, payload) of data records, oldest first,
        from first_seq on; filter by record type, measuring point, and timestamp range
        since <= t < until. Appends between two steps are fine: when one opened a sector,
        the walk re-anchors by sequence, so it neither skips nor repeats a record."""
        buf = self._scan
        expect = first_seq
        last = None
        while True:
            expect = max(expect, self.oldest_seq)
            if expect >= self.next_seq:
                return
            anchor = self._head_seq
            k = self._start_sector(expect)
            if last is not None and last[0] == anchor and last[2] == expect and k <= last[1]:
                k = last[1] + 1          # that sector ended short of expect: go on to the next
                if k >= self._count:
                    return
            last = (anchor, k, expect)
            sector = self._sector_index(k)
            off = self._round(_SECTOR_FIXED + _CURSOR_SLOT * self._peek(sector)[5] + 4)
            while True:
                total = self._read_record(sector, off)
                if total <= 0:
                    break
                off += total
                rt = buf[0]
                if rt >= _DATA_LIMIT:
                    continue
                seq = _u32(buf, _R_SEQ)
                if seq < expect:
                    continue
                expect = seq + 1
                if rtype is not None and rt != rtype:
                    continue
                pt = buf[_R_POINT] | buf[_R_POINT + 1] << 8
                if point is not None and pt != point:
                    continue
                ts = _u32(buf, _R_TIME)
                if (since is not None and ts < since) or (until is not None and ts >= until):
                    continue
                yield seq, rt, pt, ts, bytes(buf[PAYLOAD:PAYLOAD + buf[_R_LEN]])
                if self._head_seq != anchor:
                    break                # a sector opened meanwhile: find our place again

    def latest(self, rtype=None, point=None):
        """The newest data record of this type and point, or None: walks back one sector at a
        time from the head, so the last reading of a meter is found without a full scan."""
        buf = self._scan
        for k in range(self._count - 1, -1, -1):
            sector = self._sector_index(k)
            off = self._round(_SECTOR_FIXED + _CURSOR_SLOT * self._peek(sector)[5] + 4)
            found = None
            while True:
                total = self._read_record(sector, off)
                if total <= 0:
                    break
                off += total
                rt = buf[0]
                if rt >= _DATA_LIMIT or (rtype is not None and rt != rtype):
                    continue
                pt = buf[_R_POINT] | buf[_R_POINT + 1] << 8
                if point is not None and pt != point:
                    continue
                found = (_u32(buf, _R_SEQ), rt, pt, _u32(buf, _R_TIME), bytes(buf[PAYLOAD:PAYLOAD + buf[_R_LEN]]))
            if found is not None:
                return found
        return None

    def read(self, seq):
        """The record with this sequence number, or None when it is not (or no longer) held."""
        if not self.oldest_seq <= seq < self.next_seq:
            return None
        for record in self.records(seq):
            return record if record[0] == seq else None
        return None

    def stats(self):
        return {
            "sectors": self._n, "sector_size": self._bs, "sectors_used": self._count,
            "head": self._head, "head_offset": self._off, "next_seq": self.next_seq,
            "oldest_seq": self.oldest_seq, "head_erase_count": self._head_erases,
            "cursors": dict((_name_text(self._names[c]), (self._pos[c], self._lost[c]))
                            for c in range(len(self._names))),
        }
