"""Users (admin): the list, adding a user, setting a user's password (which also unlocks the
account and ends their sessions). Passwords are hashed by host_tools/business/users.py and never
shown; every change is in the audit log."""
import urllib.parse

from sqlalchemy import select
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from host_tools.business import audit
from host_tools.business import users as users_lib
from host_tools.business.tables import ROLES, users
from host_tools.console import auth
from host_tools.console.pages import now, posted, read, respond, wants_json, write


def _list(conn):
    return [{"name": r.name, "full_name": r.full_name, "role": r.role, "active": bool(r.active),
             "failed_logins": r.failed_logins, "locked_until": r.locked_until,
             "created_at": r.created_at, "password_changed_at": r.password_changed_at}
            for r in conn.execute(select(users).order_by(users.c.name))]


@auth.guard("user.manage")
async def user_list(request, user):
    rows = await read(request, _list)
    return respond(request, "users.html", {
        "user": user, "rows": rows, "roles": ROLES, "now": now(request),
        "error": request.query_params.get("error"),
        "done": request.query_params.get("done")}, rows)


def _add(conn, admin, name, password, role, full_name, at):
    if not name or len(name) > 64:
        raise ValueError("a user name is 1 to 64 characters")
    if conn.execute(select(users.c.id).where(users.c.name == name)).first():
        raise ValueError("user %s exists already" % name)
    created = users_lib.add_user(conn, name, password, role, at, full_name)
    audit.record(conn, admin, "user.add", "user:%s" % name, at, role=role)
    return created


def _passwd(conn, admin, name, password, at):
    users_lib.set_password(conn, name, password, at)
    audit.record(conn, admin, "user.passwd", "user:%s" % name, at)


@auth.guard("user.manage")
async def user_action(request, user, form):
    fields = await posted(request, form)
    name = (fields.get("name") or "").strip()
    password = fields.get("password") or ""
    try:
        if request.path_params.get("name"):
            name = request.path_params["name"]
            await write(request, _passwd, user, name, password, now(request))
            done = "password of %s set" % name
        else:
            await write(request, _add, user, name, password, fields.get("role") or "",
                        (fields.get("full_name") or "").strip(), now(request))
            done = "user %s added" % name
    except (ValueError, users_lib.AuthenticationFailed) as exc:
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return RedirectResponse("/users?error=" + urllib.parse.quote(str(exc)), status_code=303)
    if wants_json(request):
        return JSONResponse({"done": done}, status_code=201)
    return RedirectResponse("/users?done=" + urllib.parse.quote(done), status_code=303)


def routes():
    result = []
    for prefix in ("", "/api"):
        result += [Route(prefix + "/users", user_list, methods=["GET"]),
                   Route(prefix + "/users", user_action, methods=["POST"]),
                   Route(prefix + "/users/{name}/password", user_action, methods=["POST"])]
    return result
