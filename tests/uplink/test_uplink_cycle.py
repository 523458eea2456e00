"""Full cycles under the real MicroPython: the board's uplink through the modem simulator (both
AT dialects, on a pty) to the test master station: login, heartbeats, active event reports with
ACD and EC, every request the terminal answers, PW and Tp checks, repeats, reset."""
import pytest

from uplink_support import Board, TestMaster, micropython, modem_for
from protocol import gw376

PW = b"secret" + bytes(10)


def req(afn, units, pw=None, **kw):
    if gw376.needs_pw(afn, gw376.DOWN) and pw is None:
        pw = PW
    return gw376.Frame(afn, units, area=4101, terminal=1, master=1, pw=pw, **kw)


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


@pytest.mark.parametrize("dialect", ["sim800", "quectel"])
def test_full_cycle_through_the_modem_simulator(dialect):
    master = TestMaster().start()
    modem = modem_for(master, dialect)
    board = Board({"modem": modem.line.device_path, "dialect": dialect, "port": master.port,
                   "run_ms": 40000, "heartbeat_ms": 800, "events": [31]}, heapsize="384K")
    try:
        assert master.wait_login(20), "no login"
        login = master.logins[0][1]
        assert (login.afn, login.units[0][1], login.address_text) == (2, 1, "4101-1")
        assert master.wait(lambda: master.heartbeats >= 1, 10)
        # the important event (ERC31) is reported actively, with ACD and EC
        assert master.wait(lambda: master.events, 10)
        assert master.events[0]["records"][0]["erc"] == 31
        assert master.events[0]["ec_important"] == 1
        assert master.acd_seen >= 1

        clock = master.request(req(0x0C, [(0, 2, None)]))
        assert clock and clock[0].units[0][1] == 2 and clock[0].units[0][2][0] == 2026

        energy = master.request(req(0x0C, [(1, 129, None)]))[0].units[0]
        assert energy[0] == 1 and energy[2]["forward_active"] == [123456700, 100000, 200000,
                                                                   300000, 400000]
        power = master.request(req(0x0C, [(1, 25, None)]))[0].units[0][2]
        assert power["voltage"] == [2201, 2202, 2203] and power["current"] == [5001, 5002, 5003]
        f33 = master.request(req(0x0C, [(1, 33, None)]))[0].units[0][2]
        assert f33["forward_active"][0] == 123456700 and f33["tariffs"] == 4

        f1 = master.request(req(0x0A, [(0, 1, None)]))[0].units[0][2]
        assert (f1["response_timeout_s"], f1["retries"], f1["heartbeat_min"]) == (2, 1, 1)
        f3 = master.request(req(0x0A, [(0, 3, None)]))[0].units[0][2]
        assert (f3["primary_ip"], f3["primary_port"]) == ("127.0.0.1", master.port)

        # a set with the right PW: confirmed, persisted, read back
        new = dict(f1, heartbeat_min=7)
        setting = req(0x04, [(0, 1, new)], fcv=1, fcb=1)
        answer = master.request(setting)[0]
        assert (answer.afn, answer.units[0][1]) == (0, 1)
        # the same request again (the master missed our answer): same answer, done once
        again = master.request(setting, repeat=True)
        assert again and (again[0].afn, again[0].units[0][1]) == (0, 1)
        assert master.request(req(0x0A, [(0, 1, None)]))[0].units[0][2]["heartbeat_min"] == 7

        # a wrong PW: denied, ERC20 recorded (with the PW field zeroed) and reported
        denied = master.request(req(0x04, [(0, 1, dict(f1, heartbeat_min=9))],
                                    pw=b"guess" + bytes(11)))[0]
        assert (denied.afn, denied.units[0][1]) == (0, 2)
        missing_pw = master.request(req(0x05, [(0, 31, (2026, 1, 1, 0, 0, 0, 4))],
                                        pw=bytes(16)))[0]
        assert missing_pw.units[0][1] == 2
        assert master.wait(lambda: any(r["erc"] == 20 for e in master.events
                                       for r in e["records"]), 10)
        erc20 = [r for e in master.events for r in e["records"] if r["erc"] == 20][0]
        assert erc20["pw"] == bytes(16)

        version = master.request(req(0x09, [(0, 1, None)]))[0].units[0][2]
        assert version["vendor"] == "CONC"

        events = master.request(req(0x0E, [(0, 1, {"pm": 0, "pn": 3})]))[0].units[0][2]
        assert [r["erc"] for r in events["records"]] == [31, 20, 20]

        # anything else is denied
        other = master.request(req(0x0B, [(0, 1, None)]))[0]
        assert (other.afn, other.units[0][1]) == (0, 2)

        # time sync: the clock follows
        sync = master.request(req(0x05, [(0, 31, (2027, 3, 4, 5, 6, 7, 4))]))[0]
        assert sync.units[0][1] == 1
        clock = master.request(req(0x0C, [(0, 2, None)]))[0].units[0][2]
        assert clock[:5] == (2027, 3, 4, 5, 6)

        # a request whose time label expired is dropped unanswered
        stale = master.request(req(0x0C, [(0, 2, None)], tp=(0, 1, 0, 0, 0, 1)), timeout=3)
        assert stale == []

        # reset: confirmed, then the board restarts (the script ends)
        reset = master.request(req(0x01, [(0, 1, None)]))[0]
        assert reset.units[0][1] == 1
        result = board.result(60)
    finally:
        board.stop()
        modem.stop()
        master.stop()
    assert "reset_ms" in result
    assert result["saved"] == [7]                         # one atomic save, not two
    assert result["terminal"]["repeats"] == 1
    assert result["terminal"]["pw_denied"] == 2
    assert result["stats"]["logins"] == 1 and result["stats"]["missed"] == 0
    assert master.errors == []
    assert "secret" not in result["output"]
