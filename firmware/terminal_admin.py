"""The master's administration of the terminal: its parameters, meter archive and report tasks
(AFN04 set / AFN0A query F1, F3, F8, F10, F65..F68; the archive's F10 entries are
firmware/terminal_archive.py), its meters' relays and its clock (AFN05 F1, F2, F31: in our
mapping AFN05 F1/F2's Pn is the measuring point whose meter relay is tripped / permitted to
close, where the standard's Pn is the terminal's own control round; docs/gw376.md) and
transparent forwarding to its buses (AFN10 F1). Loaded only while one such request is answered
(firmware/terminal.py unloads it again). Every function takes the Terminal as `term` and
returns the reply frames, or None for a denial.
"""
from protocol import clock_math, gw376, gw376_dadt, gw376_units
from protocol.errors import ProtocolError
from firmware.unloading import unload_module
from protocol.compat import const

_ERC3 = const(3)                # parameters changed
_RELAY_COMMANDS = {1: "trip", 2: "permit_close"}     # AFN05 Fn -> relay command

# --- AFN0A / AFN04: parameters -----------------------------------------------------------
def query(term, frame):
    units = []
    for pn, fn, data in frame.units:
        if fn == 10:
            value = _archive().query(term, data)
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


def _archive():
    """firmware.terminal_archive, for an F10 request (unloaded with this module)."""
    from firmware import terminal_archive
    return terminal_archive


# --- AFN04 / AFN0A F65..F68: timed report tasks (firmware/reports.py) ----------------------
def _task(tasks, cls, number):
    for t in tasks:
        if t[0] == cls and t[1] == number:
            return t
    return None


def report_task(term, fn, number):
    """The AFN0A F65..F68 value of a task, or None (denied) when it was never set."""
    t = _task(term.settings.get("report.tasks") or [], 1 if fn in (65, 67) else 2, number)
    if t is None:
        return None
    if fn >= 67:
        return {"action": gw376_units.REPORT_START if t[6] else gw376_units.REPORT_STOP}
    b = clock_math.from_seconds(t[4])
    return {"unit": t[2], "period": t[3], "ratio": t[5], "units": [tuple(u) for u in t[7]],
            "base": (b[0], b[1], b[2], b[3], b[4], b[5], (t[4] // 86400 + 5) % 7 + 1)}


def set_tasks(tasks, pn, fn, value):
    """The task list with AFN04 F65..F68 for task `pn` applied (a new list: the settings
    file is replaced whole; the tasks not changed are shared, the check copies them)."""
    cls = 1 if fn in (65, 67) else 2
    if not 1 <= pn <= 64:
        raise ProtocolError("report task number p%d is outside 1..64" % pn)
    old = _task(tasks, cls, pn)
    kept = [t for t in tasks if t is not old]
    if fn >= 67:
        if old is None:
            raise ProtocolError("report task %d of class %d was never set" % (pn, cls))
        action = value["action"]
        if action not in (gw376_units.REPORT_START, gw376_units.REPORT_STOP):
            raise ProtocolError("F%d action must be 55H or AAH, not %02XH" % (fn, action))
        task = list(old)
        task[6] = 1 if action == gw376_units.REPORT_START else 0
    else:
        b = value["base"]
        task = [cls, pn, value["unit"], value["period"],
                clock_math.to_seconds(b[0], b[1], b[2], b[3], b[4], b[5]), value["ratio"],
                old[6] if old is not None else 0, value["units"]]
    kept.append(task)
    return kept

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

def _checked(changes):
    """The changed settings as the settings schema has them (a ProtocolError denies the set).
    The schema (3.4 KB on a 32-bit board) is loaded for a set of parameters only: the clock,
    the relays and the queries, which come while the uplink delivers its backlog, need none of
    it, and the report tasks and form a station sets at each login are checked without it."""
    from protocol import report_tasks
    if all(key in report_tasks.REPORT_KEYS for key in changes):
        return {key: report_tasks.check_report(key, value) for key, value in changes.items()}
    from protocol import settings as schema
    try:
        checked = {}
        for key, value in changes.items():
            checked[key] = schema.check(key, value) if key in schema.SCHEMA else value
        return checked
    finally:
        unload_module("protocol.settings")


def set_params(term, frame):
    changes = {}
    archive_changes = None
    for pn, fn, value in frame.units:
        if value is None or pn != 0 and not 65 <= fn <= 68:
            return None
        if fn == 1:
            changes["comm.response_timeout_s"] = value["response_timeout_s"]
            changes["comm.retries"] = value["retries"]
            changes["comm.heartbeat_min"] = value["heartbeat_min"]
            changes["comm.rts_delay_20ms"] = value["rts_delay_20ms"]
            changes["comm.send_delay_min"] = value["send_delay_min"]
            changes["comm.confirm_flags"] = value["confirm_flags"]
        elif fn == 3:
            changes["master.host"] = value["primary_ip"]
            changes["master.port"] = value["primary_port"]
            backup = value["backup_ip"]
            changes["master.backup_host"] = "" if backup == "0.0.0.0" else backup
            changes["master.backup_port"] = value["backup_port"]
            changes["master.apn"] = value["apn"]
        elif fn == 8:
            changes["comm.online_mode"] = value["online_mode"]
            changes["comm.redial_s"] = max(1, value["redial_interval_s"])
            changes["comm.passive_redials"] = value["passive_redials"]
            changes["comm.idle_min"] = value["idle_disconnect_min"]
            changes["comm.online_hours"] = value["online_hours"]
        elif fn == 241:         # vendor: the report form
            changes["report.compact"] = value["compact"]
        elif 65 <= fn <= 68:
            tasks = changes.get("report.tasks", term.settings.get("report.tasks") or [])
            changes["report.tasks"] = set_tasks(tasks, pn, fn, value)
            continue
        elif fn == 10:
            if term.archive is None:
                return None
            archive_changes = _archive().changes(value["meters"])
        else:
            return None
    checked = _checked(changes)
    if not archive_changes:
        same = True
        for key in checked:
            if term.settings.get(key) != checked[key]:
                same = False
        if same:            # a master setting what is set (each login, say): nothing to record
            return [gw376.confirm(frame)]
    if archive_changes:
        term.archive.apply(archive_changes)          # validates all before writing
    if checked:
        # set in place and saved whole (atomic: temp file + rename); a save that fails puts the
        # old values back, so the settings in use stay those on file (no copy of the settings
        # while the codec is loaded)
        settings = term.settings
        old = {key: settings[key] for key in checked if key in settings}
        settings.update(checked)
        if term.store is not None:
            try:
                term.store.save(settings)
            except BaseException:
                for key in checked:
                    if key in old:
                        settings[key] = old[key]
                    else:
                        del settings[key]
                raise
    if term.log is not None:
        body = bytearray()
        term._put_time15(body, term.wall.now())
        body.append(frame.master & 0xFF)
        for pn, fn, _ in frame.units:
            da1, da2 = gw376_dadt.da_bytes(pn)
            dt1, dt2 = gw376_dadt.dt_bytes(fn)
            body.extend(bytes((da1, da2, dt1, dt2)))
        term._event(_ERC3, body)
    return [gw376.confirm(frame)]


# --- AFN05: control ------------------------------------------------------------------------
async def control(term, frame):
    if len(frame.units) != 1:
        return None
    pn, fn, value = frame.units[0]
    if fn == 31:
        if value is None:
            return None
        new = clock_math.to_seconds(value[0], value[1], value[2], value[3], value[4],
                                    value[5])
        old = term.wall.set(new)
        if term.log is not None:
            from firmware.log_records import MARK_CLOCK_SET, append_marker
            append_marker(term.log, new, MARK_CLOCK_SET,
                          bytes((old & 0xFF, (old >> 8) & 0xFF, (old >> 16) & 0xFF,
                                 (old >> 24) & 0xFF)))
        if term.on_clock_set is not None:
            term.on_clock_set(old, new)
        return [gw376.confirm(frame)]
    command = _RELAY_COMMANDS.get(fn)
    if command is None or term.relay is None or pn == 0:
        return None
    start = getattr(term.relay, "count", 0)
    err = term.relay.submit(pn, command)
    if err:
        return None
    outcome = await relay_outcome(term, pn, start)
    if outcome is None or outcome == 0:
        return [gw376.confirm(frame)]      # confirmed, or queued: ERC33 will tell
    return None     # refused by the meter, no reply, or its status word disagrees

async def relay_outcome(term, point, start):
    """Wait (within the master's response timeout) for the outcome of the command queued after
    `start` commands (firmware/relay.py count, last_outcome): 0 confirmed, else why not."""
    if term.kernel is None:
        return None
    relay = term.relay
    waited = 0
    limit = max(1000, term.settings["comm.response_timeout_s"] * 1000 - 2000)
    while waited < limit:
        if relay.count > start and relay.last is not None and relay.last[0] == point:
            return relay.last_outcome
        await term.kernel.time_dly(200)
        waited += 200
    return None


# --- AFN10: transparent forwarding -------------------------------------------------------
async def forward(term, frame):
    if term.forwarder is None or len(frame.units) != 1:
        return None
    _, fn, value = frame.units[0]
    if fn != 1 or value is None:
        return None
    unit = 1000 if value["frame_timeout_in_s"] else 10
    timeout_ms = value["frame_timeout"] * unit or 1000
    data = await term.forwarder.forward(value["port"], value["data"], timeout_ms,
                                        value["byte_timeout_10ms"] * 10 or 100)
    if data is None:                # no such bus, or it is busy with another forward: deny
        return None
    return term._reply(frame, [(0, 1, {"port": value["port"], "data": bytes(data)})])



def _ip(host):
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return host
    return "0.0.0.0"
