"""The master's administration of the terminal's settings: its parameters, meter archive and
report tasks set (AFN04 F1, F3, F8, F10, F65..F68, F241; the archive's F10 entries are
firmware/terminal_archive.py; the AFN0A queries of the same are firmware/terminal_query.py, the
clock, relays and forwarding firmware/terminal_control.py). Loaded only while one such request
is answered (firmware/terminal.py unloads it again). Every function takes the Terminal as
`term` and returns the reply frames, or None for a denial.
"""
from protocol import clock_math, gw376, gw376_dadt, gw376_units
from protocol.errors import ProtocolError
from firmware.unloading import unload_module
from protocol.compat import const

_ERC3 = const(3)                # parameters changed


# --- AFN04 F65..F68: timed report tasks (firmware/reports.py) ------------------------------
def set_tasks(tasks, pn, fn, value):
    """The task list with AFN04 F65..F68 for task `pn` applied (a new list: the settings
    file is replaced whole; the tasks not changed are shared, the check copies them)."""
    cls = 1 if fn in (65, 67) else 2
    if not 1 <= pn <= 64:
        raise ProtocolError("report task number p%d is outside 1..64" % pn)
    from protocol.report_tasks import find_task
    old = find_task(tasks, cls, pn)
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
            from firmware import terminal_archive      # terminal.py unloads it after the request
            archive_changes = terminal_archive.changes(value["meters"])
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
