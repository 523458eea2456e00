"""The billing office's pages: customers (search, the customer page, trip/close of the
customer's meter), statements and receipts as PDF, payments (cashier), the arrears queue with
its steps (dispatcher), billing runs (preview -> issue, held statements, batch PDF). Every rule
is the business library's: handlers parse, call, and render or redirect."""
import urllib.parse

from sqlalchemy import select
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from host_tools.business import arrears, billing, payments, statements_pdf
from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.money import yuan_to_fen
from host_tools.business.tables import billing_periods, statements
from host_tools.business.users import NotPermitted
from host_tools.console import auth, charts, customer_data, station_data
from host_tools.console.pages import (BadRequest, _queue_relay, handles_bad_input, int_param,
                                      now, posted, read, respond, wants_json, write)


def _refused(request, exc, back):
    """A refused action: 403 for a role, otherwise back to the page with the message."""
    if isinstance(exc, NotPermitted):
        return auth.refuse(request, 403, str(exc))
    if wants_json(request):
        return JSONResponse({"error": str(exc)}, status_code=404 if isinstance(exc, NotFound)
                            else 400)
    return RedirectResponse(back + ("&" if "?" in back else "?") + "error=" +
                            urllib.parse.quote(str(exc)), status_code=303)


def _pdf(data, filename):
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="%s"' % filename})


@auth.guard("read")
async def customer_search(request, user):
    query = request.query_params.get("q") or ""
    rows = await read(request, customer_data.search, query)
    return respond(request, "customers.html", {"user": user, "rows": rows, "q": query}, rows)


@auth.guard("read")
async def customer(request, user):
    number = request.path_params["number"]
    try:
        data = await read(request, customer_data.customer_page, number, now(request),
                          request.app.state.zone)
    except NotFound as exc:
        return auth.refuse(request, 404, str(exc))
    monthly = charts.bar_chart([(m["period"], m["kwh"]) for m in data["monthly"]], "kWh",
                               "Monthly consumption of %s" % number)
    daily = charts.bar_chart([(d["period"], d["kwh"]) for d in data["daily"]], "kWh",
                             "Daily consumption of %s" % number)
    return respond(request, "customer.html", {
        "user": user, "c": data, "monthly_chart": monthly, "daily_chart": daily,
        "error": request.query_params.get("error"), "methods": payments.METHODS}, data)


@auth.guard("relay.control")
@handles_bad_input
async def customer_relay(request, user, form):
    """Trip or close the customer's meter in service (reason and confirmation required)."""
    number = request.path_params["number"]
    fields = await posted(request, form)
    kind, reason = fields.get("kind"), (fields.get("reason") or "").strip()
    back = "/customers/%s" % urllib.parse.quote(number)
    try:
        if not wants_json(request) and fields.get("confirm") != "yes":
            raise BusinessError("confirm the %s in the dialog" % (kind or "command"))
        if not reason:
            raise BusinessError("give the reason for the %s" % (kind or "command"))

        def give(conn, user, number, kind, reason, at):
            terminal_id, pn = customer_data.meter_in_service(conn, number, at,
                                                             request.app.state.zone)
            return _queue_relay(conn, user, kind, terminal_id, pn,
                                "customer %s: %s" % (number, reason), at)
        command_id = await write(request, give, user, number, kind, reason, now(request))
    except (BusinessError, NotPermitted) as exc:
        return _refused(request, exc, back)
    if wants_json(request):
        return JSONResponse({"id": command_id, "state": "pending"}, status_code=201)
    return RedirectResponse("/commands/%d" % command_id, status_code=303)


@auth.guard("payment.record")
async def record_payment(request, user, form):
    number = request.path_params["number"]
    fields = await posted(request, form)
    back = "/customers/%s" % urllib.parse.quote(number)
    try:
        amount = yuan_to_fen(str(fields.get("amount") or ""))
        paid = await write(request, payments.pay, number, amount, now(request), user,
                           fields.get("method") or "cash", fields.get("note") or "")
    except (BusinessError, NotPermitted) as exc:
        return _refused(request, exc, back)
    if wants_json(request):
        return JSONResponse(paid._asdict(), status_code=201)
    return RedirectResponse(back + "?receipt=" + paid.receipt_no, status_code=303)


@auth.guard("read")
async def receipt(request, user):
    receipt_no = request.path_params["receipt_no"]
    try:
        data = await read(request, statements_pdf.receipt_pdf, receipt_no,
                          request.app.state.zone)
    except NotFound as exc:
        return auth.refuse(request, 404, str(exc))
    return _pdf(data, "receipt-%s.pdf" % receipt_no)


@auth.guard("read")
async def statement_pdf(request, user):
    """One statement, or with ?period=P and no number the period's batch (one PDF)."""
    number = request.path_params["number"]

    def build(conn):
        found = billing.statement(conn, number)
        period = conn.execute(select(billing_periods.c.period).join(
            statements, statements.c.period_id == billing_periods.c.id).where(
            statements.c.id == found.id)).scalar()
        sheets, held = statements_pdf.statement_sheets(conn, period,
                                                       customer=found.customer_number)
        sheets = [s for s in sheets if s["number"] == number]
        if not sheets:
            raise BusinessError("statement %s is %s: nothing to print" % (number, found.state))
        return statements_pdf.statements_pdf(sheets)
    try:
        data = await read(request, build)
    except NotFound as exc:
        return auth.refuse(request, 404, str(exc))
    except BusinessError as exc:
        return auth.refuse(request, 400, str(exc))
    return _pdf(data, "statement-%s.pdf" % number)


@auth.guard("read")
async def period_pdf(request, user):
    period = request.path_params["period"]
    area = request.query_params.get("area") or None

    def build(conn):
        sheets, held = statements_pdf.statement_sheets(conn, period, area=area)
        if not sheets:
            raise BusinessError("period %s has no statement to print%s" % (
                period, " (%d held)" % len(held) if held else ""))
        return statements_pdf.statements_pdf(sheets)
    try:
        data = await read(request, build)
    except BusinessError as exc:
        return auth.refuse(request, 404 if isinstance(exc, NotFound) else 400, str(exc))
    return _pdf(data, "statements-%s%s.pdf" % (period, "-" + area if area else ""))


def _run_view(result):
    counts = {}
    for s in result.statements:
        counts[s.state] = counts.get(s.state, 0) + 1
    return {"period": result.period.period, "start_day": result.period.start_day,
            "end_day": result.period.end_day, "due_day": result.period.due_day,
            "created": result.created, "updated": result.updated,
            "unchanged": result.unchanged, "states": counts,
            "total_fen": sum(s.total_fen for s in result.statements if s.state != "held"),
            "held": [{"number": s.number, "customer": s.customer_number,
                      "reason": s.hold_reason} for s in result.statements
                     if s.state == "held"],
            "statements": [{"number": s.number, "customer": s.customer_number,
                            "state": s.state, "kwh_e4": s.kwh_e4, "total_fen": s.total_fen}
                           for s in result.statements[:200]]}


@auth.guard("read")
@handles_bad_input
async def billing_page(request, user):
    """A period's statements as they stand (a dry run changes nothing)."""
    period = request.query_params.get("period") or None
    data = None
    if period:
        try:
            result = await read(request, billing.run, period, now(request), user=user,
                                area=request.query_params.get("area") or None, dry_run=True)
        except BusinessError as exc:
            raise BadRequest(str(exc)) from None
        data = _run_view(result)
    return respond(request, "billing.html", {
        "user": user, "period": period or "", "run": data,
        "error": request.query_params.get("error"),
        "done": request.query_params.get("done")}, data)


@auth.guard("billing.run")
async def billing_action(request, user, form):
    """step=run: bill the period (drafts and held statements); step=issue: issue its drafts."""
    fields = await posted(request, form)
    period = (fields.get("period") or "").strip()
    step = fields.get("step")
    back = "/billing?period=%s" % urllib.parse.quote(period)
    try:
        if step == "run":
            result = await write(request, billing.run, period, now(request), user=user,
                                 estimate=fields.get("estimate") == "yes")
            done = "billed: %d created, %d updated, %d unchanged" % (
                result.created, result.updated, result.unchanged)
        elif step == "issue":
            count = await write(request, billing.issue, period, now(request), user)
            done = "%d statements issued" % count
        else:
            raise BusinessError("step is run or issue")
    except (BusinessError, NotPermitted) as exc:
        return _refused(request, exc, back)
    if wants_json(request):
        return JSONResponse({"done": done})
    return RedirectResponse(back + "&done=" + urllib.parse.quote(done), status_code=303)


@auth.guard("read")
async def arrears_queue(request, user):
    state = request.query_params.get("state") or None
    rows = await read(request, arrears.cases, state=state)
    data = [c._asdict() for c in rows]
    return respond(request, "arrears.html", {
        "user": user, "rows": data, "state": state or "",
        "error": request.query_params.get("error"), "states": arrears.ACTIVE}, data)


ARREARS_STEPS = {"notice": "arrears.notice", "approve": "arrears.approve",
                 "trip": "relay.control", "close": "relay.control", "cancel": "read"}


@auth.guard("read")
@handles_bad_input
async def arrears_step(request, user, form):
    """notice / approve / trip / close / cancel a case; the library checks the role."""
    case_id = int_param(request, "case_id", request.path_params)
    step = request.path_params["step"]
    fields = await posted(request, form)
    note = (fields.get("note") or "").strip()
    back = "/arrears"
    zone = request.app.state.zone
    try:
        if step not in ARREARS_STEPS:
            raise BusinessError("an arrears step is one of %s" % ", ".join(ARREARS_STEPS))
        if step in ("trip", "close") and not wants_json(request) and \
                fields.get("confirm") != "yes":
            raise BusinessError("confirm the %s in the dialog" % step)
        at = now(request)
        if step == "trip":
            result = await write(request, arrears.trip, case_id,
                                 station_data.day_of(at, zone), at, user, note)
        elif step == "cancel":
            result = await write(request, arrears.cancel, case_id, at, user, note)
        else:
            result = await write(request, getattr(arrears, step), case_id, at, user, note)
    except (BusinessError, NotPermitted) as exc:
        return _refused(request, exc, back)
    if wants_json(request):
        return JSONResponse({"case": case_id, "step": step,
                             "command_id": result if isinstance(result, int) else None})
    if step in ("trip", "close") and isinstance(result, int):
        return RedirectResponse("/commands/%d" % result, status_code=303)
    return RedirectResponse(back, status_code=303)


def routes():
    result = []
    for prefix in ("", "/api"):
        result += [
            Route(prefix + "/customers", customer_search, methods=["GET"]),
            Route(prefix + "/customers/{number}", customer, methods=["GET"]),
            Route(prefix + "/customers/{number}/relay", customer_relay, methods=["POST"]),
            Route(prefix + "/customers/{number}/payments", record_payment, methods=["POST"]),
            Route(prefix + "/billing", billing_page, methods=["GET"]),
            Route(prefix + "/billing", billing_action, methods=["POST"]),
            Route(prefix + "/arrears", arrears_queue, methods=["GET"]),
            Route(prefix + "/arrears/{case_id:int}/{step}", arrears_step, methods=["POST"]),
        ]
    result += [
        Route("/receipts/{receipt_no}.pdf", receipt, methods=["GET"]),
        Route("/statements/{number}.pdf", statement_pdf, methods=["GET"]),
        Route("/billing/{period}/statements.pdf", period_pdf, methods=["GET"]),
    ]
    return result
