"""Pulling readings and events from a board's ring log over USB, resumably (`conc pull`).

    summary = pull(port, "readings.csv", "csv", on_progress=lambda done, total: ...)

How nothing is lost or doubled: the board keeps a "usb" cursor in its ring log (the first
record not yet pulled). The host reads chunks of records from the cursor, each with a CRC-32 of
its bytes; writes them to the output and makes them durable (flush + fsync for csv/json, COMMIT
for sqlite); only then tells the board to advance the cursor past them (every COMMIT_EVERY
records or COMMIT_CHUNKS chunks, and at the end: each step is a record in the board's flash). A pull interrupted
anywhere therefore leaves the cursor at or before the first record not safely stored, and the
next run starts there. Records a rerun sends again (stored, but the cursor did not move yet)
are recognised by their sequence number, the ring log's identity of a record: csv and json
outputs skip sequence numbers they already hold, sqlite ignores duplicate keys.
"""
import binascii
import csv
import json
import os
import sqlite3
import sys

from host_tools import board_api
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from protocol import clock_math, gw376_unit_events

CHUNK = 48            # records per chunk: a few KB of JSON on the board's heap
COMMIT_EVERY = 384    # records per durable commit + cursor step (each step is a flash write)
COMMIT_CHUNKS = 8     # ... or chunks, whichever comes first
READINGS, EVENT, MARKER = 1, 2, 3
RECORD_NAMES = {READINGS: "readings", EVENT: "event", MARKER: "marker"}
# firmware/log_records.py MARK_* and firmware/concentrator.py MARK_ALIVE / MARK_STOPPED
MARKER_NAMES = {1: "boot", 2: "clock_set", 3: "format", 4: "alive", 5: "stopped"}
FIELDS = ("seq", "time", "point", "record", "kind", "quantity", "value", "detail")
FORMATS = ("csv", "json", "sqlite")


def wall_iso(seconds):
    y, mo, d, h, mi, s = clock_math.from_seconds(seconds)[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (y, mo, d, h, mi, s)


def expand(record, items):
    """One ring-log record -> flat rows {seq, time, point, record, kind, quantity, value,
    detail}: one row per reading, one per event or marker."""
    seq, rtype, point, ts, body = record
    base = {"seq": seq, "time": wall_iso(ts), "point": point,
            "record": RECORD_NAMES.get(rtype, "type%d" % rtype)}
    if rtype == READINGS:
        rows = []
        for item, value in body:
            kind, name = items.get(str(item), ("kind%d" % (item >> 6), "q%d" % (item & 63)))
            rows.append(dict(base, kind=kind, quantity=name, value=value, detail=""))
        return rows
    data = binascii.unhexlify(body)
    if rtype == EVENT and data:
        return [dict(base, kind="event", quantity="ERC%d" % data[0], value=None,
                     detail=event_detail(data[0], data[1:]))]
    if rtype == MARKER and data:
        return [dict(base, kind="marker",
                     quantity=MARKER_NAMES.get(data[0], "marker%d" % data[0]), value=None,
                     detail=data[1:].decode("ascii", "replace"))]
    return [dict(base, kind="", quantity="", value=None, detail=body)]


def event_detail(erc, data):
    """An event's fields as JSON text (protocol.gw376_unit_events decodes the AFN0E layout)."""
    try:
        fields = gw376_unit_events.decode_record(erc, data, 0, len(data))
        fields.pop("erc", None)
        return json.dumps(fields, default=lambda v: v.hex() if isinstance(v, bytes) else str(v),
                          sort_keys=True)
    except Exception:  # noqa: BLE001 - an event we cannot decode is kept as bytes
        return data.hex()


# --- outputs ---------------------------------------------------------------------------------
class TextOutput:
    """CSV or JSON lines, appended; durable (fsync) before the cursor moves."""

    def __init__(self, path, fmt):
        self.path = path
        self.fmt = fmt
        self.last_seq = 0 if path == "-" else self._last_seq()
        if path == "-":
            self.file = sys.stdout
            new = True
        else:
            new = not os.path.exists(path) or os.path.getsize(path) == 0
            self.file = open(path, "a", encoding="utf-8", newline="")
        self.csv = csv.writer(self.file, lineterminator="\n") if fmt == "csv" else None
        if new and self.csv:
            self.csv.writerow(FIELDS)

    def _last_seq(self):
        """The highest sequence already in the file (a rerun must not write it twice)."""
        if not os.path.exists(self.path):
            return 0
        last = 0
        with open(self.path, "rb") as f:
            try:
                f.seek(-65536, os.SEEK_END)
                f.readline()            # a partial first line
            except OSError:
                f.seek(0)
            for raw in f:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    seq = json.loads(line)["seq"] if self.fmt == "json" else \
                        int(next(csv.reader([line]))[0])
                except (ValueError, KeyError, TypeError, IndexError, csv.Error):
                    continue            # the header, or a torn last line
                last = max(last, seq)
        return last

    def write(self, rows):
        for row in rows:
            if row["seq"] <= self.last_seq:
                continue
            if self.csv:
                self.csv.writerow(["" if row[k] is None else row[k] for k in FIELDS])
            else:
                self.file.write(json.dumps(row, sort_keys=True) + "\n")

    def commit(self):
        self.file.flush()
        if self.path != "-":
            os.fsync(self.file.fileno())

    def close(self):
        if self.path != "-":
            self.file.close()


class SqliteOutput:
    """readings(seq, item ...) and events(seq ...) tables; duplicates ignored by key."""

    def __init__(self, path):
        if path == "-":
            raise CliError("sqlite output needs a file: -o FILE.db", EXIT_BAD_INPUT)
        self.db = sqlite3.connect(path)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS readings (seq INTEGER, time TEXT, point INTEGER, "
            "kind TEXT, quantity TEXT, value INTEGER, PRIMARY KEY (seq, kind, quantity));"
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, time TEXT, "
            "point INTEGER, record TEXT, code TEXT, detail TEXT);")
        self.last_seq = 0

    def write(self, rows):
        self.db.executemany(
            "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?)",
            [(r["seq"], r["time"], r["point"], r["kind"], r["quantity"], r["value"])
             for r in rows if r["record"] == "readings"])
        self.db.executemany(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
            [(r["seq"], r["time"], r["point"], r["record"], r["quantity"], r["detail"])
             for r in rows if r["record"] != "readings"])

    def commit(self):
        self.db.commit()

    def close(self):
        self.db.close()


def open_output(path, fmt):
    try:
        if fmt == "sqlite":
            return SqliteOutput(path)
        return TextOutput(path, fmt)
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CliError("cannot write %s (%s): check that its folder exists and is writable"
                       % (path, reason), EXIT_BAD_INPUT) from None


# --- the transfer ----------------------------------------------------------------------------
def read_chunk(board, first, since, chunk=None):
    """(header, records) of one chunk, its CRC checked; one retry on a corrupted transfer."""
    for _attempt in range(2):
        text = board_api.run(board, "u.pull_chunk(%d, %d, %s)" % (first, chunk or CHUNK, since))
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) == 1:
            board_api.parse(lines[0], board.port)       # an {"error": ...}
        if len(lines) != 2:
            continue
        header = json.loads(lines[0])
        body = lines[1].encode()
        if binascii.crc32(body) & 0xFFFFFFFF == header["crc"]:
            return header, json.loads(body)
    raise CliError("a chunk from the board failed its CRC twice: check the cable and run the "
                   "pull again (nothing was lost)", EXIT_FAILED)


class Summary(dict):
    """What a pull stored: counts by record type, the sequence range, the cursor after it."""

    def __init__(self):
        super().__init__(records=0, readings=0, events=0, markers=0, first_seq=None,
                         last_seq=None, skipped_duplicates=0, lost=0, cursor=None)

    def count(self, record, rows):
        seq, rtype = record[0], record[1]
        self["records"] += 1
        if rtype == READINGS:
            self["readings"] += len(rows)
        elif rtype == EVENT:
            self["events"] += 1
        else:
            self["markers"] += 1
        if self["first_seq"] is None:
            self["first_seq"] = seq
        self["last_seq"] = seq


def pull(port, output_path, fmt, since=None, chunk=None, on_progress=None):
    """Pull everything after the board's usb cursor into output_path (`fmt`: csv, json or
    sqlite; "-" is standard output for csv and json); `since`: wall seconds since 2000, older
    records are passed over. `on_progress(records_done, records_total)` follows the transfer.
    Returns the Summary (a dict)."""
    out = open_output(output_path, fmt)
    summary = Summary()
    try:
        with board_api.open_board(port) as board:
            begin = board_api.call(board, "pull_begin()")
            items = begin["items"]
            start = first = begin["cursor"]
            summary["cursor"] = first
            summary["lost"] = begin.get("lost", 0)
            total = max(0, begin["next"] - first)
            pending = 0             # records written since the last durable commit
            chunks = 0
            while True:
                header, records = read_chunk(board, first, "None" if since is None
                                             else int(since), chunk)
                if header["next"] <= first:
                    break
                rows = []
                for record in records:
                    expanded = expand(record, items)
                    rows.extend(expanded)
                    if record[0] <= out.last_seq:
                        summary["skipped_duplicates"] += 1
                    else:
                        summary.count(record, expanded)
                out.write(rows)
                pending += len(records)
                first = header["next"]
                if on_progress:
                    on_progress(min(first - start, total), total)
                done = first >= header["head"]
                chunks += 1
                if done or pending >= COMMIT_EVERY or chunks % COMMIT_CHUNKS == 0:
                    _commit(board, out, first, summary)
                    pending = 0
                if done:
                    break
            if pending:
                _commit(board, out, first, summary)
    finally:
        out.close()
    return summary


def _commit(board, out, first, summary):
    """Make the output durable, then move the board's cursor to `first`: in that order, so an
    interruption between the two repeats records (recognised by seq), never loses any."""
    out.commit()
    board_api.call(board, "pull_commit(%d)" % first)
    summary["cursor"] = first
