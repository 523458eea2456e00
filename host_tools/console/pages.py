"""The console's pages on the collection tables - dashboard, terminals, meters (with trip and
close), events, commands - each with its JSON twin under /api/. Handlers only parse the request,
call station_data / the business library, and render; every one is wrapped by auth.guard."""
import asyncio
import time

from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from host_tools.business import relay
from host_tools.business.errors import BusinessError
from host_tools.business.users import NotPermitted
from host_tools.console import auth, charts, station_data
from host_tools.console.db import reading, writing


class BadRequest(ValueError):
    pass


def respond(request, template, context, data):
    """The page, or for /api/ paths the data as JSON."""
    if auth.is_api(request):
        return JSONResponse(data)
    return request.app.state.templates.TemplateResponse(request, template, context)


def bad_request(request, message, status=400):
    return auth.refuse(request, status, message)


def int_param(request, name, source=None, minimum=None):
    value = (source if source is not None else request.query_params).get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest("%s must be a whole number, not %r" % (name, value)) from None
    if minimum is not None and number < minimum:
        raise BadRequest("%s must be at least %d" % (name, minimum))
    return number


async def read(request, function, *args, **kwargs):
    """Run a read-only query function(conn, ...) in a thread."""
    engine = request.app.state.engine

    def run():
        with reading(engine) as conn:
            return function(conn, *args, **kwargs)
    return await asyncio.to_thread(run)


async def write(request, function, *args, **kwargs):
    """Run function(conn, ...) in a write transaction (db.writing) in a thread."""
    engine = request.app.state.engine

    def run():
        with writing(engine) as conn:
            return function(conn, *args, **kwargs)
    return await asyncio.to_thread(run)


async def posted(request, form):
    """The fields of a POST: its JSON object (API calls, the page's fetch) or its form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data
    return form


def wants_json(request):
    """An API call or the page's own fetch(): answer with JSON, not a redirect."""
    return auth.is_api(request) or bool(request.headers.get(auth.CSRF_HEADER))


def now(request):
    return int(request.app.state.clock())


def handles_bad_input(endpoint):
    import functools

    @functools.wraps(endpoint)
    async def wrapped(request, *args):
        try:
            return await endpoint(request, *args)
        except BadRequest as exc:
            return bad_request(request, str(exc))
    return wrapped


# The dashboard's whole-day figures (consumption, line loss: station_data.daily_figures) are
# computed at most this often per console process: they change when a day's frozen values come
# in, and at 10,000 customers they take most of the dashboard's time (docs/console.md).
DAY_FIGURES_TTL_S = 300


@auth.guard("read")
async def dashboard(request, user):
    at, zone = now(request), request.app.state.zone
    today = station_data.day_of(at, zone)
    cache = request.app.state.day_figures
    cached = cache.get(today)
    if cached is None or cached[0] < time.monotonic():
        figures = await read(request, station_data.daily_figures, today)
        cache.clear()
        cache[today] = (time.monotonic() + DAY_FIGURES_TTL_S, figures)
    data = await read(request, station_data.dashboard, at, zone, day_figures=cache[today][1])
    return respond(request, "dashboard.html", {"user": user, "d": data}, data)


@auth.guard("read")
@handles_bad_input
async def terminals(request, user):
    search = request.query_params.get("q") or None
    state = request.query_params.get("state") or None
    if state not in (None, "online", "silent", "offline"):
        raise BadRequest("state is online, silent or offline")
    rows = await read(request, station_data.terminals, now(request), request.app.state.zone,
                      search=search, state=state)
    return respond(request, "terminals.html", {"user": user, "rows": rows, "q": search or "",
                                               "state": state or ""}, rows)


@auth.guard("read")
@handles_bad_input
async def meters(request, user):
    search = request.query_params.get("q") or None
    terminal_id = int_param(request, "terminal")
    rows = await read(request, station_data.meters, search=search, terminal_id=terminal_id)
    return respond(request, "meters.html", {"user": user, "rows": rows, "q": search or ""}, rows)


@auth.guard("read")
@handles_bad_input
async def meter(request, user):
    terminal_id = int_param(request, "terminal_id", request.path_params)
    pn = int_param(request, "pn", request.path_params)
    data = await read(request, station_data.meter, terminal_id, pn, now(request),
                      request.app.state.zone)
    if data is None:
        return bad_request(request, "no measuring point %s on terminal #%s" % (pn, terminal_id),
                           404)
    chart = charts.bar_chart([(d["day"], d["kwh"]) for d in data["daily"]], "kWh",
                             "Daily consumption of %s:%d" % (data["terminal"], pn))
    return respond(request, "meter.html", {"user": user, "m": data, "chart": chart,
                                           "error": request.query_params.get("error")}, data)


@auth.guard("relay.control")
@handles_bad_input
async def give_relay_command(request, user, form):
    """Trip or close a meter (a reason and, from the page, the confirmation are required)."""
    terminal_id = int_param(request, "terminal_id", request.path_params)
    pn = int_param(request, "pn", request.path_params)
    fields = await posted(request, form)
    kind, reason = fields.get("kind"), fields.get("reason")
    # The page's form needs its confirmation dialog; an API caller confirms by calling.
    confirmed = wants_json(request) or fields.get("confirm") == "yes"
    try:
        if not confirmed:
            raise BusinessError("confirm the %s in the dialog" % (kind or "command"))
        if not (reason or "").strip():
            # The console asks every relay command for its reason (issue 14): it is kept
            # with the command and in the audit log.
            raise BusinessError("give the reason for the %s" % (kind or "command"))
        command_id = await write(request, _queue_relay, user, kind, terminal_id, pn,
                                 reason.strip(), now(request))  # pyright: ignore[reportOptionalMemberAccess] - the form was validated
    except NotPermitted as exc:
        return auth.refuse(request, 403, str(exc))
    except BusinessError as exc:
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=400)
        import urllib.parse
        return RedirectResponse("/meters/%d/%d?error=%s" % (
            terminal_id, pn, urllib.parse.quote(str(exc))), status_code=303)
    if wants_json(request):
        return JSONResponse({"id": command_id, "state": "pending"}, status_code=201)
    return RedirectResponse("/commands/%d" % command_id, status_code=303)


def _queue_relay(conn, user, kind, terminal_id, pn, reason, now_s):
    """relay.queue, refusing a second command while one for the meter is unfinished."""
    busy = station_data.unfinished_relay_command(conn, terminal_id, pn)
    if busy is not None:
        raise BusinessError("command #%d for this meter is still in progress: wait for it to "
                            "finish" % busy)
    if station_data.meter_exists(conn, terminal_id, pn) is False:
        raise BusinessError("no measuring point %s on terminal #%s" % (pn, terminal_id))
    return relay.queue(conn, terminal_id, pn, kind, user, now_s, reason=reason)


@auth.guard("read")
@handles_bad_input
async def events(request, user):
    terminal_id = int_param(request, "terminal")
    erc = int_param(request, "erc", minimum=0)
    limit = min(int_param(request, "limit", minimum=1) or 200, 2000)
    rows = await read(request, station_data.events, terminal_id=terminal_id, erc=erc,
                      limit=limit)
    return respond(request, "events.html", {"user": user, "rows": rows,
                                            "erc": "" if erc is None else erc}, rows)


@auth.guard("read")
@handles_bad_input
async def commands(request, user):
    state = request.query_params.get("state") or None
    terminal_id = int_param(request, "terminal")
    rows = await read(request, station_data.commands, terminal_id=terminal_id, state=state)
    return respond(request, "commands.html", {"user": user, "rows": rows,
                                              "state": state or ""}, rows)


@auth.guard("read")
@handles_bad_input
async def command(request, user):
    command_id = int_param(request, "command_id", request.path_params)
    data = await read(request, station_data.command, command_id)
    if data is None:
        return bad_request(request, "no command #%s" % command_id, 404)
    return respond(request, "command.html", {"user": user, "c": data}, data)


@auth.guard("audit.read")
@handles_bad_input
async def audit_log(request, user):
    action = request.query_params.get("action") or None
    limit = min(int_param(request, "limit", minimum=1) or 200, 5000)
    rows = await read(request, station_data.audit_entries, action=action, limit=limit)
    return respond(request, "audit.html", {"user": user, "rows": rows, "action": action or ""},
                   rows)


def routes():
    result = []
    for path, endpoint in (("/", dashboard), ("/terminals", terminals), ("/meters", meters),
                           ("/meters/{terminal_id:int}/{pn:int}", meter), ("/events", events),
                           ("/commands", commands), ("/commands/{command_id:int}", command),
                           ("/audit", audit_log)):
        result.append(Route(path, endpoint, methods=["GET"]))
        result.append(Route("/api" + ("/dashboard" if path == "/" else path), endpoint,
                            methods=["GET"]))
    for prefix in ("", "/api"):
        result.append(Route(prefix + "/meters/{terminal_id:int}/{pn:int}/relay",
                            give_relay_command, methods=["POST"]))
    return result
