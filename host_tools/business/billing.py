"""The billing engine: a period's statements from the meters' frozen values.

    result = run(conn, "2026-11", now, user)             # drafts (or held) for every customer
    issue(conn, "2026-11", now, user)                     # draft -> issued, charges in the ledger
    void(conn, "2026-11-000042", now, user, "wrong meter")

Rules (docs/business.md):
- A period `YYYY-MM` with reading day d runs from 00:00 of YYYY-MM-d to 00:00 of the next
  month's day d. A register's reading at 00:00 of a day is its daily frozen value of that day
  (`energy_fwd_total`, `energy_fwd_t1`.. in daily_frozen: AFN0D F161); on the 1st the monthly
  frozen value (monthly_frozen, AFN0D F177, of the month before, frozen at 00:00 of the 1st)
  is taken first.
- Consumption of a register = (closing - opening) x the service point's multiplier, per
  service point: a meter swapped mid-period is billed from both meters, each over its part.
- A register that decreased wrapped round only if its width says so: the wrapped consumption
  (10^integer_digits - opening + closing) is under a tenth of the register's range. Otherwise it
  is an exception and the statement is held with the reason.
- A missing frozen value holds the statement (state `held`, with the reason): nothing is
  estimated unless the run asks for it (`estimate=True`), and then the statement is marked
  estimated, the lines say so and the audit log records the run's choice.
- Flat tariff: the total register (`energy_fwd_total`) at the flat price; time-of-use:
  registers 1..4 (`energy_fwd_t1`..`t4`: sharp, peak, flat, valley) at their prices. Tiers surcharge the kWh of the total consumption
  that falls in each block; a fixed monthly charge is a line of its own. Every line is rounded
  half-up to the fen and the statement's total is the sum of its lines.
- Running a period again rewrites only drafts and held statements whose lines changed; issued
  statements are never touched, and the ledger has one charge per statement (unique), so
  nothing is charged twice.

The readings are fetched set-based (one join per period bound, by the frozen tables' primary
keys), never a query per register.
"""
import collections
import datetime

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, text, update

from host_tools.business import audit, settings
from host_tools.business.customers import area_id as find_area
from host_tools.business.customers import meter_name
from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.money import amount_fen, show_kwh, to_e4
from host_tools.business.tables import (REGISTERS, areas, billing_periods, customer_tariffs,
                                        customers, ledger, service_points, statement_lines,
                                        statements, tariffs)
from host_tools.business.tariffs import versions_on
from host_tools.business.users import require
from host_tools.station.items import energy_item, tariff_of
from host_tools.station.tables import daily_frozen, measuring_points, monthly_frozen, terminals

Period = collections.namedtuple("Period", "id period reading_day start_day end_day due_day")
Line = collections.namedtuple(
    "Line", "seq kind description service_point_id register opening_e4 closing_e4 multiplier "
    "kwh_e4 price_e4 amount_fen")
Statement = collections.namedtuple(
    "Statement", "id number customer_id customer_number state hold_reason estimated kwh_e4 "
    "total_fen opening_balance_fen amount_due_fen lines")
RunResult = collections.namedtuple("RunResult", "period statements created updated unchanged "
                                   "issued_kept")

BILLED_REGISTER = "fwd"      # forward active energy: register 0 its total, 1..4 its tariffs
# A decrease is a wrap only if the wrapped consumption is under this share of the range.
ROLLOVER_SHARE = 10
ESTIMATE_WINDOW_DAYS = 62


# --- periods ---------------------------------------------------------------------------------

def check_period(text):
    try:
        moment = datetime.datetime.strptime(str(text).strip(), "%Y-%m")
    except ValueError:
        raise BusinessError("bad period %r: YYYY-MM such as 2026-11" % (text,)) from None
    return moment.strftime("%Y-%m")


def _add_month(day):
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(year=year, month=month)


def period_days(period, reading_day, due_days):
    """(start_day, end_day, due_day) labels of a period."""
    if not 1 <= reading_day <= 28:
        raise BusinessError("the reading day is a day of the month 1..28")
    year, month = map(int, check_period(period).split("-"))
    start = datetime.date(year, month, reading_day)
    end = _add_month(start)
    return start.isoformat(), end.isoformat(), (end + datetime.timedelta(days=due_days)).isoformat()


def get_period(conn, period, now=None, create=False):
    """The billing period `YYYY-MM`; create=True makes it with the reading day and due days of
    the settings (fixed from then on)."""
    period = check_period(period)
    row = conn.execute(select(billing_periods).where(billing_periods.c.period == period)).first()
    if row is None:
        if not create:
            raise NotFound("period %s has not been billed: run `conc station bill --period %s`"
                           % (period, period))
        reading_day = settings.get(conn, "reading_day")
        start, end, due = period_days(period, reading_day, settings.get(conn, "due_days"))
        period_id = conn.execute(insert(billing_periods).values(
            period=period, reading_day=reading_day, start_day=start, end_day=end, due_day=due,
            created_at=now)).inserted_primary_key[0]
        return Period(period_id, period, reading_day, start, end, due)
    return Period(row.id, row.period, row.reading_day, row.start_day, row.end_day, row.due_day)


# --- readings --------------------------------------------------------------------------------

def _item(register):
    return energy_item(BILLED_REGISTER, register)


_ITEMS = [_item(r) for r in range(0, len(REGISTERS) + 1)]


def _scope(period, area_id):
    """Service points (of customers in scope) that served some of the period."""
    condition = and_(service_points.c.valid_from < period.end_day,
                     or_(service_points.c.valid_to.is_(None),
                         service_points.c.valid_to > period.start_day))
    if area_id is not None:
        condition = and_(condition, customers.c.area_id == area_id)
    return condition


def _bounds(period):
    lower = case((service_points.c.valid_from > period.start_day, service_points.c.valid_from),
                 else_=literal(period.start_day))
    upper = case((and_(service_points.c.valid_to.is_not(None),
                       service_points.c.valid_to < period.end_day), service_points.c.valid_to),
                 else_=literal(period.end_day))
    return lower, upper


def _readings(conn, period, area_id):
    """{(service point id, register, day): reading e4} at both ends of every service point's
    part of the period; daily frozen values, with monthly ones first on the 1st."""
    values = {}
    lower, upper = _bounds(period)
    for bound in (lower, upper):
        query = (select(service_points.c.id, daily_frozen.c.item, daily_frozen.c.day,
                        daily_frozen.c.value, daily_frozen.c.scale)
                 .select_from(service_points)
                 .join(customers, customers.c.id == service_points.c.customer_id)
                 .join(daily_frozen, and_(daily_frozen.c.terminal_id == service_points.c.terminal_id,
                                          daily_frozen.c.pn == service_points.c.pn,
                                          daily_frozen.c.item.in_(_ITEMS),
                                          daily_frozen.c.day == bound))
                 .where(_scope(period, area_id)))
        for sp_id, item, day, value, scale in conn.execute(query):
            values[(sp_id, tariff_of(item), day)] = to_e4(value, scale)
    if period.reading_day == 1:
        for day in (period.start_day, period.end_day):
            month = (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).strftime("%Y-%m")
            query = (select(service_points.c.id, monthly_frozen.c.item, monthly_frozen.c.value,
                            monthly_frozen.c.scale)
                     .select_from(service_points)
                     .join(customers, customers.c.id == service_points.c.customer_id)
                     .join(monthly_frozen,
                           and_(monthly_frozen.c.terminal_id == service_points.c.terminal_id,
                                monthly_frozen.c.pn == service_points.c.pn,
                                monthly_frozen.c.item.in_(_ITEMS),
                                monthly_frozen.c.month == month))
                     .where(_scope(period, area_id),
                            service_points.c.valid_from <= day,
                            or_(service_points.c.valid_to.is_(None),
                                service_points.c.valid_to >= day)))
            for sp_id, item, value, scale in conn.execute(query):
                values[(sp_id, tariff_of(item), day)] = to_e4(value, scale)
    return values


def _estimate(conn, point, register, day):
    """An estimated reading at 00:00 of `day`: linear between the nearest daily values before
    and after it (within ESTIMATE_WINDOW_DAYS), or None when there is no value on both sides."""
    item = _item(register)
    target = datetime.date.fromisoformat(day)
    window = datetime.timedelta(days=ESTIMATE_WINDOW_DAYS)
    key = and_(daily_frozen.c.terminal_id == point.terminal_id, daily_frozen.c.pn == point.pn,
               daily_frozen.c.item == item)
    columns = (daily_frozen.c.day, daily_frozen.c.value, daily_frozen.c.scale)
    before = conn.execute(select(*columns).where(
        key, daily_frozen.c.day < day, daily_frozen.c.day >= (target - window).isoformat())
        .order_by(daily_frozen.c.day.desc()).limit(1)).first()
    after = conn.execute(select(*columns).where(
        key, daily_frozen.c.day > day, daily_frozen.c.day <= (target + window).isoformat())
        .order_by(daily_frozen.c.day).limit(1)).first()
    if before is None or after is None:
        return None
    d0, d1 = (datetime.date.fromisoformat(r.day) for r in (before, after))
    v0, v1 = to_e4(before.value, before.scale), to_e4(after.value, after.scale)
    if v1 < v0:
        return None
    return v0 + (v1 - v0) * (target - d0).days // (d1 - d0).days


# --- the run ---------------------------------------------------------------------------------

_Point = collections.namedtuple(
    "_Point", "id customer_id terminal_id pn multiplier lower upper label integer_digits")


def _points(conn, period, area_id):
    lower, upper = _bounds(period)
    query = (select(service_points.c.id, service_points.c.customer_id,
                    service_points.c.terminal_id, service_points.c.pn,
                    service_points.c.multiplier, lower, upper,
                    measuring_points.c.meter_address, measuring_points.c.integer_digits,
                    terminals.c.area_code, terminals.c.address)
             .select_from(service_points)
             .join(customers, customers.c.id == service_points.c.customer_id)
             .outerjoin(terminals, terminals.c.id == service_points.c.terminal_id)
             .outerjoin(measuring_points,
                        and_(measuring_points.c.terminal_id == service_points.c.terminal_id,
                             measuring_points.c.pn == service_points.c.pn))
             .where(_scope(period, area_id))
             .order_by(service_points.c.customer_id, service_points.c.valid_from))
    found = collections.defaultdict(list)
    for row in conn.execute(query):
        # The meter's address names it on the statement; TERMINAL:PN when it has none.
        label = meter_name(row.meter_address, row.area_code, row.address, row.pn)
        point = _Point(*row[:7], label, row.integer_digits)  # pyright: ignore[reportCallIssue] - the query's first seven columns
        if point.lower < point.upper:
            found[point.customer_id].append(point)
    return found


def _customers(conn, period, area_id):
    # Closed customers are billed while a meter served them in the period.
    served = select(service_points.c.customer_id).join(
        customers, customers.c.id == service_points.c.customer_id).where(_scope(period, area_id))
    query = select(customers.c.id, customers.c.number).where(
        or_(customers.c.closed_at.is_(None), customers.c.id.in_(served)))
    if area_id is not None:
        query = query.where(customers.c.area_id == area_id)
    return conn.execute(query.order_by(customers.c.number)).all()


def _tariff_codes(conn, last_day, area_id):
    query = (select(customer_tariffs.c.customer_id, tariffs.c.code)
             .join(tariffs, tariffs.c.id == customer_tariffs.c.tariff_id)
             .join(customers, customers.c.id == customer_tariffs.c.customer_id)
             .where(customer_tariffs.c.valid_from <= last_day,
                    or_(customer_tariffs.c.valid_to.is_(None),
                        customer_tariffs.c.valid_to > last_day)))
    if area_id is not None:
        query = query.where(customers.c.area_id == area_id)
    return dict(conn.execute(query).all())


def balances(conn, customer_ids=None):
    """{customer id: ledger balance in fen} (customers without rows are absent)."""
    query = select(ledger.c.customer_id, func.sum(ledger.c.amount_fen)).group_by(
        ledger.c.customer_id)
    if customer_ids is not None:
        query = query.where(ledger.c.customer_id.in_(customer_ids))
    return {c: int(s) for c, s in conn.execute(query)}


class _Held(Exception):
    pass


def _register_kwh(point, register, values, estimate_from, estimated):
    """(opening, closing, kWh e4 before the multiplier, note) of one register over the point's
    part of the period; raises _Held with the reason."""
    ends = []
    for day in (point.lower, point.upper):
        value = values.get((point.id, register, day))
        if value is None and estimate_from is not None:
            value = estimate_from(point, register, day)
            if value is not None:
                estimated.append((point.label, register, day))
        if value is None:
            raise _Held("no frozen value %s of meter %s for 00:00 on %s"
                        % (_item(register), point.label, day))
        ends.append(value)
    opening, closing = ends
    if closing >= opening:
        return opening, closing, closing - opening, ""
    if point.integer_digits is not None:
        span = 10 ** (point.integer_digits + 4)
        wrapped = span - opening + closing
        if 0 <= wrapped < span // ROLLOVER_SHARE:
            return opening, closing, wrapped, " (register rolled over)"
    raise _Held("exception: register %s of meter %s went down from %s kWh to %s kWh between %s "
                "and %s" % (_item(register), point.label, _kwh(opening), _kwh(closing), point.lower,
                        point.upper))


def _kwh(e4):
    return show_kwh(e4, 4)


def compute(customer_id, number, points, tariff, values, estimate_from=None):
    """(state, hold reason, estimated, [Line]) of one customer's statement."""
    if not points:
        return "held", "no meter in service during the period", False, []
    if tariff is None:
        return "held", "no tariff in force at the end of the period", False, []
    registers = [0] if tariff.kind == "flat" else sorted(REGISTERS)
    lines, estimated = [], []
    try:
        for point in points:
            for register in registers:
                opening, closing, raw, note = _register_kwh(point, register, values,
                                                            estimate_from, estimated)
                kwh = raw * point.multiplier
                price = tariff.flat_price_e4 if register == 0 else tariff.prices[register]
                name = "Energy" if register == 0 else REGISTERS[register].capitalize()
                lines.append(Line(
                    len(lines) + 1, "energy", "%s, meter %s, %s to %s%s" % (
                        name, point.label, point.lower, point.upper, note),
                    point.id, register, opening, closing, point.multiplier, kwh, price,
                    amount_fen(kwh, price)))
    except _Held as held:
        return "held", str(held), bool(estimated), []
    total_kwh = sum(line.kwh_e4 for line in lines)
    for i, (above, surcharge) in enumerate(tariff.tiers):
        upto = tariff.tiers[i + 1][0] if i + 1 < len(tariff.tiers) else None
        in_tier = max(0, total_kwh - above * 10 ** 4)
        if upto is not None:
            in_tier = min(in_tier, (upto - above) * 10 ** 4)
        if surcharge and in_tier:
            block = "%d-%d kWh" % (above, upto) if upto is not None else "over %d kWh" % above
            lines.append(Line(len(lines) + 1, "tier", "Tier %d surcharge (%s)" % (i + 1, block),
                              None, 0, None, None, None, in_tier, surcharge,
                              amount_fen(in_tier, surcharge)))
    if tariff.fixed_monthly_fen:
        lines.append(Line(len(lines) + 1, "fixed", "Fixed monthly charge", None, None, None,
                          None, None, None, None, tariff.fixed_monthly_fen))
    if estimated:
        lines = [line._replace(description=line.description + " (estimated)")
                 if line.kind == "energy" else line for line in lines]
    return "draft", "", bool(estimated), lines


def run(conn, period, now, user=None, area=None, dry_run=False, estimate=False):
    """Bill `period` (`YYYY-MM`) for every customer (of one area code): returns a RunResult
    whose statements are what the database holds afterwards (or would, with dry_run)."""
    require(user, "read" if dry_run else "billing.run")
    if dry_run:
        existing_period = conn.execute(select(billing_periods.c.id).where(
            billing_periods.c.period == check_period(period))).first()
        if existing_period is None:
            reading_day = settings.get(conn, "reading_day")
            start, end, due = period_days(period, reading_day, settings.get(conn, "due_days"))
            the_period = Period(None, check_period(period), reading_day, start, end, due)
        else:
            the_period = get_period(conn, period)
    else:
        the_period = get_period(conn, period, now, create=True)
    area_id = None
    if area:
        area_id = find_area(conn, area)
    last_day = (datetime.date.fromisoformat(the_period.end_day)
                - datetime.timedelta(days=1)).isoformat()
    versions = versions_on(conn, last_day)
    codes = _tariff_codes(conn, last_day, area_id)
    people = _customers(conn, the_period, area_id)
    points = _points(conn, the_period, area_id)
    values = _readings(conn, the_period, area_id)
    existing = _existing(conn, the_period.id) if the_period.id else {}
    owed = balances(conn)

    def estimate_from(point, register, day):
        return _estimate(conn, point, register, day)

    results, new_rows, changed = [], [], []
    counts = collections.Counter()
    for customer_id, number in people:
        old = existing.get(customer_id)
        if old is not None and old.state == "issued":
            results.append(old)
            counts["issued_kept"] += 1
            continue
        code = codes.get(customer_id)
        state, reason, estimated, lines = compute(
            customer_id, number, points.get(customer_id, []), versions.get(code), values,
            estimate_from if estimate else None)
        if code is not None and code not in versions and state == "draft":
            state, reason, lines = "held", "tariff %s is not in force on %s" % (code, last_day), []
        total = sum(line.amount_fen for line in lines)
        balance = owed.get(customer_id, 0)
        statement = Statement(None if old is None else old.id,
                              None if old is None else old.number, customer_id, number, state,
                              reason, estimated, sum(line.kwh_e4 or 0 for line in lines
                                                     if line.kind == "energy"),
                              total, balance, total - balance, lines)
        if old is None:
            new_rows.append(statement)
            counts["created"] += 1
        elif _same(old, statement):
            statement = old
            counts["unchanged"] += 1
        else:
            statement = statement._replace(id=old.id, number=old.number)
            changed.append(statement)
            counts["updated"] += 1
        results.append(statement)
    if not dry_run:
        numbered = _write(conn, the_period, now, user, new_rows, changed)
        results = [numbered.get(s.customer_id, s) if s.id is None else s for s in results]
        audit.record(conn, user, "billing.run", "period:%s" % the_period.period, now,
                     area=area, estimate=bool(estimate), created=counts["created"],
                     updated=counts["updated"], unchanged=counts["unchanged"],
                     estimated=[s.number for s in results if s.estimated and s.state != "issued"],
                     held=sum(1 for s in results if s.state == "held"))
    return RunResult(the_period, results, counts["created"], counts["updated"],
                     counts["unchanged"], counts["issued_kept"])


def _same(old, new):
    keep = ("state", "hold_reason", "estimated", "kwh_e4", "total_fen", "opening_balance_fen",
            "amount_due_fen", "lines")
    return all(getattr(old, k) == getattr(new, k) for k in keep)


def _write(conn, period, now, user, new_rows, changed):
    """Insert new statements (numbered) and rewrite changed ones; {customer id: Statement}."""
    user_id = None if user is None else user.id
    numbered = {}
    if new_rows:
        used = conn.execute(select(func.count()).select_from(statements).where(
            statements.c.period_id == period.id)).scalar()
        rows = []
        for i, s in enumerate(new_rows, used + 1):
            s = s._replace(number="%s-%06d" % (period.period, i))
            numbered[s.customer_id] = s
            rows.append(_statement_values(s) | {
                "number": s.number, "customer_id": s.customer_id, "period_id": period.id,
                "created_at": now, "created_by": user_id})
        ids = _new_ids(conn, statements, len(rows))
        if ids is None:
            ids = conn.execute(insert(statements).returning(
                statements.c.id, sort_by_parameter_order=True), rows).scalars().all()
        else:
            _bulk_insert(conn, statements, [dict(row, id=i) for row, i in zip(rows, ids,
                                                                            strict=True)])
        for statement_id, s in zip(ids, list(numbered.values()), strict=True):
            numbered[s.customer_id] = s._replace(id=statement_id)
    for s in changed:
        conn.execute(update(statements).where(statements.c.id == s.id)
                     .values(**_statement_values(s), created_at=now, created_by=user_id))
    if changed:
        conn.execute(delete(statement_lines).where(
            statement_lines.c.statement_id.in_([s.id for s in changed])))
    lines = [dict(line._asdict(), statement_id=s.id)
             for s in list(numbered.values()) + changed for line in s.lines]
    if lines:
        _bulk_insert(conn, statement_lines, lines)
    return numbered


def _new_ids(conn, table, count):
    """PostgreSQL: `count` ids drawn from the table's identity sequence (so rows can be
    copied in with them); None elsewhere (SQLite inserts with RETURNING quickly)."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": count}).scalars().all()


def _bulk_insert(conn, table, rows):
    """Insert many rows (dicts) in the caller's transaction. PostgreSQL: COPY, since a
    multi-row INSERT of a period's statement lines spends seconds in parameter handling."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy("COPY %s (%s) FROM STDIN" % (table.name, ", ".join(
            '"%s"' % name for name in names))) as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def _statement_values(s):
    return {"state": s.state, "hold_reason": s.hold_reason, "estimated": s.estimated,
            "kwh_e4": s.kwh_e4, "total_fen": s.total_fen,
            "opening_balance_fen": s.opening_balance_fen, "amount_due_fen": s.amount_due_fen}


def _existing(conn, period_id, where=None):
    """{customer id: Statement} of the period's statements that are not void."""
    query = (select(statements, customers.c.number.label("customer_number"))
             .join(customers, customers.c.id == statements.c.customer_id)
             .where(statements.c.period_id == period_id, statements.c.state != "void"))
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    lines = collections.defaultdict(list)
    if rows:
        ids = [r.id for r in rows]
        for chunk in range(0, len(ids), 5000):
            query = (select(statement_lines)
                     .where(statement_lines.c.statement_id.in_(ids[chunk:chunk + 5000]))
                     .order_by(statement_lines.c.statement_id, statement_lines.c.seq))
            for r in conn.execute(query):
                lines[r.statement_id].append(Line(
                    r.seq, r.kind, r.description, r.service_point_id, r.register, r.opening_e4,
                    r.closing_e4, r.multiplier, r.kwh_e4, r.price_e4, r.amount_fen))
    return {r.customer_id: _statement(r, lines[r.id]) for r in rows}


def _statement(r, lines):
    return Statement(r.id, r.number, r.customer_id, r.customer_number, r.state, r.hold_reason,
                     bool(r.estimated), r.kwh_e4, r.total_fen, r.opening_balance_fen,
                     r.amount_due_fen, lines)


def period_statements(conn, period, customer=None, area=None):
    """The statements of a period that are not void, by customer number."""
    the_period = get_period(conn, period)
    where = None
    if customer:
        where = customers.c.number == customer
    if area:
        where = and_(where if where is not None else literal(True),
                     customers.c.area_id == select(areas.c.id).where(areas.c.code == area)
                     .scalar_subquery())
    found = _existing(conn, the_period.id, where)
    return sorted(found.values(), key=lambda s: s.customer_number)


def statement(conn, number):
    """One statement by its number (void ones too)."""
    row = conn.execute(select(statements, customers.c.number.label("customer_number"))
                       .join(customers, customers.c.id == statements.c.customer_id)
                       .where(statements.c.number == number)).first()
    if row is None:
        raise NotFound("no statement %r" % (number,))
    lines = [Line(r.seq, r.kind, r.description, r.service_point_id, r.register, r.opening_e4,
                  r.closing_e4, r.multiplier, r.kwh_e4, r.price_e4, r.amount_fen)
             for r in conn.execute(select(statement_lines)
                                   .where(statement_lines.c.statement_id == row.id)
                                   .order_by(statement_lines.c.seq))]
    return _statement(row, lines)


# --- issue and void --------------------------------------------------------------------------

def issue(conn, period, now, user, numbers=None):
    """Issue the period's drafts (or those numbered): each gets its charge in the ledger.
    Held statements stay held. Returns the number issued."""
    require(user, "statement.issue")
    the_period = get_period(conn, period)
    query = select(statements.c.id, statements.c.customer_id, statements.c.total_fen,
                   statements.c.number).where(statements.c.period_id == the_period.id,
                                              statements.c.state == "draft")
    if numbers:
        query = query.where(statements.c.number.in_(numbers))
    drafts = conn.execute(query).all()
    if not drafts:
        return 0
    ids = [d.id for d in drafts]
    for chunk in range(0, len(ids), 5000):
        conn.execute(update(statements).where(statements.c.id.in_(ids[chunk:chunk + 5000]))
                     .values(state="issued", issued_at=now, issued_by=user.id))
    _bulk_insert(conn, ledger, [
        {"customer_id": d.customer_id, "at": now, "kind": "charge", "amount_fen": -d.total_fen,
         "statement_id": d.id, "user_id": user.id, "note": "statement %s" % d.number}
        for d in drafts])
    audit.record(conn, user, "statement.issue", "period:%s" % the_period.period, now,
                 count=len(drafts), total_fen=sum(d.total_fen for d in drafts))
    return len(drafts)


def void(conn, number, now, user, reason):
    """Void a statement; an issued one's charge is reversed by an adjustment in the ledger
    (the ledger's rows are never changed). The next run bills the customer afresh."""
    require(user, "statement.issue")
    if not (reason or "").strip():
        raise BusinessError("say why the statement is void (--reason)")
    found = statement(conn, number)
    if found.state == "void":
        raise BusinessError("statement %s is void already" % number)
    conn.execute(update(statements).where(statements.c.id == found.id)
                 .values(state="void", voided_at=now, voided_by=user.id))
    if found.state == "issued":
        conn.execute(insert(ledger).values(
            customer_id=found.customer_id, at=now, kind="adjustment", amount_fen=found.total_fen,
            user_id=user.id, note="void of statement %s: %s" % (number, reason.strip())))
    audit.record(conn, user, "statement.void", "statement:%s" % number, now,
                 was=found.state, total_fen=found.total_fen, reason=reason.strip())
