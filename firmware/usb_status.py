"""`conc status` on the board: `import firmware.usb_status as s; s.status()` prints one JSON
document about the running firmware.

Called WITHOUT a soft reset, in the heap of the firmware the USB transport has just
interrupted (its kernel statistics, bus counters and ring log are still there), so this module
is kept small and imports nothing the firmware has not loaded already. Without a running
firmware it reports the board, the heap and the ring log it mounts (firmware/usb_api.py).
"""
import gc
import json
import sys

from firmware import concentrator as conc
from protocol.compat import const

RECENT_EVENTS = const(8)
EVENT_SCAN = const(512)
_EVENT = const(0x02)


def ring_status(log):
    st = log.stats()
    cursors = {}
    for name in log.cursor_names():
        pos, lost = st["cursors"].get(name, (0, 0))
        if pos == 0xFFFFFFFF:
            continue
        cursors[name] = {"position": pos, "backlog": log.backlog(name), "lost": lost}
    return {"sectors": st["sectors"], "sector_size": st["sector_size"],
            "sectors_used": st["sectors_used"],
            "usage_pct": st["sectors_used"] * 100 // st["sectors"],
            "oldest_seq": st["oldest_seq"], "next_seq": st["next_seq"],
            "records": st["next_seq"] - st["oldest_seq"], "cursors": cursors}


def recent_events(log, count=RECENT_EVENTS):
    import binascii
    first = max(log.oldest_seq, log.next_seq - EVENT_SCAN)
    out = []
    for seq, _, point, ts, payload in log.records(first, rtype=_EVENT):
        out.append([seq, ts, point, payload[0], binascii.hexlify(payload[1:]).decode()])
        if len(out) > count:
            out.pop(0)
    return out


def _status():
    c = conc.current
    booting = c is not None and not c.booted
    if booting:
        c = None                # interrupted while it booted: ask again once it runs
    doc = {"version": conc.VERSION, "platform": sys.platform, "running": c is not None,
           "booting": booting,
           "micropython": ".".join(str(v) for v in sys.implementation.version[:3])}
    if booting:
        return doc
    if c is None:
        gc.collect()
        doc.update({"heap_free": gc.mem_free(),
                    "heap_used": gc.mem_alloc()})
        try:
            from firmware.usb_api import board_config, ring_log, starts_at_boot
            doc["starts_at_boot"] = starts_at_boot()
            doc["board"] = board_config().get("name")
            log = ring_log()
        except Exception as exc:  # noqa: BLE001
            doc["ring_error"] = repr(exc)
            log = None
    else:
        from firmware import kernel_stats
        k = kernel_stats.report(c.kernel)
        tasks = k.pop("tasks")
        doc.update({"board": c.board.get("name"), "time": c.wall.now(), "boot_at": c.boot_at,
                    "power_off_at": c.power_off_at, "uptime_s": k["uptime_ms"] // 1000,
                    "heap_free": k["heap_free"], "heap_used": k["heap_used"],
                    "heap_peak": k["heap_peak"], "kernel": k, "tasks": tasks,
                    "problems": c.problems, "skipped": c.skipped,
                    "faults": [list(f) for f in c.faults],  # pyright: ignore[reportGeneralTypeIssues] - faults is filled by the concentrator
                    "meters": len(c.archive) if c.archive is not None else 0,
                    "buses": c.poller.stats() if c.poller is not None else []})
        up = c.uplink
        if up is not None and hasattr(up, "status"):
            doc["uplink"] = up.status()
        log = c.log
    if log is not None:
        doc["ring"] = ring_status(log)
        doc["events"] = recent_events(log)
    return doc


def status():
    try:
        json.dump(_status(), sys.stdout)    # streamed: no one large string in the heap
        print()
    except Exception as exc:  # noqa: BLE001 - the host shows it; the firmware resumes anyway
        print(json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}))
