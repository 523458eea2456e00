# Shared by the store's MicroPython tests and tests/bench/bench_store.py (runs on both
# interpreters): a deterministic power-cut torture of the ring log against a model of what
# the log acknowledged.
from firmware.hal.norflash import NorFlash, PowerCut
from firmware.ringlog import (EVENT, ERC_RECORDS_LOST, MARKER, MAX_PAYLOAD, READINGS,
                              RingLog)

CURSOR_NAMES = ("uplink", "usb")
CATEGORIES = ("append", "rollover", "cursor", "erase", "mount")


class Rng:
    """xorshift32: the same sequence on MicroPython and CPython."""

    def __init__(self, seed):
        self.x = (seed * 2654435761 + 7) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n if n > 0 else 0


def payload_for(uid, length):
    """A payload that names its own uid, so any record read back can be checked."""
    body = bytearray(length)
    for i in range(length):
        body[i] = (uid * 31 + i * 7) & 0xFF
    if length >= 4:
        body[0] = 0x11                  # never the reserved loss ERC for EVENT records
        body[1] = uid & 0xFF
        body[2] = (uid >> 8) & 0xFF
        body[3] = (uid >> 16) & 0xFF
    elif length:
        body[0] = 0x11
    return bytes(body)


class Torture:
    """Random appends and cursor moves with a power cut armed at a random step, then a clean
    mount and a full check of what survived against what the log acknowledged."""

    def __init__(self, seed, block_size=1024, block_count=6, prog_size=1, scatter=False):
        self.rng = Rng(seed)
        self.flash = NorFlash(block_size=block_size, block_count=block_count,
                              prog_size=prog_size, seed=seed, scatter=scatter)
        self.prog_size = prog_size
        self.snapshot = NorFlash(block_size=block_size, block_count=block_count,
                                 prog_size=prog_size)
        self.log = RingLog(self.flash, prog_size=prog_size, create=True)
        self.held = {}          # seq -> (rtype, point, timestamp, payload), acknowledged
        self.cursors = {}       # name -> [position, lost]
        self.uid = 0
        self.clock = 1000
        self.trials = 0
        self.cuts = {}
        for c in CATEGORIES:
            self.cuts[c] = 0
        self.lost_records = 0
        self.corrupt_records = 0
        self.failures = []

    def fail(self, kind, text):
        if kind == "lost":
            self.lost_records += 1
        else:
            self.corrupt_records += 1
        if len(self.failures) < 10:
            self.failures.append("trial %d: %s" % (self.trials, text))

    # -- one trial --------------------------------------------------------------------------
    def trial(self):
        rng = self.rng
        flash = self.flash
        self.trials += 1
        aim = rng.below(100)
        # Cuts aimed at erases and sector openings need a trial long enough to open a sector.
        # The shares give every kind of operation at least 1000 of 20000 cuts (store bench):
        # a sector opening is the rarest target to hit, so it gets the largest aimed share.
        count = 1 + rng.below(8) if aim < 52 else 8 + rng.below(12)
        if aim < 40:
            flash.cut_after(rng.below(count * 90 + 40))       # anywhere in the trial
        elif aim < 52:
            flash.cut_after(rng.below(120))                   # mount repair or the first op
        elif aim < 65:
            flash.cut_at_erase(rng.below(2))                  # in the middle of an erase
        else:
            flash.cut_after(rng.below(200), after_erases=1)   # opening a sector
        self.inflight = None
        self.category = "mount"
        erases = flash.erases
        try:
            self.log = RingLog(flash, prog_size=self.prog_size)
            for _ in range(count):
                erases = flash.erases
                self.step()
                self.inflight = None
                # the op returned: its in-RAM cursor state must already be right
                self.verify_cursors(self.log.oldest_seq, None)
        except PowerCut:
            category = self.category
            if flash.last_cut == "erase":
                category = "erase"
            elif category != "mount" and flash.erases > erases:
                category = "rollover"     # cut while opening a sector (header, loss events)
            self.cuts[category] += 1
        flash.power_on()
        # Check a copy: the flash itself keeps its torn state, so the next trial's mount has
        # the repair to do (and may be cut in the middle of it).
        self.snapshot.mem[:] = flash.mem
        self.log = RingLog(self.snapshot, prog_size=self.prog_size)
        self.verify()

    def step(self):
        rng = self.rng
        log = self.log
        roll = rng.below(100)
        if roll < 70:
            self.uid += 1
            self.clock += 1 + rng.below(30)
            r = rng.below(10)
            length = rng.below(MAX_PAYLOAD + 1) if r == 0 else 4 + rng.below(90)
            rtype = (READINGS, READINGS, READINGS, EVENT, MARKER)[rng.below(5)]
            point = rng.below(5)
            payload = payload_for(self.uid, length)
            record = (rtype, point, self.clock, payload)
            self.inflight = ("append", record)
            self.category = "append"
            seq = log.append(rtype, point, self.clock, payload)
            self.held[seq] = record
            return
        self.category = "cursor"
        name = CURSOR_NAMES[rng.below(len(CURSOR_NAMES))]
        if roll < 95:
            if name not in self.cursors:
                self.inflight = ("create", name)
                pos = log.cursor(name)
                self.cursors[name] = [pos, 0]
                return
            pos = self.cursors[name][0]
            target = pos + rng.below(log.next_seq - pos + 1)
            self.inflight = ("advance", name, target)
            got = log.advance(name, target)
            if target > pos:
                self.cursors[name][0] = got
            return
        if name in self.cursors:
            self.inflight = ("drop", name)
            log.drop_cursor(name)
            del self.cursors[name]

    # -- verification -----------------------------------------------------------------------
    def verify(self):
        log = self.log
        oldest = log.oldest_seq
        expect = oldest
        seen_inflight = False
        loss_totals = {}
        for seq, rtype, point, ts, payload in log.records():
            if seq != expect:
                self.fail("lost", "records %d..%d missing" % (expect, seq - 1))
            expect = seq + 1
            record = (rtype, point, ts, payload)
            known = self.held.get(seq)
            if known is not None:
                if known != record:
                    self.fail("corrupt", "record %d reads back different" % seq)
                continue
            if rtype == EVENT and len(payload) == 21 and payload[0] == ERC_RECORDS_LOST:
                name = payload[1:9].rstrip(b"\x00").decode()
                loss_totals[name] = payload[17] | payload[18] << 8 | payload[19] << 16 | \
                    payload[20] << 24
                continue
            inflight = self.inflight
            if (not seen_inflight and inflight is not None and inflight[0] == "append"
                    and inflight[1] == record):
                seen_inflight = True
                self.held[seq] = record     # it was complete when the power went
                continue
            self.fail("corrupt", "record %d was never appended" % seq)
        if expect != log.next_seq:
            self.fail("lost", "records end at %d, log says next is %d" % (expect, log.next_seq))
        for seq in list(self.held):
            if seq < oldest:
                del self.held[seq]
            elif seq >= log.next_seq:
                self.fail("lost", "acknowledged record %d is gone" % seq)
                del self.held[seq]
        if oldest > 1 and log._count < log._n - 1:
            self.fail("lost", "ring dropped sectors early: %d of %d in use" % (
                log._count, log._n))
        self.verify_cursors(oldest, loss_totals)

    def verify_cursors(self, oldest, loss_totals):
        log_cursors = self.log.stats()["cursors"]
        inflight = self.inflight
        names = set(self.cursors) | set(log_cursors)
        for name in names:
            model = self.cursors.get(name)
            got = log_cursors.get(name)
            if model is None:
                # only a cursor whose creation was in flight may appear
                if not (inflight and inflight[0] == "create" and inflight[1] == name):
                    self.fail("corrupt", "cursor %s appeared from nowhere" % name)
                self.cursors[name] = [got[0], got[1]]
                continue
            if got is None:
                if not (inflight and inflight[0] == "drop" and inflight[1] == name):
                    self.fail("corrupt", "cursor %s vanished" % name)
                del self.cursors[name]
                continue
            pos, lost = got
            candidates = [model[0]]
            if inflight and inflight[0] == "advance" and inflight[1] == name:
                candidates.append(max(model[0], inflight[2]))
            good = False
            for start in candidates:
                if start >= oldest and (pos, lost) == (start, model[1]):
                    good = True
                if start < oldest and (pos, lost) == (oldest, model[1] + oldest - start):
                    good = True
                    if loss_totals is not None and loss_totals.get(name) != lost:
                        self.fail("lost", "cursor %s lost %d records without an event" % (
                            name, oldest - start))
            if not good:
                self.fail("corrupt", "cursor %s at %d (lost %d), expected one of %r (lost %d), "
                          "oldest %d" % (name, pos, lost, candidates, model[1], oldest))
            self.cursors[name] = [pos, lost]

    def run(self, trials):
        for _ in range(trials):
            self.trial()
        return self
