"""The arrears state machine end to end, as a billing office runs it: `conc station` commands
in processes against `conc station serve` and `conc sim terminals` (a concentrator that
carries out AFN05 F1/F2 and reports the relay with ERC 60): bill, open the case, notice,
approve, trip (confirmed by the relay), pay (the close is queued) and the close confirmed."""
import datetime
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from host_tools.business.database import open_business
from host_tools.station.repository import open_station

CONC = [sys.executable, "-m", "host_tools.cli"]
ZONE = "Asia/Shanghai"


def conc(url, *args, user=None, password=None, new_password=None, check=True, timeout=120):
    env = dict(os.environ, CONC_STATION_TZ=ZONE, CONC_STATION_DB=url)
    if user:
        env["CONC_STATION_USER"] = user
        env["CONC_STATION_PASSWORD"] = password or "password of %s" % user
    if new_password:
        env["CONC_STATION_NEW_PASSWORD"] = new_password
    result = subprocess.run(CONC + ["station", *args], capture_output=True, text=True, env=env,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def a_past_period():
    """Two months back: its due day has passed whatever day the test runs."""
    today = datetime.date.today()
    month = today.replace(day=1) - datetime.timedelta(days=40)
    start = month.replace(day=1)
    end = (start + datetime.timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), start.isoformat(), end.isoformat()


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_trip_for_arrears_then_payment_restores_supply(engine_name, tmp_path, request):
    if engine_name == "sqlite":
        url = "sqlite:///%s" % (tmp_path / "station.db")
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database("arrears_e2e")
        request.addfinalizer(lambda: server.drop_database("arrears_e2e"))
    with open_station(url, zone=ZONE) as station:
        station.add_terminals([("4101", 1, "00", "")])
        terminal_id = station.find_terminal("4101", 1).id
        station.set_measuring_points(terminal_id, [{"pn": 1, "meter_address": "000001000001"}])
    conc(url, "users", "add", "admin", "--role", "admin", new_password="password of admin")
    for name, role in (("clerk", "clerk"), ("cashier", "cashier"), ("disp", "dispatcher")):
        conc(url, "users", "add", name, "--role", role, user="admin",
             new_password="password of %s" % name)
    period, start, end = a_past_period()
    # The daily frozen values the front end stores from AFN0D F161 (the simulator's energy
    # counter wraps every 10 kWh, so it cannot stand for a month of consumption).
    engine = open_business(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO daily_frozen (terminal_id, pn, item, day, value, scale, "
                          "received_at) VALUES (:t, 1, 'energy_fwd_total', :d, :v, 4, 0)"),
                     [{"t": terminal_id, "d": start, "v": 10_000_000},
                      {"t": terminal_id, "d": end, "v": 12_000_000}])
    engine.dispose()
    conc(url, "tariffs", "add", "R1", "--name", "Residential", "--kind", "flat", "--price",
         "0.56", "--from", "2020-01-01", user="clerk")
    conc(url, "customers", "add", "C1", "--name", "Wang Fang", user="clerk")
    conc(url, "customers", "attach", "C1", "--meter", "000001000001", "--from", "2020-01-01",
         user="clerk")
    conc(url, "tariffs", "assign", "--customer", "C1", "--tariff", "R1", "--from",
         "2020-01-01", user="clerk")
    billed = json.loads(conc(url, "bill", "--period", period, "--issue", "--json",
                             user="clerk").stdout)
    assert [(s["state"], s["total_yuan"]) for s in billed] == [("issued", "112.00")]  # 200 kWh
    assert "1 cases opened: 1" in conc(url, "arrears", "scan", user="clerk").stdout
    # A viewer-less cashier cannot trip; the dispatcher's trip waits for approval.
    refused = conc(url, "arrears", "approve", "1", user="cashier", check=False)
    assert refused.returncode == 1 and "may not arrears.approve" in refused.stderr
    conc(url, "arrears", "notice", "1", user="clerk")
    conc(url, "arrears", "approve", "1", user="disp")

    env = dict(os.environ, CONC_STATION_TZ=ZONE)
    serve = subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db", url,
                                     "--json", "--stats-every", "0", "--read-every", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sim = None
    try:
        address = json.loads(serve.stdout.readline())["listening"]
        sim = subprocess.Popen(CONC + ["sim", "terminals", "--count", "1", "--connect", address,
                                       "--meters", "2", "--heartbeat-s", "1", "--stats-every",
                                       "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env)
        tripped = conc(url, "arrears", "trip", "1", "--wait", "60", user="disp")
        assert tripped.stdout.splitlines()[-1] == "case 1: tripped"
        paid = conc(url, "pay", "--customer", "C1", "--amount", "112.00", user="cashier")
        assert "balance 0.00 yuan" in paid.stdout and "close of the tripped meter is queued" \
            in paid.stdout
        deadline = time.monotonic() + 60
        while True:
            case = json.loads(conc(url, "arrears", "show", "1", "--json").stdout)
            if case["state"] != "close_sent" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        if sim is not None:
            sim.send_signal(signal.SIGTERM)
            sim.communicate(timeout=30)
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    assert case["state"] == "restored"
    assert [(t["from"], t["to"], t["user"]) for t in case["transitions"]] == [
        (None, "open", "clerk"), ("open", "notice_issued", "clerk"),
        ("notice_issued", "approved", "disp"), ("approved", "trip_sent", "disp"),
        ("trip_sent", "tripped", None), ("tripped", "paid", "cashier"),
        ("paid", "close_sent", "disp"), ("close_sent", "restored", None)]
    commands = json.loads(conc(url, "commands", "--json").stdout)
    assert [(c["kind"], c["state"], c["operator"]) for c in commands] == [
        ("trip", "confirmed", "disp"), ("close", "confirmed", "disp")]
