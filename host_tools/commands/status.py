"""`conc status`: what a running concentrator is doing, read over USB
(host_tools/board_status.py), shown for people."""
import json
from decimal import Decimal

import click

from host_tools import board_api, board_status
from host_tools.output import table
from protocol import clock_math

ERC_NAMES = {3: "parameters changed", 12: "meter clock deviation", 14: "power off/on",
             20: "wrong password", 21: "terminal fault", 27: "energy decreased",
             31: "meter reading failed", 60: "relay command", 250: "records lost"}


def wall_text(seconds):
    if seconds is None:
        return "-"
    y, mo, d, h, mi, s = clock_math.from_seconds(seconds)[:6]
    return "%04d-%02d-%02d %02d:%02d:%02d" % (y, mo, d, h, mi, s)


def duration(seconds):
    seconds = int(seconds or 0)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return ("%dd " % d if d else "") + "%02d:%02d:%02d" % (h, m, s)


def uplink_text(up):
    """The uplink's state in two lines: link and modem, then uploads."""
    csq = up.get("signal_csq")
    signal = "-" if csq is None else ("unknown (99)" if csq == 99 else
                                      "CSQ %d (%d dBm)" % (csq, -113 + 2 * csq))
    stats = up.get("stats") or {}
    line = "uplink %s: signal %s, registration %s, logins %s, heartbeats %s, reconnects %s" % (
        up.get("state"), signal, up.get("registration"), stats.get("logins", 0),
        stats.get("heartbeats", 0), stats.get("reconnects", 0))
    if up.get("last_error"):
        line += ", last error: %s" % up["last_error"]
    uploads = up.get("uploads")
    if uploads is not None:
        line += "\n  uploads: %s records in %s frames confirmed, %s resent, backlog %s" % (
            uploads.get("records", 0), uploads.get("frames", 0), uploads.get("resent", 0),
            up.get("backlog"))
    return line


def event_text(erc, hexdata):
    """An event's fields in words (protocol.gw376_unit_events decodes the AFN0E layout)."""
    try:
        from protocol import gw376_unit_events
        fields = gw376_unit_events.decode_record(erc, bytes.fromhex(hexdata), 0, len(hexdata) // 2)
    except Exception:  # noqa: BLE001 - an event that does not decode is shown as bytes
        return hexdata
    fields.pop("erc", None)
    if "raw" in fields:
        return hexdata
    parts = []
    for key, value in fields.items():
        if isinstance(value, (list, tuple)) and len(value) == 5 and key != "units":
            value = "%04d-%02d-%02d %02d:%02d" % tuple(value)
        elif isinstance(value, (bytes, bytearray)):
            value = value.hex()
        parts.append("%s %s" % (key, value))
    return ", ".join(parts)


def _success(bus):
    """Share of reads that succeeded, in percent with one decimal (None before any read)."""
    total = bus["reads_ok"] + bus["reads_failed"]
    if not total:
        return None
    return (Decimal(100 * bus["reads_ok"]) / total).quantize(Decimal("0.1"))


def render(doc):
    out = []
    add = out.append
    if doc.get("note"):
        add("note: " + doc["note"])
    add("firmware %s on %s (%s, MicroPython %s)%s" % (
        doc.get("version"), doc.get("board"), doc.get("platform"), doc.get("micropython"),
        "" if doc.get("running") else "  -- NOT RUNNING"))
    if doc.get("running"):
        add("time %s   up %s   booted %s   last power-off %s" % (
            wall_text(doc.get("time")), duration(doc.get("uptime_s")),
            wall_text(doc.get("boot_at")), wall_text(doc.get("power_off_at"))))
        kernel = doc.get("kernel", {})
        add("heap %d KB used, %d KB free, peak %d KB   CPU %s%%   meters %d" % (
            doc["heap_used"] // 1024, doc["heap_free"] // 1024, doc["heap_peak"] // 1024,
            kernel.get("cpu", 0), doc.get("meters", 0)))
        wdt = kernel.get("watchdog") or {}
        if wdt:
            add("watchdog %s ms: %d feeds, %d withheld%s" % (
                wdt.get("timeout_ms"), wdt.get("feeds", 0), kernel.get("feeds_withheld", 0),
                ", would have reset %d time(s)" % wdt["would_reset"] if wdt.get("would_reset")
                else ""))
        add("")
        out.extend(table(
            ["task", "prio", "state", "runs", "cpu %", "max slice ms", "faults", "restarts"],
            [[t["name"], t["prio"], t["state"], t["runs"], t["cpu"],
              Decimal(t["max_slice_us"]).scaleb(-3).quantize(Decimal("0.1")), t["faults"],
              t["restarts"]] for t in doc.get("tasks", [])]))
        if doc.get("buses"):
            add("")
            out.extend(table(
                ["bus", "cycles", "reads ok", "failed", "success %", "timeouts", "garbled",
                 "last cycle ms"],
                [[b["bus"], b["cycles"], b["reads_ok"], b["reads_failed"], _success(b),
                  b.get("timeouts", 0), b.get("garbled", 0), b.get("last_cycle_ms", 0)]
                 for b in doc["buses"]]))
        uplink = doc.get("uplink")
        add("")
        if uplink:
            add(uplink_text(uplink))
        for name, why in sorted((doc.get("skipped") or {}).items()):
            add("not running: %s (%s)" % (name, why))
        for problem in doc.get("problems", []):
            add("boot problem: %s" % problem)
        for task, last in doc.get("faults", []):
            add("task fault: %s: %s" % (task, last))
    else:
        add("heap %d KB used, %d KB free" % (doc.get("heap_used", 0) // 1024,
                                              doc.get("heap_free", 0) // 1024))
    ring = doc.get("ring")
    if ring:
        add("ring log: %d records (seq %d..%d), %d of %d sectors (%d%%)" % (
            ring["records"], ring["oldest_seq"], ring["next_seq"] - 1, ring["sectors_used"],
            ring["sectors"], ring["usage_pct"]))
        for name, c in sorted(ring["cursors"].items()):
            add("  cursor %-8s at %d: backlog %d, lost %d" % (name, c["position"], c["backlog"],
                                                                c["lost"]))
    events = doc.get("events") or []
    if events:
        add("recent events:")
        for seq, ts, _point, erc, data in events:
            add("  #%-6d %s  ERC%-3d %-22s %s" % (
                seq, wall_text(ts), erc, ERC_NAMES.get(erc, ""), event_text(erc, data)))
    return "\n".join(out)


@click.command()
@board_api.port_option
@board_api.json_option
def cli(port, as_json):
    """Show what a board's firmware is doing: version, uptime, heap now and peak, every task
    (CPU share, longest slice without yielding, faults), read success per RS-485 bus, the
    uplink, ring-log usage and the backlog of each consumer, and the latest events.

    The firmware is interrupted for a moment (its statistics stay in memory) and resumed.

    \b
    Examples:
      conc status --port /dev/ttyUSB0
      conc status --json | jq .ring
    """
    doc = board_status.read_status(port)
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(render(doc))
