"""What the console shows about customers: the search and the customer page's parts, gathered
from the business library (customers, ledger, arrears, stats) and the statements, payments and
commands tables. Read-only; the figures come from the library's own functions, so the console
shows what the CLI and the printed statements say."""
import datetime

from sqlalchemy import or_, select, text

from host_tools.business import arrears, customers, ledger, stats
from host_tools.business.tables import (billing_periods, customers as customers_table, payments,
                                        statements, users)
from host_tools.console import station_data

SEARCH_LIMIT = 50


def search(conn, query, limit=SEARCH_LIMIT):
    """Customers whose number, name, address or meter address contains `query` (a number or
    meter address that matches exactly comes first)."""
    query = (query or "").strip()
    base = select(customers_table.c.id, customers_table.c.number, customers_table.c.name,
                  customers_table.c.address, customers_table.c.phone)
    if not query:
        rows = conn.execute(base.order_by(customers_table.c.number).limit(limit)).all()
        return [dict(r._mapping) for r in rows]
    like = "%" + query.replace("%", "").replace("_", "") + "%"
    # The meter first (by its address index), then who it serves: CROSS JOIN keeps SQLite in
    # that order instead of probing every service point.
    owners = [r[0] for r in conn.execute(text(
        "SELECT sp.customer_id FROM measuring_points mp CROSS JOIN service_points sp "
        "WHERE mp.meter_address = :meter AND sp.terminal_id = mp.terminal_id "
        "AND sp.pn = mp.pn"), {"meter": query.lower()})]
    exact = conn.execute(base.where(or_(customers_table.c.number == query,
                                        customers_table.c.id.in_(owners)))).all()
    rows = conn.execute(base.where(or_(
        customers_table.c.number.like(like), customers_table.c.name.like(like),
        customers_table.c.address.like(like))).order_by(customers_table.c.number)
        .limit(limit)).all()
    seen, result = set(), []
    for row in list(exact) + list(rows):
        if row.id not in seen:
            seen.add(row.id)
            result.append(dict(row._mapping))
    return result[:limit]


def customer_page(conn, number, now, zone):
    """Everything the customer page shows (customers.NotFound for an unknown number)."""
    who = customers.customer(conn, number)
    today = station_data.day_of(now, zone)
    points = []
    for point in customers.service_points_of(conn, number):
        meter = conn.execute(text(
            "SELECT mp.meter_address, t.area_code, t.address FROM measuring_points mp "
            "JOIN terminals t ON t.id = mp.terminal_id WHERE mp.terminal_id = :t AND mp.pn = :pn"),
            {"t": point.terminal_id, "pn": point.pn}).first()
        history = station_data.commands(conn, terminal_id=point.terminal_id, pn=point.pn,
                                        limit=50)
        in_service = point.valid_from <= today and (point.valid_to is None or
                                                   point.valid_to > today)
        points.append({
            "id": point.id, "terminal_id": point.terminal_id, "pn": point.pn,
            "terminal": "%s-%d" % (meter.area_code, meter.address) if meter else "?",
            "meter_address": meter.meter_address if meter else None,
            "multiplier": point.multiplier, "valid_from": point.valid_from,
            "valid_to": point.valid_to, "in_service": in_service,
            "relay": station_data.relay_state(history), "commands": history})
    first_month = _month_back(today, 11)
    monthly = [{"period": r["period"], "kwh": None if r["kwh_e4"] is None else
                r["kwh_e4"] / 10000} for r in stats.consumption(
                    conn, first_month, today[:7], step=stats.MONTH, customer=number)]
    daily = [{"period": r["period"], "kwh": None if r["kwh_e4"] is None else r["kwh_e4"] / 10000}
             for r in stats.consumption(conn, _day_back(today, 30), _day_back(today, 1),
                                        step=stats.DAY, customer=number)]
    case_rows = arrears.cases(conn, customer=number, active=False)
    return {
        "customer": {"id": who.id, "number": who.number, "name": who.name,
                     "address": who.address, "phone": who.phone, "account": who.account,
                     "area": who.area_code},
        "balance_fen": ledger.balance(conn, number),
        "service_points": points,
        "monthly": monthly, "daily": daily,
        "statements": _statements(conn, who.id),
        "ledger": [e._asdict() for e in ledger.entries(conn, number)][-50:][::-1],
        "payments": _payments(conn, who.id),
        "arrears": [dict(c._asdict(), transitions=[t._asdict() for t in
                                                    arrears.transitions(conn, c.id)])
                    for c in case_rows][::-1],
    }


def _statements(conn, customer_id):
    rows = conn.execute(select(statements, billing_periods.c.period, billing_periods.c.due_day)
                        .join(billing_periods, billing_periods.c.id == statements.c.period_id)
                        .where(statements.c.customer_id == customer_id)
                        .order_by(billing_periods.c.period.desc(), statements.c.id.desc())
                        .limit(24)).all()
    return [{"number": r.number, "period": r.period, "state": r.state,
             "hold_reason": r.hold_reason, "kwh_e4": r.kwh_e4, "total_fen": r.total_fen,
             "amount_due_fen": r.amount_due_fen, "due_day": r.due_day} for r in rows]


def _payments(conn, customer_id):
    rows = conn.execute(select(payments, users.c.name.label("cashier"))
                        .join(users, users.c.id == payments.c.user_id)
                        .where(payments.c.customer_id == customer_id)
                        .order_by(payments.c.id.desc()).limit(24)).all()
    return [{"receipt_no": r.receipt_no, "amount_fen": r.amount_fen, "method": r.method,
             "paid_at": r.paid_at, "cashier": r.cashier, "note": r.note} for r in rows]


def meter_in_service(conn, number, now, zone):
    """(terminal_id, pn) of the customer's meter in service today (BusinessError otherwise)."""
    from host_tools.business.errors import BusinessError
    today = station_data.day_of(now, zone)
    current = [p for p in customers.service_points_of(conn, number)
               if p.valid_from <= today and (p.valid_to is None or p.valid_to > today)]
    if len(current) != 1:
        raise BusinessError("customer %s has %s meter in service today" % (
            number, "no" if not current else "more than one"))
    return current[0].terminal_id, current[0].pn


def _day_back(day, days):
    return (datetime.date.fromisoformat(day) - datetime.timedelta(days=days)).isoformat()


def _month_back(day, months):
    year, month = int(day[:4]), int(day[5:7]) - months
    while month < 1:
        month += 12
        year -= 1
    return "%04d-%02d" % (year, month)
