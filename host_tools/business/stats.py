"""Statistics from the daily frozen values: consumption, line loss, read success, top consumers.

    consumption(conn, "2026-11-01", "2026-11-30", by="customer")          # a row per customer-day
    consumption(conn, "2026-01", "2026-11", step=MONTH, by="area")        # a row per area-month
    line_loss(conn, "2026-11", "2026-11", step=MONTH)                     # a row per area
    read_success(conn, "2026-11-01", "2026-11-30")                        # a row per area-day
    top_consumers(conn, "2026-11", "2026-11", step=MONTH, limit=20)

A register's consumption over [start, end) is (its daily frozen `energy_fwd_total` of day
`end` - that of day `start`) x the service point's multiplier: a daily frozen value labelled D
is the register at 00:00 of D, as billing reads it. A day is [D, D+1); a month is [YYYY-MM-01,
next month's 01). A service point counts only over its part of a step (valid_from ..
valid_to), so a meter swapped mid-month adds its old and its new meter. A value that is missing makes that step of that meter
unknown (`missing`), never estimated: sums over customers and areas say how many were missing.

Flags on each row: `negative` (the register went back: a reset, a swap not recorded, or a
rollover), `zero`, `sudden` (at least SUDDEN_FACTOR times, or at most 1/SUDDEN_FACTOR of, the
mean of the LOOKBACK steps before it, by at least SUDDEN_MIN_KWH: a jump or a drop a meter reader
should look at).

Line loss of an area = (supply - the sum of its customers' consumption) / supply, the supply
being the area's supply meter (terminal + pn) x its multiplier. Values are fetched by the frozen
table's key (terminal, pn, item, day IN the bound days), so a month for 10,000 meters reads
two rows per meter.
"""
import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, func, literal, or_, select

from host_tools.station.items import TOTAL_ENERGY
from host_tools.station.tables import daily_frozen, terminals
from host_tools.business.customers import area_id as find_area
from host_tools.business.errors import BusinessError
from host_tools.business.money import to_e4
from host_tools.business.tables import areas, customers, service_points

DAY, MONTH = "day", "month"
TOTAL_ITEM = TOTAL_ENERGY
BY = ("meter", "customer", "area")
LOOKBACK = {DAY: 7, MONTH: 3}
SUDDEN_FACTOR = 3
SUDDEN_MIN_KWH = {DAY: 2, MONTH: 30}
_E4 = 10 ** 4


# --- steps -----------------------------------------------------------------------------------

def _date(text, what):
    try:
        return datetime.date.fromisoformat(str(text).strip())
    except ValueError:
        raise BusinessError("bad %s %r: YYYY-MM-DD such as 2026-11-01" % (what, text)) from None


def _month(text, what):
    try:
        return datetime.datetime.strptime(str(text).strip(), "%Y-%m").date()
    except ValueError:
        raise BusinessError("bad %s %r: YYYY-MM such as 2026-11" % (what, text)) from None


def _next_month(day):
    return day.replace(year=day.year + 1, month=1) if day.month == 12 else \
        day.replace(month=day.month + 1)


def steps(first, last, step, lookback=0):
    """[(label, start day, end day)] of the steps from `first` to `last` (inclusive), with
    `lookback` extra steps before `first`. Days are 'YYYY-MM-DD', months 'YYYY-MM'."""
    if step == DAY:
        a, b = _date(first, "first day"), _date(last, "last day")
        one = datetime.timedelta(days=1)
        a -= lookback * one
        found = []
        while a <= b:
            found.append((a.isoformat(), a.isoformat(), (a + one).isoformat()))
            a += one
    elif step == MONTH:
        a, b = _month(first, "first month"), _month(last, "last month")
        for _ in range(lookback):
            a = (a - datetime.timedelta(days=1)).replace(day=1)
        found = []
        while a <= b:
            following = _next_month(a)
            found.append((a.strftime("%Y-%m"), a.isoformat(), following.isoformat()))
            a = following
    else:
        raise BusinessError("bad step %r: day or month" % (step,))
    if not found:
        raise BusinessError("the first %s is after the last" % step)
    if len(found) > 3700:
        raise BusinessError("too many %ss at once: give a shorter range" % step)
    return found


# --- fetching --------------------------------------------------------------------------------

def _overlaps(start, end):
    return and_(service_points.c.valid_from < end,
                or_(service_points.c.valid_to.is_(None), service_points.c.valid_to > start))


def _filters(conn, area, customer):
    where = []
    if area:
        where.append(customers.c.area_id == find_area(conn, area))
    if customer:
        where.append(customers.c.number == customer)
    return where


def _points(conn, start, end, where):
    """Service points serving some of [start, end), with their customer and area."""
    return conn.execute(
        select(service_points.c.id, service_points.c.terminal_id, service_points.c.pn,
               service_points.c.multiplier, service_points.c.valid_from,
               service_points.c.valid_to, customers.c.number, customers.c.name,
               customers.c.area_id)
        .join(customers, customers.c.id == service_points.c.customer_id)
        .where(_overlaps(start, end), *where)
        .order_by(customers.c.number, service_points.c.valid_from)).all()


def _bound_days(bounds, points):
    """Every day whose value a step needs: the step bounds and the swaps inside them."""
    days = {d for _, s, e in bounds for d in (s, e)}
    first, last = bounds[0][1], bounds[-1][2]
    for p in points:
        for d in (p.valid_from, p.valid_to):
            if d and first < d < last:
                days.add(d)
    return sorted(days)


def _values(conn, source, days, where):
    """{(terminal_id, pn): {day: kWh e4}} of the total register on `days`, for the meters
    `source` (service points or areas' supply meters) joined to the frozen table by its key."""
    if source is areas:
        tid, pn = areas.c.supply_terminal_id, areas.c.supply_pn
        query = select(tid, pn, daily_frozen.c.day, daily_frozen.c.value, daily_frozen.c.scale) \
            .select_from(areas)
    else:
        tid, pn = service_points.c.terminal_id, service_points.c.pn
        query = select(tid, pn, daily_frozen.c.day, daily_frozen.c.value, daily_frozen.c.scale) \
            .select_from(service_points).join(customers,
                                              customers.c.id == service_points.c.customer_id)
    found = {}
    for chunk in range(0, len(days), 400):
        some = days[chunk:chunk + 400]
        rows = conn.execute(query.join(daily_frozen, and_(
            daily_frozen.c.terminal_id == tid, daily_frozen.c.pn == pn,
            daily_frozen.c.item == TOTAL_ITEM, daily_frozen.c.day.in_(some))).where(*where))
        for t_id, p, day, value, scale in rows:
            found.setdefault((t_id, p), {})[day] = to_e4(value, scale)
    return found


def _delta(values, start, end, multiplier=1, valid_from=None, valid_to=None):
    """(kWh e4 or None when a value is missing, True when the point serves the step) of a
    meter over [start, end) clipped to its validity."""
    a = max(start, valid_from) if valid_from else start
    b = min(end, valid_to) if valid_to else end
    if a >= b:
        return None, False
    opening, closing = values.get(a), values.get(b)
    if opening is None or closing is None:
        return None, True
    return (closing - opening) * multiplier, True


def _terminal_labels(conn):
    return {r.id: r.name or "%s-%d" % (r.area_code, r.address)
            for r in conn.execute(select(terminals.c.id, terminals.c.name, terminals.c.area_code,
                                         terminals.c.address))}


# --- consumption -----------------------------------------------------------------------------

def kwh(e4):
    """Decimal kWh (2 places) of an e4 quantity, or None."""
    if e4 is None:
        return None
    return (Decimal(e4) / _E4).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def consumption(conn, first, last, step=DAY, by="customer", area=None, customer=None):
    """Rows {period, key fields, kwh_e4, missing, flag} per meter, customer or area and step.
    kwh_e4 is None when a value needed is missing (`missing` counts the meters)."""
    if by not in BY:
        raise BusinessError("bad --by %r: one of %s" % (by, ", ".join(BY)))
    lookback = LOOKBACK[step]
    bounds = steps(first, last, step, lookback)
    where = _filters(conn, area, customer)
    points = _points(conn, bounds[0][1], bounds[-1][2], where)
    values = _values(conn, service_points, _bound_days(bounds, points),
                     where + [_overlaps(bounds[0][1], bounds[-1][2])])
    labels = _terminal_labels(conn) if by == "meter" else {}
    area_names = {r.id: (r.code, r.name) for r in conn.execute(select(areas))}

    series = {}       # key -> (fields, [(label, e4 or None, missing)])
    for label, start, end in bounds:
        step_totals = {}
        for p in points:
            e4, serves = _delta(values.get((p.terminal_id, p.pn), {}), start, end,
                                p.multiplier, p.valid_from, p.valid_to)
            if not serves:
                continue
            if by == "meter":
                key = p.id
                fields = {"customer": p.number, "name": p.name,
                          "meter": "%s:%d" % (labels.get(p.terminal_id, p.terminal_id), p.pn)}
            elif by == "customer":
                key = p.number
                fields = {"customer": p.number, "name": p.name,
                          "area": area_names.get(p.area_id, ("", ""))[0]}
            else:
                key = p.area_id
                fields = {"area": area_names.get(p.area_id, ("", ""))[0],
                          "area_name": area_names.get(p.area_id, ("", ""))[1]}
            total = step_totals.setdefault(key, [fields, 0, 0])
            if e4 is None:
                total[2] += 1
            else:
                total[1] += e4
        for key, (fields, e4, missing) in step_totals.items():
            series.setdefault(key, (fields, []))[1].append(
                (label, None if missing else e4, missing))
    first_label = bounds[lookback][0]
    rows = []
    for fields, points_of in series.values():
        for index, (label, e4, missing) in enumerate(points_of):
            if label < first_label:
                continue
            before = [v for _, v, _ in points_of[max(0, index - lookback):index] if v is not None]
            row = {"period": label}
            row.update(fields)
            row.update({"kwh_e4": e4, "missing": missing, "flag": flag(e4, before, step)})
            rows.append(row)
    rows.sort(key=lambda r: (r["period"], tuple(str(r[k]) for k in r if k in BY)))
    return rows


def flag(e4, before, step):
    """'negative', 'zero', 'sudden' or '' for one step's consumption after `before`."""
    if e4 is None:
        return ""
    if e4 < 0:
        return "negative"
    if e4 == 0:
        return "zero"
    if before:
        mean = sum(before) / len(before)
        if abs(e4 - mean) >= SUDDEN_MIN_KWH[step] * _E4 and (
                e4 >= SUDDEN_FACTOR * mean or e4 * SUDDEN_FACTOR <= mean):
            return "sudden"
    return ""


def top_consumers(conn, first, last, step=MONTH, limit=20, area=None):
    """The customers who consumed most over the whole range: [{customer, name, area, kwh_e4}]."""
    if limit < 1:
        raise BusinessError("--top must be at least 1")
    totals = {}
    for row in consumption(conn, first, last, step, "customer", area):
        entry = totals.setdefault(row["customer"], {
            "customer": row["customer"], "name": row["name"], "area": row["area"],
            "kwh_e4": 0, "missing": 0})
        entry["missing"] += row["missing"]
        entry["kwh_e4"] += row["kwh_e4"] or 0
    ranked = sorted(totals.values(), key=lambda r: (-r["kwh_e4"], r["customer"]))
    return ranked[:limit]


# --- line loss and read success --------------------------------------------------------------

def _areas(conn, area):
    query = select(areas).order_by(areas.c.code)
    if area:
        query = query.where(areas.c.id == find_area(conn, area))
    return conn.execute(query).all()


def _e4_sql(frozen):
    """A frozen value as 0.0001 kWh in SQL (NULL for a finer scale, as to_e4 refuses one)."""
    return frozen.c.value * case({s: 10 ** (4 - s) for s in range(5)}, value=frozen.c.scale)


def _frozen_on(alias, terminal_id, pn, day):
    return and_(alias.c.terminal_id == terminal_id, alias.c.pn == pn,
                alias.c.item == TOTAL_ITEM, alias.c.day == day)


def _area_sums(conn, start, end, area_ids):
    """{area id: (meters, missing, consumed e4)} of the customers' meters over [start, end),
    each over its part of it: summed by the database, two key lookups per meter."""
    sp = service_points
    opening = case((sp.c.valid_from > start, sp.c.valid_from), else_=literal(start))
    closing = case((and_(sp.c.valid_to.is_not(None), sp.c.valid_to < end), sp.c.valid_to),
                   else_=literal(end))
    d0, d1 = daily_frozen.alias("d0"), daily_frozen.alias("d1")
    unknown = or_(d0.c.value.is_(None), d1.c.value.is_(None))
    query = (select(customers.c.area_id, func.count(), func.sum(case((unknown, 1), else_=0)),
                    func.sum((_e4_sql(d1) - _e4_sql(d0)) * sp.c.multiplier))
             .select_from(sp).join(customers, customers.c.id == sp.c.customer_id)
             .outerjoin(d0, _frozen_on(d0, sp.c.terminal_id, sp.c.pn, opening))
             .outerjoin(d1, _frozen_on(d1, sp.c.terminal_id, sp.c.pn, closing))
             .where(customers.c.area_id.in_(area_ids), _overlaps(start, end))
             .group_by(customers.c.area_id))
    return {a: (int(n), int(missing), int(total or 0))
            for a, n, missing, total in conn.execute(query)}


def _supplies(conn, start, end, area_ids):
    """{area id: supply e4 or None} of the areas' supply meters over [start, end)."""
    d0, d1 = daily_frozen.alias("d0"), daily_frozen.alias("d1")
    query = (select(areas.c.id, (_e4_sql(d1) - _e4_sql(d0)) * areas.c.supply_multiplier)
             .select_from(areas)
             .outerjoin(d0, _frozen_on(d0, areas.c.supply_terminal_id, areas.c.supply_pn,
                                       literal(start)))
             .outerjoin(d1, _frozen_on(d1, areas.c.supply_terminal_id, areas.c.supply_pn,
                                       literal(end)))
             .where(areas.c.id.in_(area_ids)))
    return {a: None if supplied is None else int(supplied) for a, supplied in conn.execute(query)}


def line_loss(conn, first, last, step=MONTH, area=None):
    """Rows {period, area, area_name, supply_kwh_e4, consumed_kwh_e4, loss_kwh_e4, loss_rate,
    meters, missing} per area and step. loss_rate is a Decimal fraction (4 places), None when
    the supply is unknown or zero; with customer meters missing it is too high: `missing`
    says how many. One query per step sums the customers' meters per area."""
    bounds = steps(first, last, step)
    the_areas = _areas(conn, area)
    ids = [a.id for a in the_areas]
    rows = []
    for label, start, end in bounds:
        sums = _area_sums(conn, start, end, ids) if ids else {}
        supplies = _supplies(conn, start, end, ids) if ids else {}
        for a in the_areas:
            meters, missing, consumed = sums.get(a.id, (0, 0, 0))
            supplied = supplies.get(a.id)
            loss = None if supplied is None else supplied - consumed
            rate = None
            if supplied:
                rate = (Decimal(loss) / Decimal(supplied)).quantize(Decimal("0.0001"),  # pyright: ignore[reportArgumentType] - loss is set when supplied is
                                                                     rounding=ROUND_HALF_UP)
            rows.append({"period": label, "area": a.code, "area_name": a.name,
                         "supply_kwh_e4": supplied, "consumed_kwh_e4": consumed,
                         "loss_kwh_e4": loss, "loss_rate": rate, "meters": meters,
                         "missing": missing})
    return rows


def read_success(conn, first, last, area=None):
    """Rows {day, area, area_name, expected, read, rate} per area and day: of the meters that
    should have a daily frozen value that day (customers' meters in service and the supply
    meter), how many have one. rate is a Decimal fraction (4 places)."""
    bounds = steps(first, last, DAY)
    days = [s for _, s, _ in bounds]
    the_areas = _areas(conn, area)
    where = [customers.c.area_id.in_([a.id for a in the_areas])]
    # From the day before: a meter swapped out on the first day is read that day too.
    since = steps(first, first, DAY, lookback=1)[0][1]
    points = _points(conn, since, bounds[-1][2], where)
    values = _values(conn, service_points, days, where + [_overlaps(since, bounds[-1][2])])
    supply = _values(conn, areas, days, [areas.c.id.in_([a.id for a in the_areas])])
    by_area = {}
    for p in points:
        by_area.setdefault(p.area_id, []).append(p)
    rows = []
    for day in days:
        for a in the_areas:
            expected = read = 0
            if a.supply_terminal_id is not None:
                expected += 1
                read += day in supply.get((a.supply_terminal_id, a.supply_pn), {})
            for p in by_area.get(a.id, ()):
                # A point's own day: from its first day to its last (valid_to is the new
                # meter's first day, when the old one is read for the last time too).
                if p.valid_from <= day and (p.valid_to is None or day <= p.valid_to):
                    expected += 1
                    read += day in values.get((p.terminal_id, p.pn), {})
            rate = None if not expected else (Decimal(read) / Decimal(expected)).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP)
            rows.append({"day": day, "area": a.code, "area_name": a.name,
                         "expected": expected, "read": read, "rate": rate})
    return rows

