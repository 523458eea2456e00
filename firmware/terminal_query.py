"""The master's queries of the terminal's settings (AFN0A F1, F3, F8, F10, F65..F68, F241: what
firmware/terminal_admin.py sets). Loaded only while one such request is answered
(firmware/terminal.py unloads it again). Every function takes the Terminal as `term` and
returns the reply frames, or None for a denial.
"""
from protocol import clock_math, gw376_units


def query(term, frame):
    units = []
    for pn, fn, data in frame.units:
        if fn == 10:
            from firmware import terminal_archive      # terminal.py unloads it after the request
            value = terminal_archive.query(term, data)
        elif fn in (1, 3, 8) and pn == 0:
            value = param(term, fn)
        elif 65 <= fn <= 68 and 1 <= pn <= 64:
            value = report_task(term, fn, pn)
        elif fn == 241 and pn == 0:
            value = {"compact": term.settings.get("report.compact", 0)}
        else:
            return None
        if value is None:
            return None
        units.append((pn if fn >= 65 else 0, fn, value))
    return term._reply(frame, units)


def report_task(term, fn, number):
    """The AFN0A F65..F68 value of a task, or None (denied) when it was never set."""
    from protocol.report_tasks import find_task
    t = find_task(term.settings.get("report.tasks") or [], 1 if fn in (65, 67) else 2, number)
    if t is None:
        return None
    if fn >= 67:
        return {"action": gw376_units.REPORT_START if t[6] else gw376_units.REPORT_STOP}
    b = clock_math.from_seconds(t[4])
    return {"unit": t[2], "period": t[3], "ratio": t[5], "units": [tuple(u) for u in t[7]],
            "base": (b[0], b[1], b[2], b[3], b[4], b[5], (t[4] // 86400 + 5) % 7 + 1)}


def param(term, fn):
    s = term.settings
    if fn == 1:
        return {"rts_delay_20ms": s.get("comm.rts_delay_20ms", 0),
                "send_delay_min": s.get("comm.send_delay_min", 0),
                "response_timeout_s": s["comm.response_timeout_s"],
                "retries": s["comm.retries"],
                "confirm_flags": s.get("comm.confirm_flags", 3),
                "heartbeat_min": s["comm.heartbeat_min"]}
    if fn == 3:
        return {"primary_ip": _ip(s["master.host"]), "primary_port": s["master.port"],
                "backup_ip": _ip(s["master.backup_host"]),
                "backup_port": s["master.backup_port"], "apn": s["master.apn"]}
    return {"udp": 0, "work_mode": 1, "online_mode": s["comm.online_mode"],
            "redial_interval_s": min(s["comm.redial_s"], 65535),
            "passive_redials": s.get("comm.passive_redials", 3),
            "idle_disconnect_min": s.get("comm.idle_min", 10),
            "online_hours": s.get("comm.online_hours", 0xFFFFFF)}


def _ip(host):
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return host
    return "0.0.0.0"
