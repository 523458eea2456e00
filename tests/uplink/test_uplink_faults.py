"""Every modem fault kind of the simulator, against the board's uplink under MicroPython: the
link fails with the right reason, backs off, power-cycles the modem after repeated failures,
and once the fault is gone logs in and delivers every record (none lost)."""
import time

import pytest

from uplink_support import Board, Faults, TestMaster, micropython, modem_for


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


def wait_command(modem, prefix, after, count=1, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = [line for _, line in modem.log[after:] if line.startswith(prefix)]
        if len(seen) >= count:
            return True
        time.sleep(0.02)
    return False


def finish(board, modem, master, timeout=60):
    try:
        return board.result(timeout)
    finally:
        board.stop()
        modem.stop()
        master.stop()


def test_bring_up_faults_each_fail_with_their_reason_then_the_link_recovers():
    master = TestMaster().start()
    modem = modem_for(master, "sim800", Faults(sim_missing=True))
    board = Board({"modem": modem.line.device_path, "port": master.port, "run_ms": 40000,
                   "until_drained": True, "append_until_ms": 3000, "redial_ms": 200, "registration_s": 1, "power_cycle_after": 3,
                   "settings": {"comm.redial_max_s": 1}, "append_every_ms": 300})
    steps = [("AT+CPIN?", "registration", "denied"), ("AT+CREG?", "registration", "searching"),
             ("AT+CREG?", "csq99", True), ("AT+CSQ", "activate_fail", True),
             ("AT+CIICR", "connect_fail", True), ("AT+CIPSTART", None, None)]
    try:
        state = modem.faults
        for command, next_fault, value in steps:
            mark = len(modem.log)
            assert wait_command(modem, command, mark, 2), "no %s retried" % command
            state = Faults()
            if next_fault:
                state.set(next_fault, value)
            modem.faults = state
        assert master.wait_login(15), "no login once the faults cleared"
    finally:
        result = finish(board, modem, master)
    assert result["errors"][:6] == ["SIM not ready", "registration denied",
                                    "not registered (stat 2)", "no signal",
                                    "PDP context failed", "connect failed"]
    assert result["stats"]["power_cycles"] >= 1 and result["modem"]["resets"] >= 1
    assert result["stats"]["logins"] == 1
    # live readings taken while the link was down arrive once it is up
    assert not master.missing(result["start_seq"], result["cursor"])
    assert result["cursor"] > result["start_seq"]


@pytest.mark.parametrize("dialect,fault,value", [
    ("sim800", "drop_after", 1.0),
    ("quectel", "silent_after", 1.0),
    ("sim800", "reg_lost_after", 1.0),
])
def test_link_losses_reconnect_and_lose_nothing(dialect, fault, value):
    master = TestMaster().start()
    modem = modem_for(master, dialect, Faults(**{fault: value}))
    board = Board({"modem": modem.line.device_path, "dialect": dialect, "port": master.port,
                   "run_ms": 40000, "until_drained": True, "heartbeat_ms": 400,
                   "redial_ms": 200, "registration_s": 1, "power_cycle_after": 2,
                   "append_every_ms": 100, "append_until_ms": 5000,
                   "settings": {"comm.response_timeout_s": 1, "comm.retries": 0,
                                "comm.redial_max_s": 1}})
    try:
        assert master.wait_login(15)
        assert master.wait(lambda: len(master.logins) >= 2, 20), "no reconnect after " + fault
        modem.faults = Faults()
        time.sleep(0.5)
    finally:
        result = finish(board, modem, master)
    assert result["stats"]["reconnects"] >= 1
    if fault == "silent_after":
        # nothing said the link was dead: missed confirmations (or the silence) found it
        assert "3 missed confirmations" in result["errors"] or "silent link" in result["errors"]
    if fault == "reg_lost_after":
        assert result["modem"]["resets"] >= 1        # lost registration needed a power cycle
    assert result["backlog"] == 0
    assert not master.missing(result["start_seq"], result["cursor"])
    seqs = sorted(master.arrivals)
    assert seqs[0] == result["start_seq"] and seqs[-1] >= result["cursor"] - 1


def test_a_noisy_line_garbled_late_and_unsolicited_codes_still_delivers_everything():
    master = TestMaster().start()
    # roaming (CREG stat 5) is registered too
    modem = modem_for(master, "quectel", Faults(garble=3, urc_noise=30, late_ms=15,
                                                registration="roaming"))
    board = Board({"modem": modem.line.device_path, "dialect": "quectel", "port": master.port,
                   "run_ms": 40000, "until_drained": True, "append_every_ms": 100,
                   "append_until_ms": 4500,
                   "heartbeat_ms": 1000,
                   "redial_ms": 200, "settings": {"comm.redial_max_s": 1}})
    result = finish(board, modem, master)
    assert result["stats"]["logins"] >= 1
    assert result["backlog"] == 0
    assert not master.missing(result["start_seq"], result["cursor"])
