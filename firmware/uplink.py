"""Store-and-forward: every record of the ring log reaches the master station, in order, once.

    events = EventIndex(log)                      # event pointers (AFN0E), EC counters, ACD
    up = Uploader(log, terminal, events, window=4, max_frame=1460)
    frame, size = up.next_frame(pseq)             # None when nothing is due or the window is full
    up.on_answer(rseq, confirmed)                 # the master's AFN00 F1 / F2 to an upload
    slot = up.expired(now_ms, timeout_ms, diff)   # an upload not confirmed in time, or None
    frame, size = up.resend(slot, now_ms)         # built again; None: its records are gone
    up.restart()                                  # after a reconnect: resend from the cursor

What travels (docs/uplink.md has the byte layout): the records after the log's "uplink"
cursor, in sequence order, as uplink user data (C = C4: DIR 1, PRM 1, function 4) with CON set,
so the master confirms each frame with AFN00 F1 (RSEQ = our PSEQ):

  - important events (ERC 1, 5, 12, 13, 14, 20, 21, 27, 30, 31, 33, 60 of earlier firmware,
    250 records lost)
    go one per frame as AFN0E F1 (pm, pn = the event's pointer) with ACD = 1 and EC, as the
    standard reports events actively;
  - everything else (reading batches, normal events, markers) goes as class 2 data: AFN0D with
    the vendor unit F241 "ring-log records", as many records as fit the frame;
  - every frame ends with its identity: F241 carries `first` (u32, the ring-log sequence of
    its first record) and `count`; the records are `first .. first + count - 1`, dense.
    In an AFN0E frame F241 follows the event unit with count 1 and no record bytes.

The ring log's sequence numbers are dense and never reused, so the station de-duplicates on
(terminal, sequence) and sees any gap. The "uplink" cursor advances only over frames the master
has confirmed, and only over a confirmed prefix (frames confirmed out of order wait for the
ones before them), so after an outage of any length the backlog comes out in order from the
first unconfirmed record: nothing lost, and nothing confirmed is sent again.

RAM: one frame buffer of `max_frame` bytes, allocated once; building a frame copies record
bytes straight from the log's reader into it. A frame in the window keeps only what it
carries (its AFN and records first .. end) until the master confirms it: a resend builds it
again from the ring log, which keeps those records until the cursor passes them, so the resent
frame carries the same records under the same PSEQ and identity (the station de-duplicates
on them); only ACD and EC are those of the moment. The frame returned is valid until the next
call that builds one.
"""
from array import array

from firmware.unloading import unload_module
from protocol.compat import const

CURSOR = "uplink"
FN_RECORDS = const(241)          # vendor unit: ring-log records with their identity
EVENT = const(0x02)              # firmware.ringlog.EVENT
_ERC_LOST = const(250)            # firmware.ringlog.ERC_RECORDS_LOST
_ERC_REFUSED = const(251)         # records the station refused _DENY_LIMIT times, stepped over
IMPORTANT = (1, 5, 12, 13, 14, 20, 21, 27, 30, 31, 33, 60, 250, 251)
_DENY_LIMIT = const(3)
_RECORD_HEAD = const(8)           # type 1, point 2, timestamp 4, length 1

_HEAD = const(14)                # 68 L L L L 68 C A(5) AFN SEQ
_C_UP_USER_DATA = const(0xC4)    # DIR 1, PRM 1, function 4
_ACD = const(0x20)
_SEQ_SINGLE_CON = const(0x70)    # FIR, FIN, CON
_STEPPED = const(16)             # a slot of records stepped over (no PSEQ answers it)
_RESERVED = const(-2)            # a built partner frame not sent yet
_HOLD_RECHECK_S = const(30)       # held reports: how often the boundary is looked at again
READINGS = const(0x01)           # firmware.ringlog.READINGS
_P1997 = const(1)                # an archive slot's DL/T 645-1997 code (protocol/meter_record.py)


def _capacity(stats):
    """Records a ring log can hold at most: a sector's header takes at least 24 bytes
    (docs/ringlog.md), a record at least its 16-byte header."""
    return stats["sectors"] * ((stats["sector_size"] - 24) // 16)


class EventIndex:
    """Event pointers of AFN0E: the k-th important / normal event is at index k mod 256.

    The index keeps each event's sequence number modulo 65536 when the log cannot hold 65536
    records (a 1 MB log of 4 KB sectors holds at most 65 024): a class's events come in log
    order, so an entry's full number is the newer one's minus the difference of the low bits.
    When two events of a class lie more than 65535 records apart, the older ones have left the
    log, and the index counts them gone (valid_from), as reading them would find."""

    def __init__(self, log):
        self.log = log
        wide = log is not None and _capacity(log.stats()) > 0xFFFF
        self.mask = 0xFFFFFFFF if wide else 0xFFFF
        self.seqs = (array("I" if wide else "H", bytes((4 if wide else 2) * 256)),
                     array("I" if wide else "H", bytes((4 if wide else 2) * 256)))
        self.count = [0, 0]          # events indexed per class (important, normal)
        self.newest = [0, 0]         # the full sequence number of each class's newest event
        self.valid_from = [0, 0]     # events of a class before this count have left the log
        self.read_to = 0             # important events the master has seen (count, not mod)
        self._scanned = log.oldest_seq if log is not None else 0
        self.update()
        self.read_to = self.count[0]   # events held at boot were reported before the reset

    @staticmethod
    def important(erc):
        return erc in IMPORTANT

    def update(self):
        """Index the events appended since the last call."""
        log = self.log
        if log is None or self._scanned >= log.next_seq:
            return
        for rec in log.records(first_seq=self._scanned, rtype=EVENT):
            self.add(rec[0], rec[4][0])
        self._scanned = log.next_seq

    def add(self, seq, erc):
        cls = 0 if erc in IMPORTANT else 1
        n = self.count[cls]
        if n and seq - self.newest[cls] > self.mask:
            self.valid_from[cls] = n
        self.seqs[cls][n & 0xFF] = seq & self.mask
        self.newest[cls] = seq
        self.count[cls] = n + 1

    def _seq(self, cls, k):
        """The full sequence number of the class's k-th event, -1 when it left the log."""
        if k < self.valid_from[cls]:
            return -1
        arr = self.seqs[cls]
        mask = self.mask
        seq = self.newest[cls]
        j = self.count[cls] - 1
        while j > k:
            j -= 1
            seq -= (seq - arr[j & 0xFF]) & mask
        return seq

    def index_of(self, seq, erc):
        """The pointer of the event with this sequence, or -1 if it fell out of the index."""
        cls = 0 if erc in IMPORTANT else 1
        arr = self.seqs[cls]
        mask = self.mask
        count = self.count[cls]
        low = max(count - 256, self.valid_from[cls])
        k = count - 1
        at = self.newest[cls]
        while k >= low and at >= seq:
            if at == seq:
                return k
            k -= 1
            at -= (at - arr[k & 0xFF]) & mask
        return -1

    def counters(self):
        return (self.count[0] & 0xFF, self.count[1] & 0xFF)

    def unread_important(self):
        self.update()
        return self.read_to != self.count[0]

    def seen(self, upto):
        """The master has the important events before pointer count `upto`."""
        if upto > self.read_to:
            self.read_to = upto if upto < self.count[0] else self.count[0]

    def query(self, important, pm, pn, room=1200):
        """The AFN0E F1/F2 reply value for pointers pm..pn-1 (as many as fit `room` bytes); its
        records are their wire bytes joined (protocol/gw376_unit_events.py encodes them as they
        are)."""
        self.update()
        cls = 0 if important else 1
        count = self.count[cls]
        records = bytearray()   # the records' wire bytes (ERC, length, data), no object each
        size = 4
        i = pm
        last = -2
        seq = -1
        while i != pn & 0xFF:
            # pointer i (mod 256) -> the newest event with that pointer
            k = count - ((count - i) & 0xFF) if count else -1
            if (count - i) & 0xFF == 0:
                k = count - 256
            if k < 0 or k >= count:
                break
            if k == last + 1:      # the next event of the class: the gap is the low bits'
                seq += (self.seqs[cls][k & 0xFF] - seq) & self.mask
            else:
                seq = self._seq(cls, k)
            last = k
            rec = self.log.read(seq) if seq >= 0 else None
            if rec is None:
                break
            payload = rec[4]
            size += 2 + len(payload) - 1
            if size > room:
                break
            records.append(payload[0])
            records.append(len(payload) - 1)
            records.extend(memoryview(payload)[1:])
            i = (i + 1) & 0xFF
        if important:
            self.seen(count - ((count - i) & 0xFF))
        ec = self.counters()
        return {"ec_important": ec[0], "ec_normal": ec[1], "pm": pm & 0xFF, "pn": i,
                "records": records}


class _Slot:
    """A frame in the window: what it carries, not its bytes (resend() builds them again)."""

    def __init__(self):
        self.pseq = -1          # -1: free
        self.afn = 0            # 0x0C / 0x0D records (compact: 0x0D F241), 0x0E an event
        self.compact = False    # built in the compact mode (report.compact)
        self.first = 0
        self.end = 0            # sequence after the last record carried
        self.sent_ms = 0
        self.tries = 0
        self.confirmed = False
        self.event_index = -1   # an AFN0E frame: the important event's pointer count
        self.partner = None     # the other AFN's frame of the same records (standard mode)


class Uploader:
    def __init__(self, log, terminal, events=None, window=4, max_frame=1460, clock=None):
        self.log = log
        self.terminal = terminal
        self.events = events
        self.max_frame = max_frame
        self.buf = bytearray(max_frame)     # the frame being sent
        self.slots = [_Slot() for _ in range(window)]
        self.next_seq = log.cursor(CURSOR)
        self.stats = {"frames": 0, "records": 0, "resent": 0, "confirmed_records": 0,
                      "denied": 0, "payload_bytes": 0, "refused_records": 0}
        self.paused = False            # after a denial: the link waits before sending more
        self.last_slot = None          # the slot next_frame() filled last
        self._denied_first = -1
        self._denials = 0
        self.hold_until = 0            # standard reports held for a task boundary until then
        self.pending = None            # a partner frame built with the last one, sent next
        self._payload = 0              # record bytes the frame being built carries

    # --- what is due -------------------------------------------------------------------------
    def backlog(self):
        return self.log.next_seq - self.log.cursor(CURSOR)

    def in_flight(self):
        n = 0
        for s in self.slots:
            if s.pseq >= 0:
                n += 1
        return n

    def _free_slot(self):
        for s in self.slots:
            if s.pseq == -1:
                return s
        return None

    def has_work(self):
        if self.pending is not None:
            return True
        if self.hold_until and self.terminal.wall.now() < self.hold_until and \
                not (self.events is not None and self.events.unread_important()):
            return False            # records wait for their report task's boundary
        return self.log.next_seq > max(self.next_seq, self.log.oldest_seq) and \
            self._free_slot() is not None

    def next_frame(self, pseq, now_ms=0):
        """Build the next upload (a free slot takes it); returns (buffer, size) or None."""
        log = self.log
        self._payload = 0
        if self.pending is not None:           # the partner of the frame sent last
            slot = self.pending
            self.pending = None
            size = self._build(slot, pseq)
            if not size:                       # its records are gone: again from the cursor
                self.restart()
                return None
            self._sent(slot, pseq, now_ms)
            return self.buf, size
        if self.next_seq < log.oldest_seq:
            self.next_seq = log.oldest_seq          # reclaimed unconfirmed: ERC250 tells
        if self.next_seq >= log.next_seq:
            return None
        slot = self._free_slot()
        if slot is None:
            return None
        size = self._fill(slot, pseq)
        while size < 0:          # records nothing asks for: past the cursor without a frame
            slot.pseq = _STEPPED
            slot.confirmed = True
            self.next_seq = slot.end
            self._advance()
            if self.next_seq >= log.next_seq:
                return None
            slot = self._free_slot()
            if slot is None:
                return None
            size = self._fill(slot, pseq)
        if not size:
            return None
        self._sent(slot, pseq, now_ms)
        self.next_seq = slot.end
        self.stats["records"] += slot.end - slot.first
        self.stats["payload_bytes"] += self._payload
        return self.buf, size

    def resend(self, slot, now_ms):
        """The frame of `slot` (from expired()) built again for its resend: the same records
        under the same PSEQ; returns (buffer, size), or None when the ring log no longer holds
        its records (the caller restarts the window)."""
        size = self._build(slot, slot.pseq)
        if not size:
            return None
        slot.tries += 1
        slot.sent_ms = now_ms
        self.stats["resent"] += 1
        return self.buf, size

    def _sent(self, slot, pseq, now_ms):
        self.last_slot = slot
        slot.pseq = pseq & 0x0F
        slot.sent_ms = now_ms
        slot.tries = 1
        slot.confirmed = False
        self.stats["frames"] += 1

    def _build(self, slot, pseq):
        """Build a slot's frame again from its records (first .. end) in the ring log; 0 when
        they are not all there any more (reclaimed) or no longer make that frame."""
        if slot.first < self.log.oldest_seq:
            return 0
        if slot.afn == 0x0E:
            rec = self.log.read(slot.first)
            if rec is None:
                return 0
            return self._event_frame(slot, pseq, rec, slot.compact)
        if slot.compact:
            return self._fill_records(slot, pseq, slot.first, slot.end)
        return self._fill_standard(slot, pseq, slot.afn)

    def _header(self, buf, afn, pseq, acd):
        t = self.terminal
        area = t.area
        buf[0] = 0x68
        buf[5] = 0x68
        buf[6] = _C_UP_USER_DATA | (_ACD if acd else 0)
        buf[7] = ((area // 10) % 10) << 4 | area % 10
        buf[8] = ((area // 1000) % 10) << 4 | (area // 100) % 10
        buf[9] = t.address & 0xFF
        buf[10] = t.address >> 8
        buf[11] = 0
        buf[12] = afn
        buf[13] = _SEQ_SINGLE_CON | (pseq & 0x0F)

    def _compact(self):
        return self.terminal.settings.get("report.compact", 0)

    def _fill(self, slot, pseq):
        slot.compact = bool(self._compact())
        if slot.compact:
            return self._fill_records(slot, pseq, self.next_seq)
        return self._fill_standard(slot, pseq)

    def _fill_records(self, slot, pseq, first, end=0):
        """Compact mode: the records from `first` (up to `end` when the frame is built again)
        as AFN0D F241, as many as fit. The frame keeps room for EC even without ACD: built
        again once an important event waits, it carries the same records."""
        buf = self.buf
        ev = self.events
        acd = ev is not None and ev.unread_important()
        limit = self.max_frame - 4                # EC, CS, 16
        pos = _HEAD
        count = 0
        slot.event_index = -1
        for rec in self.log.records(first_seq=first):
            seq, rtype, point, ts, payload = rec
            if end and seq >= end:
                break
            if seq != first + count:                 # a gap (reclaimed while reading): stop
                if count or end:
                    break
                first = seq
            if rtype == EVENT and ev is not None and payload[0] in IMPORTANT:
                if count:
                    break                            # the event goes in a frame of its own
                return self._event_frame(slot, pseq, rec)
            if count == 0:
                self._header(buf, 0x0D, pseq, acd)
                buf[14:18] = b"\x00\x00\x01\x1e"     # p0, F241
                buf[18] = first & 0xFF
                buf[19] = (first >> 8) & 0xFF
                buf[20] = (first >> 16) & 0xFF
                buf[21] = (first >> 24) & 0xFF
                pos = 23
            need = _RECORD_HEAD + len(payload)
            if pos + need > limit or count == 255:
                break
            buf[pos] = rtype
            buf[pos + 1] = point & 0xFF
            buf[pos + 2] = point >> 8
            buf[pos + 3] = ts & 0xFF
            buf[pos + 4] = (ts >> 8) & 0xFF
            buf[pos + 5] = (ts >> 16) & 0xFF
            buf[pos + 6] = (ts >> 24) & 0xFF
            buf[pos + 7] = len(payload)
            buf[pos + 8:pos + need] = payload
            pos += need
            count += 1
            self._payload += need
        if not count or end and first + count != end:
            return 0
        buf[22] = count
        slot.afn = 0x0D
        slot.first = first
        slot.end = first + count
        return self._finish(buf, pos, acd)

    def _fill_standard(self, slot, pseq, again=0):
        """The standard units of the records after the cursor (firmware/reports.py): reading
        batches as AFN0C / AFN0D units of one AFN per frame, events alone as AFN0E, markers
        and what no task asks for stepped over. Records newer than the running tasks' last
        boundary wait for the next one (unless an important event is waiting). Returns the
        frame size, 0 for nothing due, -1 for records stepped over without a frame. `again`:
        the AFN of a slot's frame built again from its records.
        RAM: firmware/reports.py and the data formats with their BCD helpers (13 KB on the
        unix port) are loaded for the frame and dropped again, unless the codec holds the
        formats for a request."""
        from firmware import terminal
        try:
            if again:
                return self._units_again(slot, pseq, again)
            return self._fill_units(slot, pseq)
        finally:
            unload_module("firmware.reports")
            if terminal._codec is None:
                unload_module("protocol.gw376_formats")
                unload_module("protocol.bcd")           # the formats' BCD helpers

    def _fill_units(self, slot, pseq):
        from firmware import reports
        tasks = reports.Tasks(self.terminal.settings)
        buf = self.buf
        ev = self.events
        acd = ev is not None and ev.unread_important()
        limit = self.max_frame - 4                    # EC, CS, 16
        due = None if acd else tasks.due_until(self.terminal.wall.now())
        if due is not None and due < 0:
            due = None          # no task runs: nothing is asked for, records are stepped over
        first = self.next_seq
        pos = _HEAD
        count = 0
        afn = 0
        # Real-time (AFN0C) and curve / frozen (AFN0D) units of the same records: the other
        # AFN's units go into a partner frame of the same range, built when it is sent (a
        # poller slot logs a real-time and a curve batch per meter, one after the other)
        other = None
        opos = _HEAD
        slot.event_index = -1
        for rec in self.log.records(first_seq=first):
            seq, rtype, point, ts, payload = rec
            if seq != first + count:                 # a gap (reclaimed while reading): stop
                if count:
                    break
                first = seq
            if due is not None and ts > due:
                if not count:       # look again in a while, not at every turn of the link
                    self.hold_until = self.terminal.wall.now() + _HOLD_RECHECK_S
                break                                # waits for its task's next boundary
            if rtype == EVENT and ev is not None:
                if count:
                    break
                return self._event_frame(slot, pseq, rec, False)
            if rtype == READINGS:
                got, units = reports.encode(rec, tasks, self._is_1997(point))
                if units is not None:
                    n = len(units)
                    if not afn or got == afn:
                        if pos + n > limit:
                            if count:
                                break
                            units = None             # cannot fit any frame: stepped over
                        else:
                            afn = got
                            buf[pos:pos + n] = units
                            pos += n
                    else:
                        if other is None:
                            other = self._free_slot_but(slot)
                        if other is None or opos + n > limit:
                            break                    # count > 0 here: afn is set
                        opos += n
                        other.pseq = _RESERVED
                    if units is not None:
                        self._payload += n
            count += 1
            if count == 255:
                break
        if not count:
            return 0
        slot.first = first
        slot.end = first + count
        if not afn:
            return -1
        slot.afn = afn
        self._header(buf, afn, pseq, acd)
        if opos > _HEAD and other is not None:     # units went to a partner frame
            other.afn = 0x0C if afn == 0x0D else 0x0D
            other.compact = False
            other.first = first
            other.end = first + count
            other.event_index = -1
            other.confirmed = False
            other.partner = slot
            slot.partner = other
            self.pending = other
        return self._finish(buf, pos, acd)

    def _units_again(self, slot, pseq, afn):
        """The AFN `afn` units of a slot's records, as _fill_units put them in its frame (a
        unit too big for any frame was stepped over); 0 when a record is gone or the report
        tasks changed what the records give."""
        from firmware import reports
        tasks = reports.Tasks(self.terminal.settings)
        buf = self.buf
        ev = self.events
        acd = ev is not None and ev.unread_important()
        limit = self.max_frame - 4
        pos = _HEAD
        seq = slot.first
        for rec in self.log.records(first_seq=seq):
            if rec[0] >= slot.end:
                break
            if rec[0] != seq:
                return 0
            seq += 1
            if rec[1] == READINGS:
                got, units = reports.encode(rec, tasks, self._is_1997(rec[2]))
                if units is not None and got == afn and _HEAD + len(units) <= limit:
                    n = len(units)
                    if pos + n > limit:
                        return 0
                    buf[pos:pos + n] = units
                    pos += n
        if seq != slot.end or pos == _HEAD:
            return 0
        self._header(buf, afn, pseq, acd)
        return self._finish(buf, pos, acd)

    def _free_slot_but(self, taken):
        for s in self.slots:
            if s.pseq == -1 and s is not taken:
                return s
        return None

    def _is_1997(self, point):
        archive = self.terminal.archive
        return archive is not None and archive.protocol_code(point) == _P1997

    def _event_frame(self, slot, pseq, rec, identity=True):
        """An event alone as the standard's AFN0E report: F1 important (ACD, EC, its pointer)
        or F2 normal; the compact mode appends F241 with its ring-log identity."""
        seq, rtype, point, ts, payload = rec
        ev = self.events
        ev.update()  # pyright: ignore[reportOptionalMemberAccess] - set up by start()
        k = ev.index_of(seq, payload[0])  # pyright: ignore[reportOptionalMemberAccess] - set up by start()
        important = payload[0] in IMPORTANT
        acd = important or ev.unread_important()  # pyright: ignore[reportOptionalMemberAccess] - set up by start()
        buf = self.buf
        self._header(buf, 0x0E, pseq, acd)
        buf[14:18] = b"\x00\x00\x01\x00" if important else b"\x00\x00\x02\x00"
        ec = ev.counters()  # pyright: ignore[reportOptionalMemberAccess] - set up by start()
        buf[18] = ec[0]
        buf[19] = ec[1]
        buf[20] = k & 0xFF
        buf[21] = (k + 1) & 0xFF
        buf[22] = payload[0]
        body = len(payload) - 1
        buf[23] = body
        buf[24:24 + body] = payload[1:]
        pos = 24 + body
        if identity:
            buf[pos:pos + 4] = b"\x00\x00\x01\x1e"   # p0, F241: the identity
            buf[pos + 4] = seq & 0xFF
            buf[pos + 5] = (seq >> 8) & 0xFF
            buf[pos + 6] = (seq >> 16) & 0xFF
            buf[pos + 7] = (seq >> 24) & 0xFF
            buf[pos + 8] = 1
            pos += 9
        slot.afn = 0x0E
        slot.first = seq
        slot.end = seq + 1
        slot.event_index = k + 1 if important else -1
        self._payload += len(payload) + 2
        return self._finish(buf, pos, acd)

    def _finish(self, buf, pos, acd):
        if acd:
            ec = self.events.counters()  # pyright: ignore[reportOptionalMemberAccess] - set up by start()
            buf[pos] = ec[0]
            buf[pos + 1] = ec[1]
            pos += 2
        length = pos - 6
        field = (length << 2) | 2
        buf[1] = buf[3] = field & 0xFF
        buf[2] = buf[4] = field >> 8
        total = 0
        for i in range(6, pos):
            total += buf[i]
        buf[pos] = total & 0xFF
        buf[pos + 1] = 0x16
        return pos + 2

    # --- answers and timeouts ---------------------------------------------------------------
    def owns(self, rseq):
        for s in self.slots:
            if s.pseq == rseq:
                return True
        return False

    def on_answer(self, rseq, confirmed):
        """The master answered upload `rseq`; True if it was ours. A denial puts the frame's
        records back in the queue (sent again later), never past the cursor."""
        for s in self.slots:
            if s.pseq == rseq and not s.confirmed:
                if confirmed:
                    s.confirmed = True
                    if s.event_index >= 0 and self.events is not None:
                        self.events.seen(s.event_index)
                    self._advance()
                else:
                    self._denied(s)
                return True
        return False

    def _denied(self, slot):
        """The station refused an upload (it could not read or store it). Send it again after
        a pause (link.py waits DENY_PAUSE_MS); a frame refused _DENY_LIMIT times in a row would
        block the backlog for ever, so it is stepped over, and that is reported: an ERC251
        event (first sequence u32, count) goes to the station like any important event."""
        self.stats["denied"] += 1
        self.paused = True
        if slot.first == self._denied_first and slot.first == self.log.cursor(CURSOR):
            self._denials += 1
        else:
            self._denied_first = slot.first
            self._denials = 1
        if self._denials >= _DENY_LIMIT and slot.first == self.log.cursor(CURSOR):
            self.stats["refused_records"] += slot.end - slot.first
            body = bytes((slot.first & 0xFF, (slot.first >> 8) & 0xFF,
                          (slot.first >> 16) & 0xFF, (slot.first >> 24) & 0xFF,
                          min(255, slot.end - slot.first)))
            self.log.advance(CURSOR, slot.end)
            from firmware.log_records import append_event
            append_event(self.log, 0, self.terminal.wall.now(), _ERC_REFUSED, body)
            self._denials = 0
        self.restart()

    def _advance(self):
        """Move the cursor over the confirmed frames that follow it without a gap."""
        log = self.log
        moved = True
        while moved:
            moved = False
            pos = log.cursor(CURSOR)
            for s in self.slots:
                if s.pseq < 0 or not s.confirmed:
                    continue
                if s.partner is not None and not s.partner.confirmed:
                    continue                         # its records' other frame is not yet
                if s.end <= pos:                     # already behind the cursor
                    s.pseq = -1
                    s.partner = None
                elif s.first <= pos:
                    log.advance(CURSOR, s.end)
                    self.stats["confirmed_records"] += s.end - pos
                    s.pseq = -1
                    s.partner = None
                    moved = True
        if self.next_seq < log.cursor(CURSOR):
            self.next_seq = log.cursor(CURSOR)

    def expired(self, now_ms, timeout_ms, diff):
        """The oldest unconfirmed upload older than timeout_ms (its slot), or None."""
        for s in self.slots:
            if s.pseq >= 0 and not s.confirmed and diff(now_ms, s.sent_ms) >= timeout_ms:
                return s
        return None

    def restart(self):
        """Forget what is in flight; the next frames start again at the cursor."""
        for s in self.slots:
            s.pseq = -1
            s.confirmed = False
            s.partner = None
        self.pending = None
        self.next_seq = self.log.cursor(CURSOR)
