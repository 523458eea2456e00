"""What the console shows from the collection tables (terminals, measuring points, frozen values,
events, commands) and the dashboard's figures: read-only queries, one function per view, each
returning plain dicts that both the pages and the JSON API use.

Energy is kWh as float only for display (frozen values are exact integers with a scale in the
database); times are Unix seconds here and formatted in the station's zone by the templates.
"""
import datetime
import json

from sqlalchemy import func, select, text

from host_tools.business import alarms as alarms_lib
from host_tools.business import stats
from host_tools.business.tables import arrears_cases
from host_tools.station import items
from host_tools.station.records import to_decimal

SILENT_AFTER_S = 30 * 60        # as `conc station status`: an open session not heard this long
ENERGY_ITEM = alarms_lib.ENERGY_ITEM
CLOSED_ARREARS = ("restored", "cancelled")
FINAL_COMMAND_STATES = ("confirmed", "denied", "timeout", "failed", "cancelled")


def day_of(seconds, zone):
    return datetime.datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d")


def midnight(seconds, zone):
    moment = datetime.datetime.fromtimestamp(seconds, zone)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def shift_day(day, days):
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=days)).isoformat()


def terminals(conn, now, zone, search=None, state=None):
    """Terminals with their connection state (online / silent / offline) and today's read
    success (archive points read since midnight / archive points)."""
    since = midnight(now, zone)
    rows = conn.execute(text(
        "SELECT t.id, t.area_code, t.address, t.name, t.last_seen_at, t.last_login_at, "
        "s.started_at, s.last_heartbeat_at, s.peer, "
        "(SELECT COUNT(*) FROM measuring_points mp WHERE mp.terminal_id = t.id) AS points, "
        "(SELECT COUNT(*) FROM point_collection pc JOIN measuring_points mp "
        " ON mp.terminal_id = pc.terminal_id AND mp.pn = pc.pn "
        " WHERE pc.terminal_id = t.id AND pc.last_read_at >= :since) AS points_read "
        "FROM terminals t LEFT JOIN sessions s ON s.terminal_id = t.id AND s.ended_at IS NULL "
        "ORDER BY t.area_code, t.address"), {"since": since}).all()
    result, seen = [], set()
    for row in rows:
        if row.id in seen:          # two open sessions: the first (oldest) one counts
            continue
        seen.add(row.id)
        heard = None if row.started_at is None else (row.last_heartbeat_at or row.started_at)
        if heard is None:
            status = "offline"
        elif now - heard > SILENT_AFTER_S:
            status = "silent"
        else:
            status = "online"
        label = "%s-%d" % (row.area_code, row.address)
        if search and search.lower() not in ("%s %s" % (label, row.name)).lower():
            continue
        if state and status != state:
            continue
        result.append({
            "id": row.id, "label": label, "name": row.name, "status": status,
            "peer": row.peer, "last_seen_at": row.last_seen_at, "last_login_at": row.last_login_at,
            "points": row.points, "points_read_today": row.points_read,
            "read_success": (row.points_read / row.points) if row.points else None})
    return result


def terminal_counts(conn, now):
    """{'online': n, 'silent': n, 'offline': n} without listing every terminal."""
    total = conn.execute(text("SELECT COUNT(*) FROM terminals")).scalar()
    rows = conn.execute(text(
        "SELECT s.terminal_id, MAX(COALESCE(s.last_heartbeat_at, s.started_at)) AS heard "
        "FROM sessions s WHERE s.ended_at IS NULL GROUP BY s.terminal_id")).all()
    online = sum(1 for r in rows if now - r.heard <= SILENT_AFTER_S)
    silent = len(rows) - online
    return {"online": online, "silent": silent, "offline": total - online - silent,
            "total": total}


def read_success_today(conn, now, zone):
    """(archive points read since midnight, archive points)."""
    points = conn.execute(text("SELECT COUNT(*) FROM measuring_points")).scalar()
    read = conn.execute(text(
        "SELECT COUNT(*) FROM point_collection pc JOIN measuring_points mp "
        "ON mp.terminal_id = pc.terminal_id AND mp.pn = pc.pn "
        "WHERE pc.last_read_at >= :since"), {"since": midnight(now, zone)}).scalar()
    return read, points


def total_consumption(conn, day):
    """kWh consumed by all archive points on `day` (frozen total at the next day's 00:00 minus
    that day's), over the points that have both values; (kWh, points counted)."""
    kwh, points = 0.0, 0
    for scale, total, count in conn.execute(text(
            # CROSS JOIN keeps SQLite's loop over the meters, each value found by its key
            # (left to choose, it scans the whole daily_frozen table); PostgreSQL plans freely.
            "SELECT f0.scale, SUM(f1.value - f0.value), COUNT(*) FROM measuring_points mp "
            "CROSS JOIN daily_frozen f0 CROSS JOIN daily_frozen f1 "
            "WHERE f0.terminal_id = mp.terminal_id AND f0.pn = mp.pn "
            "AND f0.item = :item AND f0.day = :day "
            "AND f1.terminal_id = mp.terminal_id AND f1.pn = mp.pn "
            "AND f1.item = :item AND f1.day = :next AND f1.scale = f0.scale "
            "GROUP BY f0.scale"), {"item": ENERGY_ITEM, "day": day, "next": shift_day(day, 1)}):
        kwh += total / 10 ** scale
        points += count
    return kwh, points


def arrears_summary(conn):
    """(open cases, amount owed in fen) of the arrears cases not closed."""
    row = conn.execute(select(func.count(), func.coalesce(func.sum(arrears_cases.c.amount_fen), 0))
                       .where(arrears_cases.c.state.not_in(CLOSED_ARREARS))).first()
    return row[0], row[1]


def dashboard(conn, now, zone, day_figures=None):
    """The dashboard's figures. `day_figures` (day_figures() of today, possibly cached: they
    change once a day) are computed here when not given."""
    today = day_of(now, zone)
    read, points = read_success_today(conn, now, zone)
    cases, owed = arrears_summary(conn)
    alarms = alarms_lib.open_counts(conn)
    result = {
        "day": today,
        "terminals": terminal_counts(conn, now),
        "read_success": {"read": read, "points": points,
                         "ratio": (read / points) if points else None},
        "alarms": {s: {"active": a, "acknowledged": k} for s, (a, k) in alarms.items()},
        "arrears": {"cases": cases, "owed_fen": owed},
    }
    result.update(day_figures if day_figures is not None else daily_figures(conn, today))
    return result


def daily_figures(conn, today):
    """What the dashboard shows of whole days: consumption of the last two (a day's energy is
    known at the next midnight, from the daily frozen values) and each area's line loss
    yesterday. They change when a day's frozen values arrive, so a console may cache them."""
    yesterday, before = shift_day(today, -1), shift_day(today, -2)
    kwh_yesterday, points_yesterday = total_consumption(conn, yesterday)
    kwh_before, points_before = total_consumption(conn, before)
    return {
        "consumption": {"yesterday": {"day": yesterday, "kwh": kwh_yesterday,
                                      "points": points_yesterday},
                        "day_before": {"day": before, "kwh": kwh_before,
                                       "points": points_before}},
        "areas": line_loss(conn, yesterday),
    }


def line_loss(conn, day):
    """Each area's line loss on `day` (business stats.line_loss), in kWh and percent."""
    return [{"code": r["area"], "name": r["area_name"], "day": day,
             "supply_kwh": None if r["supply_kwh_e4"] is None else r["supply_kwh_e4"] / 10000,
             "customers_kwh": r["consumed_kwh_e4"] / 10000, "meters": r["meters"],
             "missing": r["missing"],
             "loss_pct": None if r["loss_rate"] is None else float(r["loss_rate"]) * 100}
            for r in stats.line_loss(conn, day, day, step=stats.DAY)]


def meters(conn, search=None, terminal_id=None, limit=200):
    """Measuring points (the terminals' meter archives) with their relay state."""
    sql = ("SELECT mp.terminal_id, mp.pn, mp.meter_address, mp.protocol, mp.port, "
           "t.area_code, t.address, pc.last_read_at FROM measuring_points mp "
           "JOIN terminals t ON t.id = mp.terminal_id LEFT JOIN point_collection pc "
           "ON pc.terminal_id = mp.terminal_id AND pc.pn = mp.pn WHERE 1 = 1")
    params = {"limit": limit}
    if terminal_id is not None:
        sql += " AND mp.terminal_id = :terminal"
        params["terminal"] = terminal_id
    if search:
        sql += " AND mp.meter_address LIKE :search"
        params["search"] = "%" + search.strip().lower() + "%"
    rows = conn.execute(text(sql + " ORDER BY t.area_code, t.address, mp.pn LIMIT :limit"),
                        params).all()
    return [{"terminal_id": r.terminal_id, "terminal": "%s-%d" % (r.area_code, r.address),
             "pn": r.pn, "meter_address": r.meter_address, "protocol": r.protocol, "port": r.port,
             "last_read_at": r.last_read_at} for r in rows]


def meter(conn, terminal_id, pn, now, zone, days=30):
    """One measuring point: its archive row, relay state, daily kWh of the last `days` days and
    its commands. None if there is no such point."""
    row = conn.execute(text(
        "SELECT mp.*, t.area_code, t.address FROM measuring_points mp JOIN terminals t "
        "ON t.id = mp.terminal_id WHERE mp.terminal_id = :t AND mp.pn = :pn"),
        {"t": terminal_id, "pn": pn}).first()
    if row is None:
        return None
    today = day_of(now, zone)
    first = shift_day(today, -days)
    stored = {r.day: (r.value, r.scale) for r in conn.execute(text(
        "SELECT day, value, scale FROM daily_frozen WHERE terminal_id = :t AND pn = :pn "
        "AND item = :item AND day >= :first AND day <= :last"),
        {"t": terminal_id, "pn": pn, "item": ENERGY_ITEM, "first": first, "last": today})}
    values = {day: value / 10 ** scale for day, (value, scale) in stored.items()}
    daily = []
    for n in range(days):
        day = shift_day(first, n)
        start, end = values.get(day), values.get(shift_day(day, 1))
        daily.append({"day": day, "kwh": None if start is None or end is None else end - start})
    point_commands = commands(conn, terminal_id=terminal_id, pn=pn, limit=50)
    return {"terminal_id": terminal_id, "terminal": "%s-%d" % (row.area_code, row.address),
            "pn": pn, "meter_address": row.meter_address, "protocol": row.protocol,
            "port": row.port, "baud": row.baud, "multiplier_digits": (row.integer_digits,
                                                                      row.decimal_digits),
            "relay": relay_state(point_commands), "daily": daily,
            "latest_frozen": _latest_register(stored),
            "commands": point_commands}


def _latest_register(stored):
    """The newest daily frozen register reading as stored, exact: {"day", "item", "value" (its
    decimal text with the places it was stored with), "unit", "shown" ("1234.5600 kWh")} - the
    same text `conc station readings --daily` prints - or None."""
    if not stored:
        return None
    day = max(stored)
    value = to_decimal(*stored[day])
    return {"day": day, "item": ENERGY_ITEM, "value": str(value),
            "unit": items.item_unit(ENERGY_ITEM), "shown": items.shown(ENERGY_ITEM, value)}


def relay_state(point_commands):
    """'tripped' / 'closed' from the newest confirmed trip or close, 'unknown' without one;
    with the command still in progress, if any."""
    state, pending = "unknown", None
    for command in point_commands:          # newest first
        if command["kind"] not in ("trip", "close"):
            continue
        if command["state"] not in FINAL_COMMAND_STATES and pending is None:
            pending = command["id"]
        if command["state"] == "confirmed":
            state = "tripped" if command["kind"] == "trip" else "closed"
            break
    return {"state": state, "pending_command": pending}


def unfinished_relay_command(conn, terminal_id, pn):
    """The id of a trip/close for this meter not finished yet, or None."""
    return conn.execute(text(
        "SELECT id FROM commands WHERE terminal_id = :t AND pn = :pn AND kind IN ('trip', "
        "'close') AND finished_at IS NULL"), {"t": terminal_id, "pn": pn}).scalar()


def meter_exists(conn, terminal_id, pn):
    return conn.execute(text("SELECT 1 FROM measuring_points WHERE terminal_id = :t "
                             "AND pn = :pn"), {"t": terminal_id, "pn": pn}).first() is not None


def events(conn, terminal_id=None, erc=None, since=None, limit=200):
    """Stored terminal events, newest first."""
    from host_tools.station.erc import erc_name
    sql = ("SELECT e.id, e.terminal_id, t.area_code, t.address, e.erc, e.important, "
           "e.occurred_at, e.pn, e.detail, e.received_at FROM events e "
           "JOIN terminals t ON t.id = e.terminal_id WHERE 1 = 1")
    params = {"limit": limit}
    if terminal_id is not None:
        sql += " AND e.terminal_id = :terminal"
        params["terminal"] = terminal_id
    if erc is not None:
        sql += " AND e.erc = :erc"
        params["erc"] = erc
    if since is not None:
        sql += " AND e.received_at >= :since"
        params["since"] = since
    rows = conn.execute(text(sql + " ORDER BY e.id DESC LIMIT :limit"), params).all()
    return [{"id": r.id, "terminal_id": r.terminal_id,
             "terminal": "%s-%d" % (r.area_code, r.address), "erc": r.erc,
             "name": "relay outcome" if r.erc == 60 else erc_name(r.erc),
             "important": bool(r.important), "occurred_at": r.occurred_at, "pn": r.pn,
             "detail": r.detail, "received_at": r.received_at} for r in rows]


def commands(conn, terminal_id=None, pn=None, state=None, limit=200):
    """Operator commands, newest first."""
    sql = ("SELECT id, terminal_id, terminal_label, pn, meter_address, kind, operator, reason, "
           "state, created_at, updated_at, finished_at FROM commands WHERE 1 = 1")
    params = {"limit": limit}
    if terminal_id is not None:
        sql += " AND terminal_id = :terminal"
        params["terminal"] = terminal_id
    if pn is not None:
        sql += " AND pn = :pn"
        params["pn"] = pn
    if state:
        sql += " AND state = :state"
        params["state"] = state
    rows = conn.execute(text(sql + " ORDER BY id DESC LIMIT :limit"), params).all()
    return [dict(r._mapping) for r in rows]


def command(conn, command_id):
    """One command with its audit trail (steps in order), or None."""
    row = conn.execute(text(
        "SELECT id, terminal_id, terminal_label, pn, meter_address, kind, operator, reason, "
        "parameters, state, created_at, updated_at, finished_at FROM commands WHERE id = :id"),
        {"id": command_id}).first()
    if row is None:
        return None
    result = dict(row._mapping)
    result["parameters"] = json.loads(result["parameters"] or "{}")
    result["final"] = result["state"] in FINAL_COMMAND_STATES
    result["steps"] = [dict(s._mapping) for s in conn.execute(text(
        "SELECT at, step, outcome, detail FROM command_steps WHERE command_id = :id "
        "ORDER BY id"), {"id": command_id})]
    return result


def audit_entries(conn, action=None, limit=200):
    """The audit log (business table), newest first, with the user's name."""
    from host_tools.business.tables import audit_log, users
    query = (select(audit_log, users.c.name.label("user_name"))
             .outerjoin(users, users.c.id == audit_log.c.user_id)
             .order_by(audit_log.c.id.desc()).limit(limit))
    if action:
        query = query.where(audit_log.c.action.like(action.replace("%", "") + "%"))
    return [dict(r._mapping) for r in conn.execute(query)]
