"""Alarms: abnormal conditions raised from terminal events and station rules, acknowledged by
people.

    ensure_rules(conn, now)                       # the default rules, once
    raise_from_events(conn, now)                  # new ERC events -> alarms (returns their ids)
    evaluate_rules(conn, now, zone)               # offline terminals, unconfirmed trips,
                                                  # consumption and line loss -> alarms / clears
    acknowledge(conn, user, alarm_id, note, now)  # with who and when, in the audit log

Where alarms come from:
- Terminal events (the `events` rows `conc station serve` stores): ERC 14 power off/on, 31
  RS-485 read failure, 12 meter clock deviation, 27 energy decreased, 20 message authentication
  error (a wrong password), 60 the relay outcome of a trip or close. Each event raises at most one
  alarm (alarms.event_id is unique); which events were looked at is kept in business_settings
  (EVENT_MARK), so a restart neither skips nor repeats one.
- Station rules on the collection tables: a terminal offline longer than N minutes, a trip that
  the relay did not confirm, a meter's zero or sudden-change daily consumption, an area's line
  loss out of range. A rule alarm has a condition_key and is raised once while its condition
  holds; it is cleared (state `cleared`, cleared_at) when the condition ends (e.g. the terminal
  logs in again). Event alarms describe something that happened and are never cleared by a rule.

Each kind has a row in alarm_rules (enabled, severity, JSON parameters) that an admin edits;
RULES gives the defaults and what each parameter means. States: active -> acknowledged
(acknowledged_at/by, ack_note) and, for conditions, -> cleared.

Everything takes a Connection inside the caller's transaction. Nothing here knows about the web.
"""
import datetime
import json

from sqlalchemy import func, insert, select, text, update

from host_tools.business import audit, stats
from host_tools.business.tables import (ALARM_STATES, SEVERITIES, alarm_rules, alarms, areas,
                                        customers, service_points, settings)
from host_tools.business.users import require
from host_tools.station.items import TOTAL_ENERGY

EVENT_MARK = "alarms.events_seen"          # business_settings: the last events.id looked at
CONSUMPTION_MARK = "alarms.consumption_day"  # the last day the consumption rules ran for
ENERGY_ITEM = TOTAL_ENERGY                 # read in daily_frozen: the register at 00:00
EVENT_BATCH = 1000

# kind -> (default severity, default parameters, what it is, {parameter: meaning})
RULES = {
    "erc14": ("critical", {}, "Terminal power cut (ERC 14)", {}),
    "erc31": ("major", {}, "RS-485 meter reading failure (ERC 31)", {}),
    "erc12": ("minor", {}, "Meter clock deviation (ERC 12)", {}),
    "erc27": ("major", {}, "Meter energy decreased (ERC 27)", {}),
    "erc20": ("major", {}, "Wrong password / authentication error (ERC 20)", {}),
    "relay_failed": ("critical", {}, "Relay did not carry out a trip or close (ERC 60)", {}),
    "relay_done": ("info", {}, "Relay confirmed a trip or close (ERC 60)", {}),
    "terminal_offline": ("major", {"minutes": 30}, "Terminal offline too long",
                         {"minutes": "offline longer than this many minutes"}),
    "trip_unconfirmed": ("critical", {"minutes": 10}, "Trip not confirmed by the relay",
                         {"minutes": "still unconfirmed this many minutes after it was given"}),
    "zero_consumption": ("minor", {"days": 3}, "Zero consumption",
                         {"days": "no energy recorded for this many days in a row"}),
    "sudden_change": ("minor", {"factor": 5, "min_kwh": 5}, "Sudden change in consumption",
                      {"factor": "a day's kWh above this many times the week's average",
                       "min_kwh": "ignored below this many kWh a day"}),
    "line_loss": ("major", {"min_pct": -1, "max_pct": 10}, "Area line loss out of range",
                  {"min_pct": "loss below this % (meters read more than the supply)",
                   "max_pct": "loss above this %"}),
}
EVENT_KINDS = {14: "erc14", 31: "erc31", 12: "erc12", 27: "erc27", 20: "erc20"}
ERC_RELAY = 60
RELAY_OUTCOMES = ("confirmed", "refused by the meter", "no reply from the meter",
                  "not confirmed by the meter's status word")
OPEN_STATES = ("active", "acknowledged")


class AlarmError(ValueError):
    """A bad alarm or rule change (the message says what is wrong)."""


# --- rules ------------------------------------------------------------------------------------

def ensure_rules(conn, now):
    """Insert the default row of every kind that has none (existing rows are kept)."""
    have = set(conn.execute(select(alarm_rules.c.kind)).scalars())
    missing = [{"kind": kind, "enabled": True, "severity": severity,
                "parameters": json.dumps(parameters, sort_keys=True), "updated_at": now}
               for kind, (severity, parameters, _what, _meaning) in RULES.items()
               if kind not in have]
    if missing:
        conn.execute(insert(alarm_rules), missing)


def rules(conn):
    """{kind: Rule dict (kind, enabled, severity, parameters, title, meanings)} in RULES order."""
    rows = {r.kind: r for r in conn.execute(select(alarm_rules))}
    result = {}
    for kind, (severity, parameters, what, meanings) in RULES.items():
        row = rows.get(kind)
        values = dict(parameters)
        if row is not None:
            values.update(json.loads(row.parameters or "{}"))
        result[kind] = {"kind": kind, "title": what, "meanings": meanings,
                        "enabled": True if row is None else bool(row.enabled),
                        "severity": severity if row is None else row.severity,
                        "parameters": values,
                        "updated_at": None if row is None else row.updated_at,
                        "updated_by": None if row is None else row.updated_by}
    return result


def update_rule(conn, user, kind, enabled, severity, parameters, now):
    """Change one rule (admin only); parameters are checked against the rule's own, as numbers."""
    require(user, "alarm.rules")
    if kind not in RULES:
        raise AlarmError("no alarm rule %r" % kind)
    if severity not in SEVERITIES:
        raise AlarmError("severity must be one of %s" % ", ".join(SEVERITIES))
    defaults = RULES[kind][1]
    checked = {}
    for name, value in (parameters or {}).items():
        if name not in defaults:
            raise AlarmError("rule %s has no parameter %r" % (kind, name))
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AlarmError("%s.%s must be a number, not %r" % (kind, name, value)) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise AlarmError("%s.%s must be a finite number" % (kind, name))
        if name in ("minutes", "days", "factor", "min_kwh") and number <= 0:
            raise AlarmError("%s.%s must be above 0" % (kind, name))
        checked[name] = int(number) if number == int(number) else number
    merged = dict(defaults, **checked)
    if kind == "line_loss" and merged["min_pct"] >= merged["max_pct"]:
        raise AlarmError("line_loss.min_pct must be below max_pct")
    ensure_rules(conn, now)
    conn.execute(update(alarm_rules).where(alarm_rules.c.kind == kind).values(
        enabled=bool(enabled), severity=severity,
        parameters=json.dumps(merged, sort_keys=True), updated_at=now, updated_by=user.id))
    audit.record(conn, user, "alarm_rule.update", "alarm_rule:%s" % kind, now,
                 enabled=bool(enabled), severity=severity, parameters=merged)


# --- raising ----------------------------------------------------------------------------------

def _mark(conn, key, default):
    value = conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
    return default if value is None else json.loads(value)


def _set_mark(conn, key, value, now):
    done = conn.execute(update(settings).where(settings.c.key == key).values(
        value=json.dumps(value), updated_at=now))
    if done.rowcount == 0:
        conn.execute(insert(settings).values(key=key, value=json.dumps(value), updated_at=now))


def _customer_of(conn, terminal_id, pn, day):
    """(customer_id, area_id) served by a meter on `day`, or (None, None)."""
    if pn is None:
        return None, None
    row = conn.execute(
        select(customers.c.id, customers.c.area_id)
        .join(service_points, service_points.c.customer_id == customers.c.id)
        .where(service_points.c.terminal_id == terminal_id, service_points.c.pn == pn,
               service_points.c.valid_from <= day,
               (service_points.c.valid_to.is_(None)) | (service_points.c.valid_to > day))
        .limit(1)).first()
    return (row.id, row.area_id) if row else (None, None)


def _insert_alarm(conn, kind, rule, condition_key, title, detail, now, terminal_id=None, pn=None,
                  customer_id=None, area_id=None, event_id=None):
    return conn.execute(insert(alarms).values(
        kind=kind, severity=rule["severity"], state="active", condition_key=condition_key,
        title=title, detail=detail, terminal_id=terminal_id, pn=pn, customer_id=customer_id,
        area_id=area_id, event_id=event_id, raised_at=now)).inserted_primary_key[0]


def raise_from_events(conn, now, zone=datetime.timezone.utc, batch=EVENT_BATCH):
    """Alarms for the events stored since the last call (at most `batch` events a call); the
    new alarms' ids. Disabled kinds and events of other ERCs are passed over."""
    seen = _mark(conn, EVENT_MARK, None)
    if seen is None:
        # A console started on a station with history alarms from now on, not on years of
        # past events.
        seen = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar()
        _set_mark(conn, EVENT_MARK, seen, now)
        return []
    rows = conn.execute(text(
        "SELECT e.id, e.terminal_id, t.area_code, t.address, e.erc, e.pn, e.data, e.detail, "
        "e.occurred_at, e.received_at FROM events e JOIN terminals t ON t.id = e.terminal_id "
        "WHERE e.id > :seen ORDER BY e.id LIMIT :batch"), {"seen": seen, "batch": batch}).all()
    if not rows:
        return []
    active = rules(conn)
    raised = []
    day = _day(now, zone)
    for row in rows:
        made = _event_alarm(row)
        if made is None:
            continue
        kind, pn, title, detail = made
        rule = active[kind]
        if not rule["enabled"]:
            continue
        customer_id, area_id = _customer_of(conn, row.terminal_id, pn, day)
        label = "%s-%d" % (row.area_code, row.address)
        raised.append(_insert_alarm(
            conn, kind, rule, "event:%d" % row.id, "%s: %s" % (label, title), detail, now,
            terminal_id=row.terminal_id, pn=pn, customer_id=customer_id, area_id=area_id,
            event_id=row.id))
    _set_mark(conn, EVENT_MARK, rows[-1].id, now)
    return raised


def _event_alarm(row):
    """(kind, pn, title, detail) for an event row, or None for an ERC that raises nothing."""
    pn = row.pn
    where = "" if pn is None else " (point %d)" % pn
    if row.erc == ERC_RELAY:
        data = bytes(row.data)
        if len(data) < 9:
            return None
        pn = data[5] | (data[6] & 0x0F) << 8
        command = "trip" if data[7] == 0x1A else "close" if data[7] == 0x1B else "command"
        outcome = data[8]
        text_ = RELAY_OUTCOMES[outcome] if outcome < len(RELAY_OUTCOMES) else "outcome %d" % outcome
        kind = "relay_done" if outcome == 0 else "relay_failed"
        return kind, pn, "relay %s of point %d %s" % (command, pn, text_), _detail(row)
    kind = EVENT_KINDS.get(row.erc)
    if kind is None:
        return None
    return kind, pn, RULES[kind][2] + where, _detail(row)


def _detail(row):
    return row.detail or ""


def evaluate_rules(conn, now, zone=datetime.timezone.utc):
    """Apply the station rules once: raise alarms for conditions that hold and clear those that
    ended; returns the new alarms' ids. The consumption and line-loss rules look at whole days
    (yesterday's frozen values), so they run once per day."""
    active = rules(conn)
    raised = []
    raised += _offline_terminals(conn, now, active["terminal_offline"])
    raised += _unconfirmed_trips(conn, now, active["trip_unconfirmed"])
    yesterday = _day(now - 86400, zone)
    if _mark(conn, CONSUMPTION_MARK, "") < yesterday:
        raised += _consumption(conn, now, yesterday, active)
        raised += _line_loss(conn, now, yesterday, active["line_loss"])
        _set_mark(conn, CONSUMPTION_MARK, yesterday, now)
    return raised


def _open_keys(conn, kind):
    """{condition_key: alarm id} of a kind's alarms not yet cleared."""
    return dict(conn.execute(select(alarms.c.condition_key, alarms.c.id).where(
        alarms.c.kind == kind, alarms.c.state.in_(OPEN_STATES))).all())


def _clear(conn, alarm_ids, now):
    if alarm_ids:
        conn.execute(update(alarms).where(alarms.c.id.in_(list(alarm_ids)))
                     .values(state="cleared", cleared_at=now))


def _offline_terminals(conn, now, rule):
    open_keys = _open_keys(conn, "terminal_offline")
    limit = now - int(rule["parameters"]["minutes"] * 60)
    # A terminal never heard from since it was registered counts from its registration.
    rows = conn.execute(text(
        "SELECT t.id, t.area_code, t.address, COALESCE(t.last_seen_at, t.created_at) AS seen "
        "FROM terminals t WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.terminal_id = t.id "
        "AND s.ended_at IS NULL) AND COALESCE(t.last_seen_at, t.created_at) < :limit"),
        {"limit": limit}).all()
    raised, holding = [], set()
    for row in rows:
        key = "terminal_offline:%d" % row.id
        holding.add(key)
        if key in open_keys or not rule["enabled"]:
            continue
        minutes = (now - row.seen) // 60
        raised.append(_insert_alarm(
            conn, "terminal_offline", rule, key,
            "%s-%d: offline for %d min" % (row.area_code, row.address, minutes),
            "last heard %d min ago (rule: %s min)" % (minutes, rule["parameters"]["minutes"]),
            now, terminal_id=row.id))
    _clear(conn, [i for k, i in open_keys.items() if k not in holding], now)
    return raised


def _unconfirmed_trips(conn, now, rule):
    open_keys = _open_keys(conn, "trip_unconfirmed")
    limit = now - int(rule["parameters"]["minutes"] * 60)
    rows = conn.execute(text(
        "SELECT id, terminal_id, terminal_label, pn, state, created_at FROM commands "
        "WHERE kind = 'trip' AND ((state IN ('pending', 'sent') AND created_at < :limit) OR "
        "(state IN ('denied', 'timeout', 'failed') AND finished_at >= :recent))"),
        {"limit": limit, "recent": now - 7 * 86400}).all()
    raised, holding = [], set()
    for row in rows:
        key = "trip_unconfirmed:%d" % row.id
        holding.add(key)
        if key in open_keys or not rule["enabled"]:
            continue
        raised.append(_insert_alarm(
            conn, "trip_unconfirmed", rule, key,
            "%s: trip #%d of point %s %s" % (row.terminal_label, row.id, row.pn, row.state),
            "given %d min ago and not confirmed by the relay" % ((now - row.created_at) // 60),
            now, terminal_id=row.terminal_id, pn=row.pn))
    # A failed trip stays in the list for a week (holding its alarm); one that was confirmed
    # later, or given again and confirmed, no longer holds.
    _clear(conn, [i for k, i in open_keys.items() if k not in holding], now)
    return raised


def _daily_kwh(conn, first_day, last_day):
    """{(terminal_id, pn): [kWh per day first_day..last_day]} from the daily frozen totals of
    the measuring points (a day's kWh = next day's 00:00 value - that day's), None where one of
    the two values is missing."""
    days = _days(first_day, _next_day(last_day))
    rows = conn.execute(text(
        # CROSS JOIN: a key range per meter on SQLite, not a scan of daily_frozen.
        "SELECT f.terminal_id, f.pn, f.day, f.value, f.scale FROM measuring_points mp "
        "CROSS JOIN daily_frozen f WHERE f.terminal_id = mp.terminal_id AND f.pn = mp.pn "
        "AND f.item = :item AND f.day >= :first AND f.day <= :last"),
        {"item": ENERGY_ITEM, "first": days[0], "last": days[-1]}).all()
    values = {}
    for row in rows:
        values.setdefault((row.terminal_id, row.pn), {})[row.day] = row.value / 10 ** row.scale
    result = {}
    for point, by_day in values.items():
        result[point] = [None if by_day.get(a) is None or by_day.get(b) is None
                         else by_day[b] - by_day[a] for a, b in zip(days, days[1:], strict=False)]
    return result


def _consumption(conn, now, day, active):
    zero, sudden = active["zero_consumption"], active["sudden_change"]
    if not zero["enabled"] and not sudden["enabled"]:
        return []
    zero_days = max(1, int(zero["parameters"]["days"]))
    span = max(zero_days, 8)
    first = _days_back(day, span - 1)
    raised = []
    open_zero, open_sudden = _open_keys(conn, "zero_consumption"), _open_keys(conn, "sudden_change")
    labels = dict(conn.execute(text(
        "SELECT id, area_code || '-' || CAST(address AS TEXT) FROM terminals")).all())
    holding = set()
    for (terminal_id, pn), kwh in _daily_kwh(conn, first, day).items():
        label = "%s:%d" % (labels.get(terminal_id, terminal_id), pn)
        recent = kwh[-zero_days:]
        key = "zero_consumption:%d:%d" % (terminal_id, pn)
        if zero["enabled"] and all(v is not None and v == 0 for v in recent):
            holding.add(key)
            if key not in open_zero:
                customer_id, area_id = _customer_of(conn, terminal_id, pn, day)
                raised.append(_insert_alarm(
                    conn, "zero_consumption", zero, key,
                    "%s: zero consumption for %d days" % (label, zero_days),
                    "no energy recorded up to %s" % day, now, terminal_id=terminal_id, pn=pn,
                    customer_id=customer_id, area_id=area_id))
        week = [v for v in kwh[-8:-1] if v is not None]
        last = kwh[-1]
        if sudden["enabled"] and last is not None and week and \
                last >= sudden["parameters"]["min_kwh"]:
            average = sum(week) / len(week)
            if last > average * sudden["parameters"]["factor"]:
                key = "sudden_change:%d:%d:%s" % (terminal_id, pn, day)
                if key not in open_sudden:
                    customer_id, area_id = _customer_of(conn, terminal_id, pn, day)
                    raised.append(_insert_alarm(
                        conn, "sudden_change", sudden, key,
                        "%s: %.2f kWh on %s" % (label, last, day),
                        "the week before averaged %.2f kWh a day" % average, now,
                        terminal_id=terminal_id, pn=pn, customer_id=customer_id,
                        area_id=area_id))
    _clear(conn, [i for k, i in open_zero.items() if k not in holding], now)
    return raised


def _line_loss(conn, now, day, rule):
    """An alarm per area whose line loss on `day` (stats.line_loss: supply meter against its
    customers' meters) is outside [min_pct, max_pct]."""
    if not rule["enabled"]:
        return []
    low, high = rule["parameters"]["min_pct"], rule["parameters"]["max_pct"]
    open_keys = _open_keys(conn, "line_loss")
    area_ids = dict(conn.execute(select(areas.c.code, areas.c.id)).all())
    raised = []
    for row in stats.line_loss(conn, day, day, step=stats.DAY):
        if row["loss_rate"] is None:
            continue
        loss = float(row["loss_rate"]) * 100
        if low <= loss <= high:
            continue
        key = "line_loss:%s:%s" % (row["area"], day)
        if key in open_keys:
            continue
        missing = " (%d customer meters without values)" % row["missing"] if row["missing"] \
            else ""
        raised.append(_insert_alarm(
            conn, "line_loss", rule, key,
            "area %s %s: line loss %.1f %% on %s" % (row["area"], row["area_name"], loss, day),
            "supply %.2f kWh, customers %.2f kWh (allowed %s..%s %%)%s" % (
                row["supply_kwh_e4"] / 10000, row["consumed_kwh_e4"] / 10000, low, high,
                missing), now, area_id=area_ids.get(row["area"])))
    return raised


# --- people -----------------------------------------------------------------------------------

def acknowledge(conn, user, alarm_id, note, now):
    """Acknowledge an active alarm with a note (who and when are recorded, and audited)."""
    require(user, "alarm.ack")
    note = (note or "").strip()
    if not note:
        raise AlarmError("say what was done about the alarm: a note is required")
    row = conn.execute(select(alarms.c.state).where(alarms.c.id == alarm_id)).first()
    if row is None:
        raise AlarmError("no alarm #%s" % alarm_id)
    if row.state != "active":
        raise AlarmError("alarm #%s is already %s" % (alarm_id, row.state))
    conn.execute(update(alarms).where(alarms.c.id == alarm_id, alarms.c.state == "active").values(
        state="acknowledged", acknowledged_at=now, acknowledged_by=user.id, ack_note=note))
    audit.record(conn, user, "alarm.acknowledge", "alarm:%s" % alarm_id, now, note=note)


def listing(conn, states=None, severity=None, after_id=None, limit=200):
    """Alarms newest first, as dicts (acknowledged_by as the user's name)."""
    from host_tools.business.tables import users
    query = (select(alarms, users.c.name.label("acknowledged_by_name"))
             .outerjoin(users, users.c.id == alarms.c.acknowledged_by)
             .order_by(alarms.c.id.desc()).limit(limit))
    if states:
        bad = set(states) - set(ALARM_STATES)
        if bad:
            raise AlarmError("unknown alarm state %s: one of %s" % (
                ", ".join(sorted(bad)), ", ".join(ALARM_STATES)))
        query = query.where(alarms.c.state.in_(list(states)))
    if severity:
        if severity not in SEVERITIES:
            raise AlarmError("severity must be one of %s" % ", ".join(SEVERITIES))
        query = query.where(alarms.c.severity == severity)
    if after_id is not None:
        query = query.where(alarms.c.id > after_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def get(conn, alarm_id):
    rows = listing(conn, limit=1, after_id=alarm_id - 1)
    return rows[0] if rows and rows[0]["id"] == alarm_id else None


def open_counts(conn):
    """{severity: (active, acknowledged)} of the alarms not cleared."""
    counts = {s: [0, 0] for s in SEVERITIES}
    for severity, state, count in conn.execute(
            select(alarms.c.severity, alarms.c.state, func.count())
            .where(alarms.c.state.in_(OPEN_STATES))
            .group_by(alarms.c.severity, alarms.c.state)):
        counts.setdefault(severity, [0, 0])[0 if state == "active" else 1] += count
    return {s: tuple(c) for s, c in counts.items()}


def latest_id(conn):
    return conn.execute(select(func.coalesce(func.max(alarms.c.id), 0))).scalar()


# --- days -------------------------------------------------------------------------------------

def _day(seconds, zone):
    return datetime.datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d")


def _next_day(day):
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()


def _days_back(day, count):
    return (datetime.date.fromisoformat(day) - datetime.timedelta(days=count)).isoformat()


def _days(first, last):
    start, end = datetime.date.fromisoformat(first), datetime.date.fromisoformat(last)
    return [(start + datetime.timedelta(days=n)).isoformat()
            for n in range((end - start).days + 1)]
