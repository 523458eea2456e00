"""The business commands as a user meets them: clear one-line errors with the README's exit
codes, nothing half-done, passwords never printed, --json and --csv for scripts."""
import json

import pytest
from click.testing import CliRunner

from host_tools.cli import conc
from host_tools.commands.station._business import ENV_PASSWORD

PASSWORDS = {"admin": "admin password", "clerk": "clerk password", "viewer": "viewer password"}


@pytest.fixture
def station(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "station.db")

    def run(*args, user=None, password=None, new_password=None, input=None):
        env = {"CONC_STATION_DB": url, "CONC_STATION_TZ": "Asia/Shanghai"}
        if user:
            env[ENV_PASSWORD] = password or PASSWORDS[user]
            args = args + ("--user", user)
        if new_password:
            env["CONC_STATION_NEW_PASSWORD"] = new_password
        return CliRunner().invoke(conc, ["station", *args], env=env, input=input)
    assert run("users", "add", "admin", "--role", "admin",
               new_password=PASSWORDS["admin"]).exit_code == 0
    for name in ("clerk", "viewer"):
        assert run("users", "add", name, "--role", name, user="admin",
                   new_password=PASSWORDS[name]).exit_code == 0
    return run


def error(result, code):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    return lines[-1]


def test_the_first_user_must_be_an_admin(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "fresh.db")
    result = CliRunner().invoke(conc, ["station", "users", "add", "bob", "--role", "clerk"],
                                env={"CONC_STATION_DB": url,
                                     "CONC_STATION_NEW_PASSWORD": "long enough"})
    assert error(result, 4) == "Error: the first user must be an admin: --role admin"


def test_adding_a_user_needs_an_admin(station):
    assert error(station("users", "add", "eve", "--role", "admin", new_password="x" * 10), 4) \
        .startswith("Error: say who you are: --user NAME")
    assert error(station("users", "add", "eve", "--role", "admin", user="clerk",
                         new_password="x" * 10), 1) == \
        "Error: not permitted: clerk (role clerk) may not user.manage"


def test_a_wrong_password_is_refused_without_echoing_it(station):
    result = station("customers", "add", "C1", "--name", "Wang", user="clerk",
                     password="guess 12345")
    assert error(result, 4).startswith("Error: login failed")
    assert "guess 12345" not in result.output


def test_a_viewer_cannot_pay(station):
    station("customers", "add", "C1", "--name", "Wang", user="clerk")
    assert error(station("pay", "--customer", "C1", "--amount", "10", user="viewer"), 1) == \
        "Error: not permitted: viewer (role viewer) may not payment.record"
    ledger = json.loads(station("ledger", "--customer", "C1", "--json").output)
    assert ledger == []


@pytest.mark.parametrize("amount, message", [
    ("12.345", "bad amount '12.345': at most 2 decimal places"),
    ("ten", "bad amount 'ten': a number such as 120.50"),
    ("-5", "a payment is a positive amount (a refund is an adjustment)"),
])
def test_bad_amounts_are_named(station, amount, message):
    station("customers", "add", "C1", "--name", "Wang", user="clerk")
    assert error(station("pay", "--customer", "C1", "--amount", amount, user="admin"), 4) == \
        "Error: " + message


def test_unknown_customer(station):
    assert error(station("pay", "--customer", "C404", "--amount", "1", user="admin"), 4) == \
        "Error: no customer 'C404': see `conc station customers list`"


def test_import_is_all_or_nothing_and_names_the_bad_line(station, tmp_path):
    good = tmp_path / "ok.csv"
    good.write_text("number,name,phone\nC1,王芳,138\nC2,Li Na,139\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("number,name\nC3,Zhao\nC1,Duplicate\n", encoding="utf-8")
    assert station("customers", "import", str(good), user="clerk").output == \
        "2 customers added\n"
    assert error(station("customers", "import", str(bad), user="clerk"), 4) == \
        "Error: line 3: customer C1 exists already"
    listed = station("customers", "list", "--csv").output.splitlines()
    assert listed == ["number,name,area,address,phone,balance (yuan)", "C1,王芳,-,,138,0.00",
                      "C2,Li Na,-,,139,0.00"]


def test_tariff_input_errors(station):
    assert error(station("tariffs", "add", "T", "--name", "TOU", "--kind", "tou", "--prices",
                         "1,0.8,0.5", "--from", "2026-01-01", user="clerk"), 4) == \
        "Error: --prices takes four prices: sharp,peak,flat,valley in yuan/kWh, e.g. " \
        "1.0,0.8,0.55,0.3"
    assert error(station("tariffs", "add", "F", "--name", "Flat", "--kind", "flat", "--price",
                         "0.5", "--tiers", "100:0.1", "--from", "2026-01-01", user="clerk"),
                 4).startswith("Error: tiers start at 0 kWh")
    assert error(station("tariffs", "add", "F", "--name", "Flat", "--kind", "flat", "--price",
                         "0.5", "--from", "2026-02-30", user="clerk"), 4) == \
        "Error: bad valid-from date '2026-02-30': YYYY-MM-DD such as 2026-11-01"
    assert station("tariffs", "list", "--json").output.strip() == "[]"


def test_bill_json_holds_a_customer_without_a_meter(station):
    station("customers", "add", "C1", "--name", "Wang", user="clerk")
    result = station("bill", "--period", "2026-11", "--json", user="clerk")
    assert result.exit_code == 0, result.output
    assert [(s["customer"], s["state"], s["hold_reason"]) for s in json.loads(result.output)] \
        == [("C1", "held", "no meter in service during the period")]
    assert error(station("bill", "--period", "2026-11", "--fail-on-held", user="clerk"), 1) \
        == "Error: 1 statements held: see the note column"
    assert error(station("bill", "--period", "2026-13", user="clerk"), 4) == \
        "Error: bad period '2026-13': YYYY-MM such as 2026-11"
