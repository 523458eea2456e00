# The concentrator's uplink as a board runs it, under the real MicroPython, for tests/uplink and
# tests/bench/bench_uplink.py. Usage: micropython uplink_board.py CONFIG.json
#
# CONFIG keys: image (ring-log image file), modem (pty path; absent: plain socket), dialect,
# host, port, settings (overrides), heartbeat_ms, redial_ms, run_ms (how long the link runs),
# until_backlog_empty, power_cycle_after,
# outage {"meters", "hours", "curve_min", "redial_max_s"}: first, on VIRTUAL time, the meters
#   produce curve records every curve_min for `hours` while the master cannot be reached (a
#   closed port) and the link backs off; then the real link delivers the backlog,
# events [erc, ...]: events appended before the link starts,
# append_every_ms: append a reading batch this often while the link runs (live traffic),
#   until append_until_ms; until_drained: stop once that is over and everything is confirmed.
# until_requests: stop once the terminal has answered this many of the master's requests and
#   the master has closed the connection (it has every answer then).
# Prints one line "@@RESULT {json}" at the end.
import json
import sys

from firmware import quantities as qs
from firmware import log_records
from firmware.hal.norflash import NorFlash
from firmware.kernel import Kernel
from firmware.link import Link
from firmware.ringlog import RingLog
from firmware.terminal import Terminal
from firmware.uplink import EventIndex, Uploader
from firmware.wallclock import WallClock
from protocol import settings as schema

START = 848000000            # 2026-11-15 17:46:40 local, seconds since 2000

CURVE_ITEMS = [qs.item_id(qs.CURVE, q) for q in (1, 11, 12, 13, 14, 17)]


class Latest:
    """The latest readings provider of the terminal, from a dict the test fills."""

    def __init__(self):
        self.values = {}

    def reading(self, point):
        return self.values.get(point)


def make_settings(cfg):
    s = schema.defaults()
    s.update({"terminal.area": 4101, "terminal.address": 1, "master.host": cfg.get("host", "127.0.0.1"),
              "master.port": cfg["port"], "comm.response_timeout_s": 2, "comm.retries": 1,
              "comm.heartbeat_min": 1, "comm.redial_s": 1, "comm.redial_max_s": 8,
              "comm.password": "736563726574" + "00" * 10,     # b"secret" in hex
              # the test master counts records by their F241 identity; "standard": true runs
              # the default standard reporting instead
              "report.compact": 0 if cfg.get("standard") else 1})
    s.update(cfg.get("settings", {}))
    return s


def curve_values(meter, slot):
    base = 1000000 + meter * 5000 + slot * 25
    return [base, 2200 + meter % 7, 2210, 2190, 5000 + slot % 11, 11000 + meter]


def outage(cfg, log, s, result):
    """Phase 1 on virtual time: meters keep producing while the master is unreachable."""
    from firmware.hal.net import SocketLink
    from firmware.vclock import VirtualClock
    o = cfg["outage"]
    vclock = VirtualClock()
    k = Kernel(vclock)
    wall = WallClock(vclock, START)
    term = Terminal(s, wall, log)
    dead = dict(s)
    dead["master.port"] = 1           # nothing listens there: connection refused at once
    dead["comm.redial_max_s"] = o.get("redial_max_s", 1800)
    link = Link(k, SocketLink(k), term, dead, Uploader(log, term), vclock,
                power_cycle_after=10**6)
    meters = o["meters"]
    slots = o["hours"] * 60 // o["curve_min"]
    delays = []

    async def producer():
        values = [0] * len(CURVE_ITEMS)
        for slot in range(slots):
            await k.time_dly(o["curve_min"] * 60000)
            now = wall.now()
            for meter in range(1, meters + 1):
                v = curve_values(meter, slot)
                for i in range(len(v)):
                    values[i] = v[i]
                log_records.append_readings(log, meter, now, CURVE_ITEMS, values)
            delays.append(link.stats["backoff_ms"])
        link.stop()
        k.stop()

    k.task_create(link.run, 10)
    k.task_create(producer, 20)
    first = log.next_seq
    k.run()
    result["outage"] = {"records": log.next_seq - first, "first_seq": first,
                        "virtual_s": (wall.now() - START), "attempts": link.stats["failures"],
                        "backoffs": delays, "connects": link.stats["connects"]}


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    s = make_settings(cfg)
    flash = NorFlash(block_size=4096, block_count=cfg.get("blocks", 64), path=cfg["image"])
    log = RingLog(flash, create=True)
    result = {"start_seq": log.next_seq}
    if cfg.get("outage"):
        outage(cfg, log, s, result)
    for erc in cfg.get("events", []):
        log_records.append_event(log, 1, START, erc, bytes(21) if erc == 31 else b"")
    from firmware.hal import clock
    k = Kernel(clock)
    wall = WallClock(clock, START + 6 * 3600)
    events = EventIndex(log)
    events.read_to = cfg.get("events_read_to", 0)
    latest = Latest()
    latest.values[1] = (START, {1: 1234567, 2: 1000, 3: 2000, 4: 3000, 5: 4000, 11: 2201,
                                12: 2202, 13: 2203, 14: 5001, 15: 5002, 16: 5003, 17: 11000,
                                21: 987})
    saved = []

    class Store:
        def save(self, settings):
            saved.append(settings.get("comm.heartbeat_min"))

    term = Terminal(s, wall, log, latest=latest, store=Store(), events=events, kernel=k)
    if cfg.get("modem"):
        from firmware.hal.serial_tty import TtyPort
        from firmware.modem import Modem
        channel = Modem(k, TtyPort(cfg["modem"], 115200, "N"), cfg.get("dialect", "sim800"),
                        clock, registration_s=cfg.get("registration_s", 60))
    else:
        from firmware.hal.net import SocketLink
        channel = SocketLink(k)
    up = Uploader(log, term, events, window=cfg.get("window", 4))
    stop = []
    link = Link(k, channel, term, s, up, clock, heartbeat_ms=cfg.get("heartbeat_ms"),
                redial_ms=cfg.get("redial_ms"),
                power_cycle_after=cfg.get("power_cycle_after", 3),
                on_reset=lambda: stop.append(1))
    timeline = []
    errors = []

    async def watch():
        t0 = clock.ticks_ms()
        backlog_start = up.backlog()
        delivered_at = None
        state = None
        append_every = cfg.get("append_every_ms", 0)
        next_append = append_every
        slot = 0
        while True:
            await k.time_dly(20)
            el = clock.ticks_diff(clock.ticks_ms(), t0)
            if link.state != state:
                state = link.state
                timeline.append((el, state, link.last_error))
            if link.last_error and (not errors or errors[-1] != link.last_error):
                errors.append(link.last_error)
            if stop:
                result["reset_ms"] = el
                break
            if append_every and el >= next_append and el < cfg.get("append_until_ms", 1 << 30):
                next_append += append_every
                slot += 1
                log_records.append_readings(log, 1, wall.now(), CURVE_ITEMS, curve_values(1, slot))
            if delivered_at is None and backlog_start and up.backlog() == 0:
                delivered_at = el
                result["delivered_ms"] = el
                if cfg.get("until_backlog_empty"):
                    break
            if cfg.get("until_drained") and el >= cfg.get("append_until_ms", 0) and \
                    link.state == "online" and up.backlog() == 0 and not up.in_flight():
                break
            if cfg.get("until_requests") and link.state != "online" and \
                    term.stats["requests"] >= cfg["until_requests"]:
                break
            if el >= cfg.get("run_ms", 10000):
                break
        link.stop()
        k.stop()

    k.task_create(link.run, 10)
    k.task_create(watch, 30)
    k.run()
    import gc
    gc.collect()
    result.update({"login_ms": link.login_ms, "stats": link.stats, "uploader": up.stats,
                   "backlog": up.backlog(), "cursor": log.cursor("uplink"),
                   "next_seq": log.next_seq, "timeline": timeline, "errors": errors, "saved": saved,
                   "terminal": term.stats, "settings_hb": s["comm.heartbeat_min"],
                   "modem": getattr(channel, "stats", None), "mem_free": gc.mem_free(),
                   "clock": wall.now()})
    print("@@RESULT " + json.dumps(result))


main()
