"""Demo data: a small utility's year, seeded and deterministic, for the console, the benchmarks and
`make demo`.

    summary = generate(engine, customers=10_000, seed=1376, until="2026-12-01")

Fills an empty business database with transformer areas (one per 100 customers), data concentrators
(one per 10 customers, the area's supply meter on the first one's point 1 behind a 200/5 CT),
customers with Chinese names and addresses, their service points, three tariffs (residential
tiered, residential time-of-use + tiers, commercial flat with a fixed charge) and a year of daily
frozen forward active energy (AFN0D F161 stored as `energy_fwd_total` and `energy_fwd_t1`..`t4`,
format 14, 0.0001 kWh) ending on `until`. The consumption is shaped like a town's: seasonal (summer
and winter peaks), a per-customer level and register split, about 1 % vacant homes (zero), 1 % with
a sudden jump, one meter swapped mid-year (the old meter's service point ends on the swap day, the
new one starts there at a near-zero register), a few meter-days not read (never on the 1st, so
monthly billing works, except two customers whose last reading day is missing: their statements are
held), and each area's supply meter measuring its customers plus 2..6 % line loss. The same
(customers, seed, until) always gives the same rows.

The frozen values (10,000 customers are 18 million rows) go in through
host_tools.business.frozen_load, each engine's bulk path.
"""
import datetime
import itertools
import math
import random

from sqlalchemy import func, insert, select

from host_tools.business import (arrears, billing, frozen_load, payments, settings, tariffs,
                                 users)
from host_tools.business import tables as t
from host_tools.station.items import energy_item
from host_tools.station.tables import measuring_points as _points
from host_tools.station.tables import terminals as _terminals

DEFAULT_SEED = 1376
CUSTOMERS_PER_TERMINAL = 10
TERMINALS_PER_AREA = 10
TERMINAL_A1 = "4102"                # the demo county's A1; the live demo terminal is 4101
SUPPLY_PN = 1
SUPPLY_MULTIPLIER = 40              # 200/5 A current transformer
SWAP_PN = CUSTOMERS_PER_TERMINAL + 2
SCALE = 4                           # format 14: 0.0001 kWh
REGISTER_WIDTH = (6, 2)             # integer and decimal digits of the meters' registers
ITEMS = tuple(energy_item("fwd", register) for register in range(5))   # total, tariffs 1..4

SETTINGS = {"utility_name": "示范县供电公司", "utility_address": "示范县人民路 1 号",
            "utility_phone": "95598", "due_days": 20, "arrears_threshold_fen": 5000,
            "reading_day": 1}
DEMO_USERS = (("admin", "admin", "系统管理员"), ("clerk", "clerk", "抄核收员"),
              ("cashier", "cashier", "收费员"), ("dispatcher", "dispatcher", "调度员"),
              ("viewer", "viewer", "查询员"))
BILLED_MONTHS = 3

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华红建国志海东"
STREETS = ("人民路", "解放路", "建设街", "和平街", "新华路", "东关街", "西关街", "南环路", "北环路",
           "文化路", "胜利街", "光明路")
AREA_PLACES = ("城东", "城西", "城南", "城北", "东关", "西关", "南关", "北关", "新区", "工业园",
               "河滨", "站前")

# Three tariffs (prices in 0.0001 yuan/kWh, like a provincial residential schedule).
TIERS = [(0, 0), (180, 500), (280, 3000)]                       # above kWh, surcharge
TARIFFS = [
    # code, name, kind, flat price, fixed monthly fen, TOU prices by register
    ("RES", "居民生活用电（阶梯）", "flat", 5283, 0, None),
    ("RES-TOU", "居民生活用电（分时+阶梯）", "tou", None, 0, {1: 8283, 2: 6283, 3: 5283, 4: 3083}),
    ("COM", "一般工商业用电", "flat", 8450, 1000, None),
]


class DemoDataError(Exception):
    """The database cannot take demo data (the message says why)."""


def generate(engine, customers, seed=DEFAULT_SEED, until=None, now=None, password=None,
             billed_months=BILLED_MONTHS):
    """Fill the (empty) business database behind `engine`; returns a summary dict.

    until: the last frozen day 'YYYY-MM-DD' (default today). password: for the demo users
    (admin, clerk, cashier, dispatcher, viewer) when the database has no users yet; otherwise
    the first admin bills. billed_months: the last complete months billed, issued and mostly
    paid (the year's other months stay unbilled: billing is `conc station bill`'s to show)."""
    if customers < 1:
        raise DemoDataError("--customers must be at least 1")
    last = datetime.date.fromisoformat(until) if until else datetime.date.today()
    first = _year_before(last)
    now = int(now if now is not None else datetime.datetime.now().timestamp())
    rng = random.Random(seed)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(t.customers)).scalar():
            raise DemoDataError("the database has customers already: give demo-data a new "
                                "database (--db)")
        staff = _users(conn, password, now)
        layout = _master_data(conn, rng, customers, first, last, now)
        rows = _frozen_values(conn, rng, layout, first, last, now)
    periods = _bill_and_pay(engine, rng, staff, last, billed_months)
    return {"customers": customers, "areas": len(layout["areas"]),
            "terminals": len(layout["terminals"]), "meters": len(layout["meters"]),
            "first_day": first.isoformat(), "last_day": last.isoformat(),
            "frozen_values": rows, "seed": seed, "swapped_customer": layout["swapped"],
            "periods": periods,
            "users": sorted(staff)}


def _users(conn, password, now):
    """{role: User}: the demo staff, created when there are no users yet."""
    found = {}
    for row in conn.execute(select(t.users).where(t.users.c.active).order_by(t.users.c.id)):
        found.setdefault(row.role, users.User(row.id, row.name, row.role, row.full_name))
    if not found:
        if not password:
            raise DemoDataError("the database has no users: give the demo users' password "
                                "(CONC_STATION_PASSWORD or the prompt)")
        for name, role, full_name in DEMO_USERS:
            found[role] = users.add_user(conn, name, password, role, now, full_name=full_name)
    if "admin" not in found:
        raise DemoDataError("the database has users but no active admin to bill with")
    for role in ("cashier", "dispatcher", "clerk"):
        found.setdefault(role, found["admin"])
    return found


def _epoch(day, hour=0):
    return int(datetime.datetime(day.year, day.month, day.day, hour,
                                 tzinfo=datetime.timezone.utc).timestamp())


def _bill_and_pay(engine, rng, staff, last, months):
    """Bill, issue and (mostly) pay the last `months` complete months ending by `last`; the
    morning each period is issued, the arrears run opens cases (a third get a notice)."""
    end = last.replace(day=1)
    periods = []
    for k in range(months, 0, -1):
        year, month = end.year, end.month - k
        while month < 1:
            year, month = year - 1, month + 12
        periods.append("%04d-%02d" % (year, month))
    done = []
    for index, period in enumerate(periods):
        with engine.begin() as conn:
            start, end_day, due = billing.period_days(period, settings.get(conn, "reading_day"),
                                                      settings.get(conn, "due_days"))
            issued_at = _epoch(datetime.date.fromisoformat(end_day), 9)
            result = billing.run(conn, period, issued_at, staff["clerk"])
            cases = arrears.open_cases(conn, end_day, issued_at - 3600)
            for case_id in cases[::3]:
                arrears.notice(conn, case_id, issued_at - 1800, staff["clerk"],
                               "notice delivered by the meter reader")
            issued = billing.issue(conn, period, issued_at, staff["clerk"])
            paid = _payments(conn, rng, staff["cashier"], period, issued_at,
                             datetime.date.fromisoformat(due), last,
                             late_payers=index >= len(periods) - 2)
        held = sum(1 for s in result.statements if s.state == "held")
        done.append({"period": period, "issued": issued, "held": held, "paid": paid,
                     "arrears_opened": len(cases)})
    return done


def _payments(conn, rng, cashier, period, issued_at, due, last, late_payers):
    """Most customers pay their statement in full before the due day; 5 % pay half of it
    and, in the last two months, 3 % do not pay at all (the arrears). Payments after `last`
    are left out. Each goes through payments.pay, in time order. Returns how many."""
    found = conn.execute(select(t.customers.c.number, t.statements.c.total_fen)
                         .join(t.customers, t.customers.c.id == t.statements.c.customer_id)
                         .join(t.billing_periods,
                               t.billing_periods.c.id == t.statements.c.period_id)
                         .where(t.billing_periods.c.period == period,
                                t.statements.c.state == "issued")
                         .order_by(t.statements.c.number)).all()
    planned = []
    limit = _epoch(last)
    window = max(_epoch(due) - issued_at, 86400)
    for number, total_fen in found:
        roll = rng.random()
        if total_fen <= 0 or (late_payers and roll < 0.03):
            continue
        amount = total_fen if roll >= 0.05 else total_fen // 2
        paid_at = issued_at + 3600 + int(rng.random() * window)
        if paid_at < limit:
            planned.append((paid_at, number, amount,
                            rng.choice(("cash", "cash", "bank", "wechat", "alipay"))))
    for paid_at, number, amount, method in sorted(planned):
        payments.pay(conn, number, amount, paid_at, cashier, method=method)
    return len(planned)


def _year_before(day):
    try:
        return day.replace(year=day.year - 1)
    except ValueError:          # 29 February
        return day.replace(year=day.year - 1, day=28)


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _master_data(conn, rng, count, first, last, now):
    """Areas, terminals, meters, customers, service points, tariffs, settings. Returns the layout
    the frozen values are generated from."""
    terminal_count = math.ceil(count / CUSTOMERS_PER_TERMINAL)
    area_count = math.ceil(terminal_count / TERMINALS_PER_AREA)
    taken = conn.execute(select(func.max(_terminals.c.address)).where(
        _terminals.c.area_code == TERMINAL_A1)).scalar() or 0
    conn.execute(insert(_terminals), [
        {"area_code": TERMINAL_A1, "address": taken + 1 + k, "name": "demo-%04d" % (k + 1),
         "password": "%032x" % rng.getrandbits(128), "created_at": now}
        for k in range(terminal_count)])
    terminal_ids = [row[0] for row in conn.execute(
        select(_terminals.c.id).where(_terminals.c.area_code == TERMINAL_A1,
                                      _terminals.c.address > taken)
        .order_by(_terminals.c.address))]

    start = first.isoformat()
    areas = []
    for a in range(area_count):
        supply_terminal = terminal_ids[a * TERMINALS_PER_AREA]
        areas.append({"code": "TQ%03d" % (a + 1),
                      "name": "%s%d号台区" % (AREA_PLACES[a % len(AREA_PLACES)],
                                            a // len(AREA_PLACES) + 1),
                      "supply_terminal_id": supply_terminal, "supply_pn": SUPPLY_PN,
                      "supply_multiplier": SUPPLY_MULTIPLIER, "created_at": now})
    conn.execute(insert(t.areas), areas)
    area_ids = dict(conn.execute(select(t.areas.c.code, t.areas.c.id)).all())

    tariff_ids = _tariffs(conn, start, now)
    for key, value in SETTINGS.items():
        settings.put(conn, key, value, now)

    # Meters: the supply meter on each area's first terminal, customers on points 2..11.
    meters = []          # dicts: terminal_id, pn, customer index or None, area index
    for a, area in enumerate(areas):
        meters.append({"terminal_id": area["supply_terminal_id"], "pn": SUPPLY_PN,
                       "customer": None, "area": a})
    customer_rows = []
    for c in range(count):
        terminal_id = terminal_ids[c // CUSTOMERS_PER_TERMINAL]
        area = (c // CUSTOMERS_PER_TERMINAL) // TERMINALS_PER_AREA
        commercial = rng.random() < 0.05
        customer_rows.append({
            "number": "C%06d" % (c + 1), "name": _name(rng) + ("商店" if commercial else ""),
            "address": "%s%d号" % (rng.choice(STREETS), rng.randrange(1, 400)),
            "phone": "1%d%09d" % (rng.choice((35, 36, 38, 39, 58, 86)), rng.randrange(10 ** 9)),
            "account": "6228%012d" % rng.randrange(10 ** 12),
            "area_id": area_ids[areas[area]["code"]], "created_at": now})
        meters.append({"terminal_id": terminal_id, "pn": 2 + c % CUSTOMERS_PER_TERMINAL,
                       "customer": c, "area": area, "commercial": commercial,
                       "multiplier": rng.choice((20, 30)) if commercial and rng.random() < 0.3
                       else 1})
    conn.execute(insert(t.customers), customer_rows)
    customer_ids = [row[0] for row in conn.execute(
        select(t.customers.c.id).order_by(t.customers.c.number))][-count:]

    # One meter swap, mid-year on the 15th, for a customer of the first terminal.
    swapped = None
    if count >= 8:
        swap = dict(meters[area_count + 7])
        swap_day = (first + datetime.timedelta(days=182)).replace(day=15)
        meters[area_count + 7]["until"] = swap_day
        swap.update({"pn": SWAP_PN, "since": swap_day, "new_meter": True})
        meters.append(swap)
        swapped = {"customer": customer_rows[7]["number"], "day": swap_day.isoformat(),
                   "old_pn": meters[area_count + 7]["pn"], "new_pn": SWAP_PN}

    conn.execute(insert(_points), [
        {"terminal_id": m["terminal_id"], "pn": m["pn"], "serial_no": m["pn"],
         "meter_address": "%06d%06d" % (m["terminal_id"] % 10 ** 6, m["pn"]), "protocol": 30,
         "port": 2, "baud": 2400, "tariff_count": 4, "integer_digits": REGISTER_WIDTH[0],
         "decimal_digits": REGISTER_WIDTH[1]} for m in meters])
    conn.execute(insert(t.service_points), [
        {"customer_id": customer_ids[m["customer"]], "terminal_id": m["terminal_id"],
         "pn": m["pn"], "multiplier": m["multiplier"],
         "valid_from": m["since"].isoformat() if "since" in m else start,
         "valid_to": m["until"].isoformat() if "until" in m else None}
        for m in meters if m["customer"] is not None])
    conn.execute(insert(t.customer_tariffs), [
        {"customer_id": customer_ids[c], "valid_from": start, "assigned_at": now,
         "tariff_id": tariff_ids["COM" if meters[area_count + c]["commercial"]
                                 else ("RES-TOU" if c % 3 == 0 else "RES")]}
        for c in range(count)])
    return {"areas": areas, "terminals": terminal_ids, "meters": meters, "swapped": swapped}


def _tariffs(conn, start, now):
    ids = {}
    for code, name, kind, flat, fixed, prices in TARIFFS:
        ids[code] = tariffs.add_tariff(conn, code, name, kind, start, now, flat_price_e4=flat,
                                       prices=prices, fixed_monthly_fen=fixed,
                                       tiers=TIERS if code != "COM" else ())
    return ids


def _season(day):
    """Relative consumption on a day of the year: peaks in January and July."""
    return 1.0 + 0.35 * math.cos(4 * math.pi * (day.timetuple().tm_yday - 20) / 365.25)


def _split(rng):
    """A customer's share of each tariff register (sharp, peak, flat, valley), summing to 1."""
    sharp, peak, valley = rng.uniform(0.06, 0.12), rng.uniform(0.22, 0.34), rng.uniform(0.2, 0.35)
    return (sharp, peak, 1.0 - sharp - peak - valley, valley)


def _frozen_values(conn, rng, layout, first, last, now):
    """Generate and bulk-load the year of daily frozen values; returns the row count."""
    days = [first + datetime.timedelta(days=k) for k in range((last - first).days + 1)]
    labels = [d.isoformat() for d in days]
    season = [_season(d) for d in days]
    received = [int(datetime.datetime(d.year, d.month, d.day, 1, 30).timestamp()) for d in days]
    meters = layout["meters"]
    customer_meters = [m for m in meters if m["customer"] is not None]
    # Per-day consumption (e4 kWh x multiplier) of each area's customers, for its supply meter.
    area_days = [[0] * len(days) for _ in layout["areas"]]
    held = {customer_meters[k]["customer"] for k in (3, 5) if k < len(customer_meters)}
    with frozen_load.bulk_load(conn, labels, received, SCALE) as load:
        for m in sorted(customer_meters, key=lambda m: (m["terminal_id"], m["pn"])):
            registers, consumed, since = _meter_year(rng, m, days, season,
                                                     m["customer"] in held)
            _add_into(area_days[m["area"]], since, consumed, m["multiplier"])
            for item, values in zip(ITEMS, registers, strict=True):
                load.series(m["terminal_id"], m["pn"], item, since, values)
        for a, area in enumerate(layout["areas"]):
            loss = rng.uniform(0.02, 0.06)
            step = [int(e4 * (1 + loss + rng.uniform(-0.005, 0.005)) / SUPPLY_MULTIPLIER)
                    for e4 in area_days[a]]
            start = rng.randrange(10 ** 5, 10 ** 6) * 10 ** SCALE
            load.series(area["supply_terminal_id"], SUPPLY_PN, ITEMS[0], 0,
                        list(itertools.accumulate(step[:-1], initial=start)))
    return load.rows


def _meter_year(rng, meter, days, season, held):
    """One customer meter's daily readings: ([energy_fwd_total .. energy_fwd_t4 values from day
    `since` to its last day, None when not read], the e4 kWh consumed each day from `since`,
    since) - the reading of a day is the register at 00:00, before that day's consumption."""
    level = rng.lognormvariate(math.log(6.0), 0.45) * (8 if meter.get("commercial") else 1)
    split = _split(rng)
    kind = rng.random()
    zero = kind < 0.01
    jump_at = rng.randrange(len(days)) if 0.01 <= kind < 0.02 else None
    start = [int(rng.uniform(1000, 30000) * split[r] * 10 ** SCALE) for r in range(4)]
    if meter.get("new_meter"):
        start = [rng.randrange(0, 50000) for _ in range(4)]
    since = days.index(meter["since"]) if "since" in meter else 0
    until = days.index(meter["until"]) if "until" in meter else len(days) - 1
    # Consumption on the days from `since` up to (not including) `until`.
    if zero:
        kwh = [0.0] * (until - since)
    else:
        kwh = [level * season[k] * rng.uniform(0.7, 1.3) for k in range(since, until)]
        if jump_at is not None:
            for k in range(max(jump_at, since), min(jump_at + 10, until)):
                kwh[k - since] *= 5
    used = [[int(x * factor) for x in kwh] for factor in (share * 10 ** SCALE for share in split)]
    registers = [list(itertools.accumulate(u, initial=s)) for u, s in zip(used, start,
                                                                          strict=True)]
    registers.insert(0, [sum(regs) for regs in zip(*registers, strict=True)])
    unread = [k - since for k in range(since, until + 1)
              if _unread(rng, days[k], len(days) - 1 - k, held)]
    for values in registers:
        for i in unread:
            values[i] = None  # pyright: ignore[reportArgumentType, reportCallIssue] - None is a gap in the series
    return registers, [sum(day) for day in zip(*used, strict=True)], since


def _add_into(totals, first, amounts, multiplier):
    for i, amount in enumerate(amounts, first):
        totals[i] += amount * multiplier


def _unread(rng, day, days_left, held):
    """Whether a meter-day is missing: 0.3 % at random but never on the 1st (the reading day),
    except the last reading day of the customers picked to show held statements."""
    if day.day == 1:
        return held and days_left < 28
    return rng.random() < 0.003
