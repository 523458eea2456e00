"""The alarm console: the list, acknowledge with a note, the live stream (Server-Sent Events) and
the rules an admin edits. Alarms are raised by live.AlarmWatcher, the rules live in
host_tools/business/alarms.py; nothing here decides what is an alarm."""
import asyncio
import json

from sqlalchemy import func, select
from starlette.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.routing import Route

from host_tools.business import alarms as alarms_lib
from host_tools.business.tables import ALARM_STATES, SEVERITIES, alarms
from host_tools.business.users import NotPermitted
from host_tools.console import auth
from host_tools.console.pages import (BadRequest, handles_bad_input, int_param, now, posted,
                                      read, respond, wants_json, write)

STREAM_CHECK_S = 2.0        # a stream looks at the table at least this often (other processes)
KEEPALIVE_S = 15.0
DEFAULT_STATES = ("active", "acknowledged")


def _states(request):
    text = request.query_params.get("state")
    if text is None:
        return DEFAULT_STATES
    states = tuple(s for s in text.split(",") if s and s != "all")
    bad = [s for s in states if s not in ALARM_STATES]
    if bad:
        raise BadRequest("state is a comma-separated list of %s (or all)" % ", ".join(ALARM_STATES))
    return states


def _severity(request):
    severity = request.query_params.get("severity") or None
    if severity is not None and severity not in SEVERITIES:
        raise BadRequest("severity is one of %s" % ", ".join(SEVERITIES))
    return severity


def render_row(request, user, alarm):
    template = request.app.state.templates.env.get_template("_alarm_row.html")
    return template.render(request=request, user=user, a=alarm)


@auth.guard("read")
@handles_bad_input
async def alarm_list(request, user):
    states, severity = _states(request), _severity(request)
    limit = min(int_param(request, "limit", minimum=1) or 200, 2000)
    rows = await read(request, alarms_lib.listing, states=states, severity=severity, limit=limit)
    if request.query_params.get("partial") == "rows":
        from starlette.responses import HTMLResponse
        return HTMLResponse("".join(render_row(request, user, a) for a in rows))
    latest = await read(request, alarms_lib.latest_id)
    return respond(request, "alarms.html", {
        "user": user, "rows": rows, "state": ",".join(states) or "all",
        "severity": severity or "", "latest": latest, "severities": SEVERITIES}, rows)


@auth.guard("alarm.ack")
@handles_bad_input
async def acknowledge(request, user, form):
    alarm_id = int_param(request, "alarm_id", request.path_params)
    note = (await posted(request, form)).get("note")
    try:
        await write(request, alarms_lib.acknowledge, user, alarm_id, note, now(request))
    except NotPermitted as exc:
        return auth.refuse(request, 403, str(exc))
    except alarms_lib.AlarmError as exc:
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return auth.refuse(request, 400, str(exc))
    request.app.state.watcher.poke()
    alarm = await read(request, alarms_lib.get, alarm_id)
    if wants_json(request):
        return JSONResponse(dict(alarm, html=render_row(request, user, alarm)))
    return RedirectResponse("/alarms", status_code=303)


def _signature(conn):
    """What changes when alarms are raised, acknowledged or cleared."""
    return list(conn.execute(select(
        func.coalesce(func.max(alarms.c.id), 0), func.count(alarms.c.acknowledged_at),
        func.count(alarms.c.cleared_at))).one())


@auth.guard("read")
async def stream(request, user):
    """Server-Sent Events: `alarm` (a new alarm: id, severity, state, title and its table row),
    `changed` (something was acknowledged or cleared: reload the list), `summary` (open alarms
    per severity, [active, acknowledged], at the start and on every change) and comments to
    keep the connection open. ?after=ID starts after that alarm (what the page shows); without
    it the stream starts with the alarms raised from now on."""
    try:
        after = int(request.query_params["after"]) if request.query_params.get("after") \
            else None
    except ValueError:
        return auth.refuse(request, 400, "after must be an alarm id")
    watcher = request.app.state.watcher

    async def messages():
        nonlocal after
        if after is None:
            after = await read(request, alarms_lib.latest_id)
        signature = None
        idle = 0.0
        while True:
            version = watcher.version
            new = await read(request, alarms_lib.listing, after_id=after, limit=100)
            current = await read(request, _signature)
            for alarm in reversed(new):
                after = max(after, alarm["id"])
                payload = {"id": alarm["id"], "severity": alarm["severity"],
                           "state": alarm["state"], "title": alarm["title"],
                           "html": render_row(request, user, alarm)}
                yield "event: alarm\ndata: %s\n\n" % json.dumps(payload)
            if signature is not None and current[1:] != signature[1:]:
                yield "event: changed\ndata: %s\n\n" % json.dumps(current)
            if current != signature:
                counts = await read(request, alarms_lib.open_counts)
                yield "event: summary\ndata: %s\n\n" % json.dumps(counts)
                idle = 0.0
            signature = current
            started = asyncio.get_running_loop().time()
            await watcher.wait(version, STREAM_CHECK_S)
            idle += asyncio.get_running_loop().time() - started
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(messages(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@auth.guard("read")
async def rule_list(request, user):
    data = await read(request, alarms_lib.rules)
    return respond(request, "rules.html", {"user": user, "rules": data,
                                           "severities": SEVERITIES,
                                           "error": request.query_params.get("error")}, data)


@auth.guard("alarm.rules")
@handles_bad_input
async def rule_update(request, user, form):
    kind = request.path_params["kind"]
    if wants_json(request):
        body = await posted(request, form)
        enabled, severity, parameters = body.get("enabled", True), body.get("severity"), \
            body.get("parameters") or {}
    else:
        enabled = form.get("enabled") == "on"
        severity = form.get("severity")
        parameters = {key[6:]: value for key, value in form.items() if key.startswith("param.")}
    try:
        await write(request, alarms_lib.update_rule, user, kind, enabled, severity, parameters,
                    now(request))
    except NotPermitted as exc:
        return auth.refuse(request, 403, str(exc))
    except alarms_lib.AlarmError as exc:
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=400)
        import urllib.parse
        return RedirectResponse("/alarms/rules?error=" + urllib.parse.quote(str(exc)),
                                status_code=303)
    if wants_json(request):
        return JSONResponse((await read(request, alarms_lib.rules))[kind])
    return RedirectResponse("/alarms/rules", status_code=303)


def routes():
    result = []
    for prefix in ("", "/api"):
        result += [
            Route(prefix + "/alarms", alarm_list, methods=["GET"]),
            Route(prefix + "/alarms/{alarm_id:int}/ack", acknowledge, methods=["POST"]),
            Route(prefix + "/alarms/rules", rule_list, methods=["GET"]),
            Route(prefix + "/alarms/rules/{kind}", rule_update, methods=["POST"]),
        ]
    result.append(Route("/api/alarms/stream", stream, methods=["GET"]))
    return result
