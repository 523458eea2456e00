"""What the host's USB commands call on the board, each printing ONE JSON document.

The host (host_tools/usb.py) stops the firmware with Ctrl-C, runs a snippet such as
`import firmware.usb_api as u; u.status()` in the raw REPL, parses the printed JSON and resumes
the firmware with a soft reset. The host never pokes at firmware internals: this module is the
whole contract, and a failure the user can fix prints {"error": "what was wrong"}.

    (status: firmware/usb_status.py, small, since it runs in the interrupted firmware's heap)
    config_show()                 {"settings": {key: value, secrets as "(set)"}, "problems": [...],
                                  "converted": [key...] saved in today's notation (an old PW)}
    config_set(changes)           validate every value, then replace /config.json atomically
    meters_list(after, limit)     {"meters": [entry...], "next": point or None, "count": n}
    meters_apply(changes)         {"point": entry or None}: validated, applied atomically
    bus_task_ready()              {"ready": bool}: meter tests can go through the bus tasks
    test_read(point)              read one meter once now: values, latency, problem (through
                                  the interrupted firmware's bus task when it is ready, else
                                  after a soft reset with the buses opened here)
    pull_begin()                  {"cursor", "oldest", "next", "items": {id: [kind, name]}}
    pull_chunk(first, limit, since)   a header line {"first", "next", "count", "crc"} then the
                                  records as one JSON line whose CRC-32 the header carries
    pull_commit(seq)              advance the "usb" cursor to seq (the host has stored < seq)

Commands that write (config, meters, pull) run after a soft reset, on a clean heap with nothing
else running; they mount the ring log afresh (an interrupt can land inside a log write, and a
fresh mount is what repairs it).
"""
import json

from firmware import concentrator as conc

CURSOR = "usb"


def _print(doc):
    print(json.dumps(doc))


def _error(exc):
    reason = getattr(exc, "reason", None)
    _print({"error": reason if reason else ("%s: %s" % (type(exc).__name__, exc))})


def _feed():
    # A real watchdog (ESP32, STM32) cannot be stopped: keep it fed while a command runs.
    c = conc.current
    if c is not None and c.watchdog is not None:
        c.watchdog.feed()


def starts_at_boot():
    """True when conc flash installed main.py and the firmware, so the board runs it at boot."""
    # conc flash's main.py with the firmware beside it: not running now means it was stopped
    # before it got going (a command just before restarted the board), or it failed to start
    import os
    for path in ("main.py", "firmware/main.mpy"):
        try:
            os.stat(path)
        except OSError:
            return False
    return True


def board_config():
    """The board's /board.json, or what a board without one runs with."""
    board, _ = conc.read_json(conc.BOARD_FILE)
    return board if isinstance(board, dict) else conc.default_board()


_log = None


def ring_log():
    """The ring log: the running firmware's, or a fresh mount (no format: never wipe data)."""
    global _log
    c = conc.current
    if c is not None and c.log is not None:
        return c.log
    if _log is None:
        from firmware.hal.flash import open_data_partition
        from firmware.ringlog import RingLog
        board = board_config()
        if not board.get("data_partition"):
            raise ValueError("this board has no data partition (run conc flash --board NAME)")
        _log = RingLog(open_data_partition(board, ""))
    return _log


# --- config ----------------------------------------------------------------------------------
def _shown(values):
    from protocol import settings as schema
    out = {}
    for key in values:
        if schema.SCHEMA[key][0] == schema.SECRET:
            out[key] = schema.show(key, values[key])
        else:
            out[key] = values[key]
    return out


def _upgrade_file():
    """Save settings an older firmware wrote in today's notation (the PW as hex, same bytes),
    once: the keys converted, [] when the file needed nothing."""
    from protocol.pw import upgrade
    raw, _ = conc.read_json(conc.CONFIG_FILE)
    if not isinstance(raw, dict):
        return []
    converted = upgrade(raw)
    if converted:
        _write_config(raw)
    return converted


def _write_config(values):
    import os
    tmp = conc.CONFIG_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(values, f)
    os.rename(tmp, conc.CONFIG_FILE)


def config_show():
    try:
        converted = _upgrade_file()
        values, problems = conc.load_settings()
        _print({"settings": _shown(values), "problems": problems, "converted": converted})
    except Exception as exc:  # noqa: BLE001
        _error(exc)


def config_set(changes):
    """Check every value, then write the whole file under a temporary name and rename it."""
    from protocol import settings as schema
    try:
        checked = {}
        for key in changes:
            checked[key] = schema.check(key, changes[key])
        raw, _ = conc.read_json(conc.CONFIG_FILE)
        kept = {}
        from protocol.pw import upgrade
        converted = upgrade(raw)
        if isinstance(raw, dict):
            for key in raw:       # keep the file's good keys; bad ones would only warn again
                try:
                    kept[key] = schema.check(key, raw[key])
                except Exception:  # noqa: BLE001
                    pass
        changed = [key for key in checked if kept.get(key) != checked[key]]
        kept.update(checked)
        _write_config(kept)
        values, problems = schema.load(kept)
        _print({"changed": sorted(changed), "settings": _shown(values), "problems": problems,
                "converted": converted})
    except Exception as exc:  # noqa: BLE001
        _error(exc)


# --- meters ----------------------------------------------------------------------------------
def _archive():
    from firmware.archive import Archive
    c = conc.current
    if c is not None and c.archive is not None:
        return c.archive
    return Archive(conc.METERS_FILE)


def meters_list(after=0, limit=64):
    try:
        archive = _archive()
        out = []
        last = None
        for point in archive.points():
            if point <= after:
                continue
            if len(out) >= limit:
                last = out[-1]["point"]
                break
            out.append(archive.get(point))
        _print({"meters": out, "next": last, "count": len(archive)})
    except Exception as exc:  # noqa: BLE001
        _error(exc)


def meters_apply(changes):
    """{"point" (text or int): entry or None}; all or nothing."""
    try:
        archive = _archive()
        batch = {}
        for key in changes:
            batch[int(key)] = changes[key]
        n = archive.apply(batch)
        _print({"changed": n, "count": len(archive)})
    except Exception as exc:  # noqa: BLE001
        _error(exc)


class _Tester:
    """Reads meters with the poller's own read transaction when no firmware runs (after a soft
    reset): its own kernel, and the buses opened here."""

    def __init__(self):
        from firmware.hal import clock
        from firmware.kernel import Kernel
        from firmware.meter_state import MeterState
        from firmware.plans import Plans
        self.board = board_config()
        settings, _ = conc.load_settings()
        self.settings = settings
        self.clock = clock
        self.kernel = Kernel()
        self.archive = _archive()
        self.state = MeterState()
        self.plans = Plans(settings)
        self.links = {}                 # bus -> (baud, parity, port, link, reader)
        self.slot = bytearray(40)

    def _reader(self, bus, baud, parity):
        from firmware.hal.board_ports import open_bus
        from firmware.bus_link import BusLink
        from firmware.meter_reader import MeterReader
        have = self.links.get(bus)
        if have is not None and have[0] == baud and have[1] == parity:
            return have[4]
        if have is not None:
            have[2].close()
            self.links.pop(bus)
        port = open_bus(self.board, bus, baud, parity)
        if port is None:
            return None
        s = self.settings
        link = BusLink(self.kernel, self.clock, port, s.get("poll.turnaround_ms", 500),
                       s.get("poll.retries", 1))
        reader = MeterReader(link, self.state)
        self.links[bus] = (baud, parity, port, link, reader)
        return reader

    def read(self, point):
        from firmware.meter_test import read_once
        entry = self.archive.get(point)
        if entry is None:
            return {"point": point, "ok": False, "problem": "no meter at point %d" % point}
        try:
            reader = self._reader(entry["bus"], entry["baud"], entry["parity"])
        except Exception as exc:  # noqa: BLE001
            return {"point": point, "bus": entry["bus"], "address": entry["address"],
                    "ok": False, "problem": "bus %d did not open: %r" % (entry["bus"], exc)}
        if reader is None:
            return {"point": point, "bus": entry["bus"], "address": entry["address"],
                    "ok": False, "problem": "bus %d has no device attached" % entry["bus"]}
        self.archive.read_slot(point, self.slot)
        result = []

        async def once():
            result.append(await read_once(reader, point, entry, self.slot,
                                          self.plans.realtime, self.clock))

        self.kernel.task_create(once, 10, name="test")
        self.kernel.run()
        return result[0]


_tester = None
TEST_TIMEOUT_MS = 20000         # a bus task finishes the meter it is reading first


def _bus_tasks():
    """The interrupted firmware when meter tests can go through its bus tasks: it had booted,
    it polls, and it was stopped where its state is whole; else None."""
    c = conc.current
    if c is not None and c.booted and c.poller is not None and c.stopped_idle:
        return c
    return None


def bus_task_ready():
    """{"ready": true} when meter tests can go through the interrupted firmware's bus tasks;
    else the host soft-resets the board and tests without them."""
    _print({"ready": _bus_tasks() is not None})


def _through_bus_task(c, point):
    """Run the interrupted firmware again until its bus task has read `point`: the bus stays
    with the task that holds it, which reads the meter between two meters of its cycle."""
    from firmware.kernel import OS_ERR_NONE, OS_LOWEST_PRIO, ON_FAULT_REMOVE
    k = c.kernel
    result = []

    async def ask():
        result.append(await c.poller.tester.test(point, TEST_TIMEOUT_MS))
        k.stop()

    for prio in range(OS_LOWEST_PRIO - 1, 0, -1):   # the lowest free priority
        if k.task_create(ask, prio, name="usbtest", on_fault=ON_FAULT_REMOVE) == OS_ERR_NONE:
            break
    else:
        return {"point": point, "ok": False, "problem": "no free task slot for the test"}
    k.run(TEST_TIMEOUT_MS + 10000)
    c.stopped(clean=True)       # it logged again while it ran: the stop marker comes last
    doc = result[0] if result else None
    if doc is None:
        return {"point": point, "ok": False,
                "problem": "the bus task did not take the test in time: try again"}
    doc["via"] = "bus task"
    return doc


def test_read(point):
    global _tester
    try:
        c = _bus_tasks()
        if c is not None:
            _print(_through_bus_task(c, point))
            return
        if _tester is None:
            _tester = _Tester()
        _print(_tester.read(point))
    except Exception as exc:  # noqa: BLE001
        _error(exc)


# --- pull ------------------------------------------------------------------------------------
def pull_begin():
    try:
        from firmware import quantities as qs
        log = ring_log()
        items = {}
        for kind in range(len(qs.KIND_NAMES)):
            for q in range(1, len(qs.NAMES)):
                if qs.NAMES[q]:
                    items[qs.item_id(kind, q)] = [qs.KIND_NAMES[kind], qs.NAMES[q]]
        _print({"cursor": log.cursor(CURSOR), "oldest": log.oldest_seq, "next": log.next_seq,
                "lost": log.lost(CURSOR), "items": items})
    except Exception as exc:  # noqa: BLE001
        _error(exc)


def pull_chunk(first, limit=48, since=None):
    """Records from `first` on: at most `limit` sent, at most 8 x limit looked at (records
    older than `since` are passed over). Two lines: header, then the records' JSON, whose
    CRC-32 is in the header, so the host proves the chunk arrived whole."""
    import binascii
    try:
        from firmware import log_records as rec
        _feed()
        log = ring_log()
        rows = []
        nxt = max(first, log.oldest_seq)
        scanned = 0
        for seq, rtype, point, ts, payload in log.records(first):
            nxt = seq + 1
            scanned += 1
            if since is None or ts >= since:
                if rtype == rec.READINGS:
                    body = [list(pair) for pair in rec.unpack_readings(payload)]
                else:
                    body = binascii.hexlify(payload).decode()
                rows.append([seq, rtype, point, ts, body])
            if len(rows) >= limit or scanned >= 8 * limit:
                break
        # The records' JSON goes out row by row, its CRC summed the same way beforehand: the
        # whole text at once (and its bytes for the CRC) took blocks of several KB, which a
        # heap in pieces after a day's work may not have.
        crc = 0
        for piece in _json_pieces(rows):
            crc = binascii.crc32(piece.encode(), crc)
        print(json.dumps({"first": first, "next": nxt, "count": len(rows),
                          "crc": crc & 0xFFFFFFFF, "head": log.next_seq}))
        for piece in _json_pieces(rows):
            print(piece, end="")
        print()
    except Exception as exc:  # noqa: BLE001
        _error(exc)


def _json_pieces(rows):
    """The JSON array of `rows`, one element at a time."""
    yield "["
    for i, row in enumerate(rows):
        yield ", " + json.dumps(row) if i else json.dumps(row)
    yield "]"


def pull_commit(seq):
    try:
        log = ring_log()
        log.advance(CURSOR, seq)
        _print({"cursor": log.cursor(CURSOR), "backlog": log.backlog(CURSOR)})
    except Exception as exc:  # noqa: BLE001
        _error(exc)
