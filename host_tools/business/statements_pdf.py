"""Printable settlement statements and payment receipts as PDF (reportlab), in Chinese.

    sheets = statement_sheets(conn, "2026-11")              # everything a page shows, batched
    write_statements(sheets, "2026-11.pdf")                   # one PDF, a page per customer
    write_statements(sheets, "2026-11.zip")                   # a ZIP of one PDF per customer
    write_statements(sheets, "out/")                          # a folder of them
    pdf = receipt_pdf(conn, "R202611-000001")                 # bytes, for the cashier's printer

A statement page has the utility's header (business_settings), the customer and their meters,
the statement's lines as billing wrote them (register, opening and closing reading, multiplier,
kWh, unit price, amount; tier surcharges; the fixed charge), the total, the opening balance, the
amount due and its due date, the customer's balance now, and a bar chart of the 12 months'
consumption up to the period (from the daily frozen values, so months before billing started
show too). Held statements have no amounts and are not printed; drafts are marked as such.

Chinese text needs a CJK TrueType font: Debian's fonts-wqy-zenhei (installed by `make install`)
is found at run time and embedded as a subset (only the glyphs used), so a page stays small.
"""
import datetime
import io
import os
import zipfile

from reportlab.lib.pagesizes import A4
from sqlalchemy import select

from host_tools.business import billing, settings, stats
from host_tools.station.tables import measuring_points, terminals
from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.money import show_kwh, show_price, show_yuan
from host_tools.business.tables import (areas, customers, payments, service_points,
                                        users)

FONT = "WQYZenHei"
FONT_PATHS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
              "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc")
REGISTER_NAMES = {0: "电度电费", 1: "尖", 2: "峰", 3: "平", 4: "谷"}
STATE_MARKS = {"draft": "草稿（未出账）", "issued": "", "void": "已作废"}
METHODS = {"cash": "现金", "bank": "银行转账", "wechat": "微信", "alipay": "支付宝", "card": "银行卡"}
HISTORY_MONTHS = 12
A4_WIDTH, A4_HEIGHT = A4


class FontMissing(BusinessError):
    """No CJK TrueType font to print Chinese with."""


_registered = []


def cjk_font():
    """Register the CJK font with reportlab once; returns its name. FontMissing says what to
    install when there is none."""
    if _registered:
        return _registered[0]
    path = os.environ.get("CONC_CJK_FONT") or next(
        (p for p in FONT_PATHS if os.path.exists(p)), None)
    if not path or not os.path.exists(path):
        raise FontMissing("no CJK font to print Chinese statements: install Debian's "
                          "fonts-wqy-zenhei (`make install` does) or set CONC_CJK_FONT to a "
                          "TrueType font file (looked for %s)" % ", ".join(FONT_PATHS))
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    _registered.append(FONT)
    return FONT


# --- what a page shows -----------------------------------------------------------------------

def _utility(conn):
    return {key: settings.get(conn, key)
            for key in ("utility_name", "utility_address", "utility_phone")}


def _months_back(period, count):
    year, month = map(int, period.split("-"))
    month -= count - 1
    while month < 1:
        year, month = year - 1, month + 12
    return "%04d-%02d" % (year, month)


def statement_sheets(conn, period, customer=None, area=None):
    """The printable statements of a period (drafts and issued, by customer number) as dicts
    with everything their page shows; (sheets, held numbers)."""
    the_period = billing.get_period(conn, period)
    found = billing.period_statements(conn, period, customer=customer, area=area)
    if customer and not found:
        raise NotFound("customer %s has no statement for %s" % (customer, period))
    printable = [s for s in found if s.state in ("draft", "issued")]
    held = [s.number for s in found if s.state == "held"]
    if not printable:
        return [], held
    ids = [s.customer_id for s in printable]
    people, meters = {}, {}
    for chunk in range(0, len(ids), 5000):
        some = ids[chunk:chunk + 5000]
        for row in conn.execute(
                select(customers, areas.c.code.label("area_code"),
                       areas.c.name.label("area_name"))
                .outerjoin(areas, areas.c.id == customers.c.area_id)
                .where(customers.c.id.in_(some))):
            people[row.id] = row
        for row in conn.execute(
                select(service_points.c.id, service_points.c.customer_id,
                       service_points.c.pn, service_points.c.multiplier,
                       service_points.c.valid_from, service_points.c.valid_to,
                       measuring_points.c.meter_address, terminals.c.name,
                       terminals.c.area_code, terminals.c.address)
                .outerjoin(terminals, terminals.c.id == service_points.c.terminal_id)
                .outerjoin(measuring_points, (measuring_points.c.terminal_id
                                              == service_points.c.terminal_id)
                           & (measuring_points.c.pn == service_points.c.pn))
                .where(service_points.c.customer_id.in_(some))):
            meters[row.id] = row
    balances = billing.balances(conn, ids if len(ids) <= 5000 else None)
    history = {}
    first_month = _months_back(period, HISTORY_MONTHS)
    for row in stats.consumption(conn, first_month, period, stats.MONTH, "customer",
                                 area=area, customer=customer):
        history.setdefault(row["customer"], {})[row["period"]] = row["kwh_e4"]
    months = [_months_back(period, HISTORY_MONTHS - k) for k in range(HISTORY_MONTHS)]
    utility = _utility(conn)
    sheets = []
    for s in printable:
        who = people[s.customer_id]
        used = [meters[line.service_point_id] for line in s.lines
                if line.service_point_id in meters]
        sheets.append({
            "utility": utility, "number": s.number, "state": s.state, "period": period,
            "start_day": the_period.start_day, "end_day": the_period.end_day,
            "due_day": the_period.due_day, "estimated": s.estimated,
            "customer": {"number": who.number, "name": who.name, "address": who.address,
                         "phone": who.phone, "account": who.account,
                         "area": "%s %s" % (who.area_code or "", who.area_name or "")},
            "meters": {m.id: {"address": m.meter_address or "-",
                              "terminal": "%s:%d" % (m.name or "%s-%s" % (m.area_code,
                                                                          m.address), m.pn),
                              "multiplier": m.multiplier, "from": m.valid_from,
                              "to": m.valid_to} for m in used},
            "lines": s.lines, "kwh_e4": s.kwh_e4, "total_fen": s.total_fen,
            "opening_balance_fen": s.opening_balance_fen, "amount_due_fen": s.amount_due_fen,
            "balance_fen": balances.get(s.customer_id, 0),
            "history": [(m, history.get(who.number, {}).get(m)) for m in months]})
    return sheets, held


# --- drawing ---------------------------------------------------------------------------------

def _canvas(out, title):
    from reportlab.pdfgen import canvas
    font = cjk_font()
    c = canvas.Canvas(out, pagesize=A4, pageCompression=1, invariant=1)
    c.setTitle(title)
    c.setAuthor("conc station")
    return c, font


def _line_label(line):
    if line.kind == "energy":
        name = REGISTER_NAMES.get(line.register, "电量")
        return name if line.register == 0 else "%s时段电费" % name
    if line.kind == "tier":
        return "阶梯加价 " + line.description.split("(")[-1].rstrip(")")
    if line.kind == "fixed":
        return "基本电费（月）"
    return line.description


def _text(c, font, size, x, y, text, align="left"):
    """Draw one string; ASCII-only text (numbers, dates, codes) in Helvetica, which needs no
    glyph subsetting, the rest in the CJK font."""
    c.setFont("Helvetica" if text.isascii() else font, size)
    if align == "right":
        c.drawRightString(x, y, text)
    elif align == "center":
        c.drawCentredString(x, y, text)
    else:
        c.drawString(x, y, text)


# The page is a printed form: fixed places for up to MAX_METERS meters and MAX_LINES lines, so
# everything that does not change between customers of one batch (titles, labels, the table
# head, the chart's months, the footer) is drawn once per PDF as a form and placed on each page.
MAX_METERS = 3
MAX_LINES = 14
LEFT, RIGHT = 40, A4_WIDTH - 40
Y_NUMBER = A4_HEIGHT - 90
Y_CUSTOMER = Y_NUMBER - 24
Y_METERS = Y_CUSTOMER - 30
Y_TABLE = Y_METERS - 15 * MAX_METERS - 11
Y_TOTALS = Y_TABLE - 16 * MAX_LINES - 26
Y_CHART = Y_TOTALS - 17 * 3 - 190
CHART_HEIGHT = 160
COLUMNS = [(LEFT, "项目", "left"), (LEFT + 150, "起码", "right"), (LEFT + 215, "止码", "right"),
           (LEFT + 255, "倍率", "right"), (LEFT + 330, "电量 kWh", "right"),
           (LEFT + 410, "单价 元/kWh", "right"), (RIGHT, "金额 元", "right")]
TOTALS = ["本期电量 kWh", "本期电费合计 元", "上期结余 元", "本期应缴金额 元", "缴费截止日期",
          "当前账户余额 元"]


def _totals_place(k):
    x = LEFT if k % 2 == 0 else LEFT + (RIGHT - LEFT) / 2
    return x, x + (RIGHT - LEFT) / 2 - 20, Y_TOTALS - 17 * (k // 2)


def _form(c, font, forms, sheet):
    """The name of the static form for this sheet's utility and months (drawn on first use)."""
    u = sheet["utility"]
    months = tuple(m for m, _ in sheet["history"])
    key = (u["utility_name"], u["utility_address"], u["utility_phone"], months)
    if key in forms:
        return forms[key]
    name = "static%d" % len(forms)
    c.beginForm(name)
    width = A4_WIDTH
    _text(c, font, 17, width / 2, A4_HEIGHT - 50, u["utility_name"] or "供电企业", "center")
    _text(c, font, 13, width / 2, A4_HEIGHT - 72, "电费结算单  Electricity statement", "center")
    _text(c, font, 9, LEFT, Y_NUMBER, "结算单号")
    _text(c, font, 9, RIGHT - 190, Y_NUMBER, "结算期")
    c.line(LEFT, Y_NUMBER - 8, RIGHT, Y_NUMBER - 8)
    for x, y, label in ((LEFT, Y_CUSTOMER, "户号"), (LEFT + 170, Y_CUSTOMER, "户名"),
                        (LEFT + 360, Y_CUSTOMER, "台区"), (LEFT, Y_CUSTOMER - 15, "地址"),
                        (LEFT + 360, Y_CUSTOMER - 15, "电话")):
        _text(c, font, 10, x, y, label)
    c.setFillColorRGB(0.92, 0.92, 0.92)
    c.rect(LEFT, Y_TABLE - 4, RIGHT - LEFT, 16, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    for x, title, align in COLUMNS:
        _text(c, font, 9, x if align == "left" else x - 2, Y_TABLE, title, align)
    c.line(LEFT, Y_TOTALS + 18, RIGHT, Y_TOTALS + 18)
    for k, title in enumerate(TOTALS):
        x, _, y = _totals_place(k)
        _text(c, font, 11 if k == 3 else 10, x, y, title)
    _text(c, font, 10, LEFT, Y_CHART + CHART_HEIGHT + 6, "近 12 个月用电量（kWh）")
    c.setLineWidth(0.5)
    c.line(LEFT, Y_CHART, RIGHT, Y_CHART)
    c.setLineWidth(1)
    slot = (RIGHT - LEFT) / len(months)
    for k, month in enumerate(months):
        _text(c, font, 7, LEFT + k * slot + slot / 2, Y_CHART - 10, "%d月" % int(month[5:]),
              "center")
    c.line(LEFT, 102, RIGHT, 102)
    _text(c, font, 8, LEFT, 90, "余额为负表示欠费。请于缴费截止日期前缴清电费，逾期可能依规停电。"
          "Negative balance: amount owed.")
    contact = "  ".join(p for p in (u["utility_address"], "服务热线 %s" % u["utility_phone"]
                                    if u["utility_phone"] else "") if p)
    if contact:
        _text(c, font, 8, LEFT, 78, contact)
    c.endForm()
    forms[key] = name
    return name


def _draw_statement(c, font, forms, sheet):
    c.doForm(_form(c, font, forms, sheet))
    mark = STATE_MARKS.get(sheet["state"], "")
    if sheet["estimated"]:
        mark = (mark + " 含估算电量").strip()
    if mark:
        c.setFillColorRGB(0.75, 0.1, 0.1)
        _text(c, font, 12, RIGHT, A4_HEIGHT - 72, mark, "right")
        c.setFillColorRGB(0, 0, 0)
    _text(c, font, 9, LEFT + 40, Y_NUMBER, sheet["number"])
    _text(c, font, 9, RIGHT, Y_NUMBER, "%s   %s ~ %s" % (
        sheet["period"], sheet["start_day"], sheet["end_day"]), "right")
    who = sheet["customer"]
    for x, y, value in ((LEFT + 26, Y_CUSTOMER, who["number"]),
                        (LEFT + 196, Y_CUSTOMER, who["name"]),
                        (LEFT + 386, Y_CUSTOMER, who["area"]),
                        (LEFT + 26, Y_CUSTOMER - 15, who["address"]),
                        (LEFT + 386, Y_CUSTOMER - 15, who["phone"])):
        if value:
            _text(c, font, 10, x, y, value)
    for k, meter in enumerate(list(sheet["meters"].values())[:MAX_METERS]):
        served = "%s 起" % meter["from"] + ("，%s 止" % meter["to"] if meter["to"] else "")
        _text(c, font, 10, LEFT, Y_METERS - 15 * k, "电能表  %s    终端 %s    倍率 %d    %s" % (
            meter["address"], meter["terminal"], meter["multiplier"], served))
    y = Y_TABLE
    for line in sheet["lines"]:
        y -= 16
        cells = [_line_label(line),
                 "" if line.opening_e4 is None else show_kwh(line.opening_e4),
                 "" if line.closing_e4 is None else show_kwh(line.closing_e4),
                 "" if line.multiplier is None else str(line.multiplier),
                 "" if line.kwh_e4 is None else show_kwh(line.kwh_e4),
                 "" if line.price_e4 is None else show_price(line.price_e4),
                 show_yuan(line.amount_fen)]
        for (x, _, align), value in zip(COLUMNS, cells, strict=True):
            if value:
                _text(c, font, 9, x if align == "left" else x - 2, y, value, align)
    values = [show_kwh(sheet["kwh_e4"]), show_yuan(sheet["total_fen"]),
              show_yuan(sheet["opening_balance_fen"]), show_yuan(sheet["amount_due_fen"]),
              sheet["due_day"], show_yuan(sheet["balance_fen"])]
    for k, value in enumerate(values):
        _, x, y = _totals_place(k)
        _text(c, font, 11 if k == 3 else 10, x, y, value, "right")
    _draw_history(c, font, sheet["history"])
    c.showPage()


def _draw_history(c, font, history):
    """12 bars of monthly consumption (kWh), the statement's month last and dark."""
    known = [v for _, v in history if v is not None and v > 0]
    top = max(known) if known else 1
    slot = (RIGHT - LEFT) / len(history)
    for k, (_, e4) in enumerate(history):
        middle = LEFT + k * slot + slot / 2
        if e4 is not None and e4 > 0:
            bar = (CHART_HEIGHT - 24) * e4 / top
            shade = 0.25 if k == len(history) - 1 else 0.6
            c.setFillColorRGB(shade, shade, shade + 0.15)
            c.rect(middle - slot * 0.3, Y_CHART, slot * 0.6, bar, stroke=0, fill=1)
            c.setFillColorRGB(0, 0, 0)
            _text(c, font, 7, middle, Y_CHART + bar + 3, show_kwh(e4, 0), "center")
        elif e4 is None:
            _text(c, font, 7, middle, Y_CHART + 3, "无数据", "center")


def statements_pdf(sheets):
    """One PDF (bytes) with a page per statement."""
    out = io.BytesIO()
    c, font = _canvas(out, "电费结算单")
    forms = {}
    for sheet in sheets:
        _draw_statement(c, font, forms, sheet)
    c.save()
    return out.getvalue()


def write_statements(sheets, target):
    """Write statements to `target`: FILE.pdf (one PDF), FILE.zip (a PDF per statement) or a
    folder (a PDF per statement, named by statement number). Returns the paths written."""
    target = str(target)
    if target.lower().endswith(".pdf"):
        with open(target, "wb") as f:
            f.write(statements_pdf(sheets))
        return [target]
    if target.lower().endswith(".zip"):
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
            for sheet in sheets:
                archive.writestr(_file_name(sheet), statements_pdf([sheet]))
        return [target]
    os.makedirs(target, exist_ok=True)
    written = []
    for sheet in sheets:
        path = os.path.join(target, _file_name(sheet))
        with open(path, "wb") as f:
            f.write(statements_pdf([sheet]))
        written.append(path)
    return written


def _file_name(sheet):
    return "%s_%s.pdf" % (sheet["number"], sheet["customer"]["number"])


# --- receipts --------------------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ["", "拾", "佰", "仟"]
_GROUPS = ["", "万", "亿"]


def yuan_in_words(fen):
    """An amount in Chinese capital numerals as on a receipt: 12050 -> 壹佰贰拾元伍角整."""
    if fen < 0:
        return "负" + yuan_in_words(-fen)
    yuan, jiao, cent = fen // 100, fen // 10 % 10, fen % 10
    words = _integer_words(yuan) + "元" if yuan else ""
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan and cent:
        words += "零"
    if cent:
        words += _DIGITS[cent] + "分"
    else:
        words += "整"
    return words if yuan or jiao or cent else "零元整"


def _integer_words(number):
    groups = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    words = ""
    zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero = bool(words)
            continue
        if zero or (words and group < 1000):
            words += "零"
        zero = False
        part, pending = "", False
        for position in range(3, -1, -1):
            digit = group // 10 ** position % 10
            if digit == 0:
                pending = bool(part)
                continue
            if pending:
                part += "零"
                pending = False
            part += _DIGITS[digit] + _UNITS[position]
        words += part + _GROUPS[index]
    return words


def receipt_pdf(conn, receipt_no, zone=datetime.timezone.utc):
    """A payment receipt (bytes of a one-page A5 PDF): the utility, the receipt number, the
    customer, the amount in figures and in words, how and when it was paid, the cashier and
    the balance after it."""
    from reportlab.lib.pagesizes import A5, landscape
    from reportlab.pdfgen import canvas
    row = conn.execute(
        select(payments, customers.c.number, customers.c.name, customers.c.address,
               users.c.name.label("cashier"), users.c.full_name.label("cashier_name"))
        .join(customers, customers.c.id == payments.c.customer_id)
        .join(users, users.c.id == payments.c.user_id)
        .where(payments.c.receipt_no == receipt_no)).first()
    if row is None:
        raise NotFound("no payment with receipt %r" % (receipt_no,))
    font = cjk_font()
    from host_tools.business.tables import ledger
    after = conn.execute(select(ledger.c.amount_fen, ledger.c.payment_id).where(
        ledger.c.customer_id == row.customer_id).order_by(ledger.c.at, ledger.c.id)).all()
    balance = 0
    for amount, payment_id in after:
        balance += amount
        if payment_id == row.id:
            break
    utility = _utility(conn)
    out = io.BytesIO()
    size = landscape(A5)
    c = canvas.Canvas(out, pagesize=size, pageCompression=1, invariant=1)
    c.setTitle("收费收据 %s" % receipt_no)
    width, height = size
    left, right = 40, width - 40
    y = height - 45
    _text(c, font, 15, width / 2, y, utility["utility_name"] or "供电企业", "center")
    y -= 20
    _text(c, font, 12, width / 2, y, "电费收费收据  Payment receipt", "center")
    y -= 20
    _text(c, font, 9, left, y, "收据号 No. %s" % receipt_no)
    paid = datetime.datetime.fromtimestamp(row.paid_at, zone)
    _text(c, font, 9, right, y, "收费时间 %s" % paid.strftime("%Y-%m-%d %H:%M"), "right")
    y -= 8
    c.line(left, y, right, y)
    items = [("户号", row.number), ("户名", row.name), ("地址", row.address),
             ("金额（小写）", "¥ %s 元" % show_yuan(row.amount_fen)),
             ("金额（大写）", "人民币 " + yuan_in_words(row.amount_fen)),
             ("缴费方式", METHODS.get(row.method, row.method)),
             ("缴费后余额", "%s 元" % show_yuan(balance)),
             ("收费员", row.cashier_name or row.cashier)]
    if row.note:
        items.append(("备注", row.note))
    for title, value in items:
        y -= 20
        _text(c, font, 11, left, y, title)
        _text(c, font, 11, left + 110, y, value)
    y -= 30
    _text(c, font, 8, left, y, "本收据由系统生成，请妥善保管。 %s" % (
        "服务热线 %s" % utility["utility_phone"] if utility["utility_phone"] else ""))
    c.showPage()
    c.save()
    return out.getvalue()
