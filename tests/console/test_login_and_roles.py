"""Logging in with the station's users, what each role may see and do, CSRF refusal, audit."""
import re

from sqlalchemy import select

from host_tools.business.tables import alarms, audit_log, users
from tests.console.support import PASSWORD, ROLES, login


def audit_actions(engine):
    with engine.connect() as conn:
        return [(r.action, r.user_id) for r in conn.execute(select(audit_log).order_by(
            audit_log.c.id))]


def test_every_role_logs_in_and_only_the_admin_sees_the_audit_log(console, new_browser,
                                                                  engine):
    context = new_browser()
    for role in ROLES:
        page = context.new_page()
        login(page, console.url, role)
        assert page.url == console.url + "/"
        assert page.locator("header .who").inner_text().startswith("%s (%s)" % (role, role))
        assert page.locator("h1").first.inner_text().startswith("Dashboard")
        response = page.goto(console.url + "/audit")
        if role == "admin":
            assert response.status == 200
            assert "console.login" in page.locator("table").inner_text()
        else:
            assert response.status == 403
            assert "your role (%s) may not view the audit log" % role in page.content()
        api = page.request.get(console.url + "/api/audit")
        assert api.status == (200 if role == "admin" else 403)
        page.goto(console.url + "/")
        page.click("text=Log out")
        page.wait_for_url(re.compile(r".*/login$"))
        assert page.goto(console.url + "/api/dashboard").status == 401
        page.close()
    with engine.connect() as conn:
        ids = {r.name: r.id for r in conn.execute(select(users))}
    actions = audit_actions(engine)
    for role in ROLES:
        assert ("console.login", ids[role]) in actions
        assert ("console.logout", ids[role]) in actions


def test_logout_ends_copies_of_the_session_cookie_too(console, new_browser):
    context = new_browser()
    page = context.new_page()
    login(page, console.url, "cashier")
    copied = new_browser()                       # someone who copied the cookie meanwhile
    copied.add_cookies(context.cookies())
    assert copied.request.get(console.url + "/api/dashboard").status == 200
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/login$"))
    assert copied.request.get(console.url + "/api/dashboard").status == 401
    login(page, console.url, "cashier")          # a new login works at once
    assert page.request.get(console.url + "/api/dashboard").status == 200


def test_wrong_password_is_refused_recorded_and_locks_the_account(console, new_browser,
                                                                   engine):
    page = new_browser().new_page()
    for _ in range(5):
        login(page, console.url, "clerk", "not the password")
        assert "wrong name or password" in page.locator(".error").inner_text()
    login(page, console.url, "clerk", PASSWORD)          # right, but locked now
    assert "/login" in page.url and page.locator(".error").count() == 1
    actions = [a for a, _ in audit_actions(engine)]
    assert actions.count("console.login_failed") == 6 and "console.login" not in actions
    assert PASSWORD not in page.content()


def test_a_page_asks_for_a_login_and_returns_to_it(console, new_browser):
    page = new_browser().new_page()
    page.goto(console.url + "/events?erc=14")
    assert "/login?next=" in page.url
    page.fill("input[name=name]", "viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/events?erc=14")


def test_a_post_without_the_csrf_token_is_refused(console, new_browser, engine):
    with engine.begin() as conn:
        alarm_id = conn.execute(alarms.insert().values(
            kind="erc14", severity="critical", state="active", condition_key="test",
            title="test alarm", raised_at=1)).inserted_primary_key[0]
    page = new_browser().new_page()
    login(page, console.url, "dispatcher")
    url = console.url + "/alarms/%d/ack" % alarm_id
    # The browser's session cookie is sent (SameSite allows a same-site request), but no token:
    refused = page.request.post(url, form={"note": "forged"})
    assert refused.status == 403 and "security token" in refused.text()
    wrong = page.request.post(url, form={"note": "forged", "csrf": "x" * 43})
    assert wrong.status == 403
    api = page.request.post(console.url + "/api/alarms/%d/ack" % alarm_id,
                            data={"note": "forged"})
    assert api.status == 403
    with engine.connect() as conn:
        assert conn.execute(select(alarms.c.state)).scalar() == "active"
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    done = page.request.post(console.url + "/api/alarms/%d/ack" % alarm_id,
                             data={"note": "seen"}, headers={"X-CSRF-Token": token})
    assert done.status == 200 and done.json()["state"] == "acknowledged"


def test_only_dispatchers_and_admins_acknowledge(console, new_browser, engine):
    for role in ROLES:
        allowed = role in ("dispatcher", "admin")
        with engine.begin() as conn:
            alarm_id = conn.execute(alarms.insert().values(
                kind="erc31", severity="major", state="active", condition_key="t%s" % role,
                title="read failure", raised_at=1)).inserted_primary_key[0]
        page = new_browser().new_page()
        login(page, console.url, role)
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        page.goto(console.url + "/alarms")
        assert page.locator("#alarm-%d .ack-form" % alarm_id).count() == (1 if allowed else 0)
        answer = page.request.post(console.url + "/api/alarms/%d/ack" % alarm_id,
                                   data={"note": "checked"}, headers={"X-CSRF-Token": token})
        assert answer.status == (200 if allowed else 403), role
        if not allowed:
            assert "may not acknowledge alarms" in answer.json()["error"]


def test_session_cookie_is_httponly_and_samesite_strict(console, new_browser):
    context = new_browser()
    login(context.new_page(), console.url, "viewer")
    cookie, = [c for c in context.cookies() if c["name"] == "conc_console"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"


def test_an_admin_adds_a_user_who_then_logs_in_and_others_may_not(console, new_browser,
                                                                  engine):
    admin = new_browser().new_page()
    login(admin, console.url, "admin")
    admin.goto(console.url + "/users")
    admin.fill("form.filters input[name=name]", "wang")
    admin.fill("form.filters input[name=full_name]", "Wang Fang")
    admin.select_option("form.filters select[name=role]", "cashier")
    admin.fill("form.filters input[name=password]", "short")
    admin.evaluate("document.querySelector('form.filters input[name=password]')"
                   ".removeAttribute('minlength')")
    admin.click("form.filters button[type=submit]")
    assert "at least 8 characters" in admin.locator(".error").inner_text()
    admin.fill("form.filters input[name=name]", "wang")
    admin.select_option("form.filters select[name=role]", "cashier")
    admin.fill("form.filters input[name=password]", "a long enough one")
    admin.click("form.filters button[type=submit]")
    assert admin.locator(".done").inner_text() == "user wang added"
    assert "a long enough one" not in admin.content()
    page = new_browser().new_page()
    login(page, console.url, "wang", "a long enough one")
    assert page.locator("header .who").inner_text().startswith("wang (cashier)")
    assert page.goto(console.url + "/users").status == 403
    with engine.connect() as conn:
        assert conn.execute(select(audit_log.c.action).where(
            audit_log.c.subject == "user:wang").order_by(audit_log.c.id)).scalars().all() \
            == ["user.add", "console.login"]


def test_every_route_but_login_and_assets_checks_a_permission(console):
    from starlette.routing import Route
    open_paths = {"/login", "/sounds/{severity}.wav"}
    for route in console.app.routes:
        if isinstance(route, Route) and route.path not in open_paths:
            assert getattr(route.endpoint, "permission", None), route.path


def test_only_an_admin_changes_an_alarm_rule_and_bad_thresholds_are_refused(console,
                                                                            new_browser):
    for role in ("dispatcher", "admin"):
        page = new_browser().new_page()
        login(page, console.url, role)
        page.goto(console.url + "/alarms/rules")
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        answer = page.request.post(
            console.url + "/api/alarms/rules/terminal_offline", headers={"X-CSRF-Token": token},
            data={"enabled": True, "severity": "critical", "parameters": {"minutes": 5}})
        if role == "dispatcher":
            assert answer.status == 403 and page.locator("form.rule-form").count() == 0
            continue
        assert answer.status == 200 and answer.json()["parameters"] == {"minutes": 5}
        bad = page.request.post(
            console.url + "/api/alarms/rules/terminal_offline", headers={"X-CSRF-Token": token},
            data={"enabled": True, "severity": "critical", "parameters": {"minutes": -1}})
        assert bad.status == 400 and "must be above 0" in bad.json()["error"]
        page.reload()
        form = page.locator("#rule-terminal_offline form")
        assert form.locator("input[name='param.minutes']").input_value() == "5"
        form.locator("input[name='param.minutes']").fill("45")
        form.locator("button").click()
        page.wait_for_load_state("domcontentloaded")
        assert page.locator("#rule-terminal_offline input[name='param.minutes']").input_value() \
            == "45"
