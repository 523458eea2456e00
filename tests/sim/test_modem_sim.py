"""The modem simulator as the firmware's modem driver will meet it: over a pty, AT by AT."""
import contextlib
import socket
import threading
import time

import pytest
import serial

from host_tools.simulators.at_modem import Faults, start_modem
from tests.waiting import wait_for


class Peer:
    """A TCP server standing in for the master station: records what arrives, can send."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.address = self.server.getsockname()
        self.received = bytearray()
        self.conn = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conn = conn
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                self.received += data

    def close(self):
        self.server.close()
        if self.conn:
            self.conn.close()


class Client:
    """The host side of the modem UART."""

    def __init__(self, path):
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.buf = b""

    def send(self, text):
        self.port.write(text.encode() + b"\r")

    def expect(self, token, timeout=3.0):
        token = token.encode() if isinstance(token, str) else token
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("no %r in %r" % (token, self.buf))
            self.buf += self.port.read(256)
        before, _, self.buf = self.buf.partition(token)
        return before

    def command(self, text, final="OK", timeout=3.0):
        self.send(text)
        return self.expect("\r\n%s\r\n" % final if final else text, timeout)


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


@contextlib.contextmanager
def make(peer, dialect="sim800", link_bps=0, **faults):
    """(modem, client): a simulated modem whose data link reaches `peer`, stopped at the end."""
    modem = start_modem(peer.address, dialect=dialect, faults=Faults(**faults), link_bps=link_bps,
                        seed=1)
    try:
        yield modem, Client(modem.line.device_path)
    finally:
        modem.stop()


def connect_sim800(client):
    client.command("ATE0")
    assert b"+CPIN: READY" in client.command("AT+CPIN?")
    assert b"+CREG: 0,1" in client.command("AT+CREG?")
    client.command("AT+CGATT=1")
    client.command('AT+CSTT="cmnet"')
    client.command("AT+CIICR")
    client.command('AT+CIPSTART="TCP","203.0.113.9",7000')
    client.expect("CONNECT OK")


def test_sim800_full_cycle_bridges_both_ways(peer):
    with make(peer) as (modem, client):
        connect_sim800(client)
        client.send("AT+CIPSEND=5")
        client.expect("> ")
        client.port.write(b"\x68\x01\x02\x03\x16")
        client.expect("SEND OK")
        wait_for("5 bytes at the peer", lambda: len(peer.received) >= 5, 3, every=0.01)
        assert bytes(peer.received) == b"\x68\x01\x02\x03\x16"
        peer.conn.sendall(b"\x68\xAA\x16")
        client.expect(b"+IPD,3:\x68\xAA\x16")
        peer.conn.shutdown(socket.SHUT_RDWR)    # the station drops the connection
        client.expect("CLOSED")


def test_sim800_manual_receive_holds_the_data_until_read(peer):
    """AT+CIPRXGET=1 (set before the connection): one +CIPRXGET: 1 notice, then the data waits
    in the modem; =2,n reads at most n with what is still held, =4 says what is held."""
    with make(peer) as (modem, client):
        client.command("ATE0")
        client.command("AT+CIPRXGET=2,10", final="ERROR")      # not in manual receive yet
        client.command("AT+CIPRXGET=1")
        connect_sim800(client)
        peer.conn.sendall(b"0123456789")
        client.expect("+CIPRXGET: 1")
        wait_for("the data held", lambda: len(modem.rx_pending) == 10, 3, every=0.01)
        peer.conn.sendall(b"abc")                               # no second notice: some unread
        wait_for("more data held", lambda: len(modem.rx_pending) == 13, 3, every=0.01)
        held = client.command("AT+CIPRXGET=4")
        assert b"+CIPRXGET: 4,13" in held and b"+CIPRXGET: 1\r" not in held
        assert b"+CIPRXGET: 2,4,9\r\n0123" in client.command("AT+CIPRXGET=2,4")
        assert b"+CIPRXGET: 2,9,0\r\n456789abc" in client.command("AT+CIPRXGET=2,1460")
        assert b"+CIPRXGET: 2,0,0" in client.command("AT+CIPRXGET=2,1460")
        client.command("AT+CIPRXGET=2,1461", final="ERROR")
        assert b"+IPD" not in held


def test_quectel_cycle_with_recv_urc_and_qird(peer):
    with make(peer, dialect="quectel") as (modem, client):
        client.command("ATE0")
        client.command('AT+QICSGP=1,1,"cmnet","","",1')
        client.command("AT+QIACT=1")
        client.command('AT+QIOPEN=1,0,"TCP","203.0.113.9",7000,0,0')
        client.expect("+QIOPEN: 0,0")
        client.send("AT+QISEND=0,3")
        client.expect("> ")
        client.port.write(b"abc")
        client.expect("SEND OK")
        wait_for("abc at the peer", lambda: bytes(peer.received) == b"abc", 3, every=0.01)
        peer.conn.sendall(b"xyz")
        client.expect('+QIURC: "recv",0')
        assert b"+QIRD: 3\r\nxyz" in client.command("AT+QIRD=0,1500")


def test_echo_is_on_until_ate0(peer):
    with make(peer) as (modem, client):
        client.send("AT")
        client.expect("AT\r")
        client.expect("\r\nOK\r\n")


@pytest.mark.parametrize("fault,command,answer", [
    ({"sim_missing": True}, "AT+CPIN?", "+CME ERROR: 10"),
    ({"csq99": True}, "AT+CSQ", "+CSQ: 99,99"),
    ({"registration": "denied"}, "AT+CREG?", "+CREG: 0,3"),
    ({"registration": "roaming"}, "AT+CGREG?", "+CGREG: 0,5"),
])
def test_status_faults(peer, fault, command, answer):
    with make(peer, **fault) as (modem, client):
        client.command("ATE0")
        client.send(command)
        client.expect(answer)


def test_activation_and_connect_failures(peer):
    with make(peer, activate_fail=True) as (modem, client):
        client.command("ATE0")
        client.command('AT+CSTT="cmnet"')
        client.command("AT+CIICR", final="ERROR")
        modem.faults.activate_fail = False
        modem.faults.connect_fail = True
        client.command("AT+CIICR")
        client.command('AT+CIPSTART="TCP","1.2.3.4",1')
        client.expect("CONNECT FAIL")


def test_dropped_connection_reports_closed(peer):
    with make(peer, drop_after=0.2) as (modem, client):
        connect_sim800(client)
        client.expect("CLOSED", timeout=3)
        assert b"IP STATUS" in client.command("AT+CIPSTATUS", final="STATE: IP STATUS") + b"IP STATUS"


def test_silent_pdp_loss_keeps_claiming_connected(peer):
    with make(peer, silent_after=0.1) as (modem, client):
        connect_sim800(client)
        wait_for("the data link gone silent", lambda: modem.silent, 5, every=0.01)
        client.send("AT+CIPSEND=2")
        client.expect("> ")
        client.port.write(b"hi")
        client.expect("SEND OK")                 # the modem lies: nothing reached the peer
        client.send("AT+CIPSTATUS")
        client.expect("STATE: CONNECT OK")
        peer.conn.sendall(b"never")
        # The subject is an absence: nothing may arrive however long we wait, so this is a
        # deliberate quiet period (0.3 s is over 100 times the data's wire time).
        time.sleep(0.3)
        assert b"+IPD" not in client.port.read(256)
        assert bytes(peer.received) == b""


def test_registration_lost_closes_the_link(peer):
    with make(peer, reg_lost_after=0.2) as (modem, client):
        connect_sim800(client)
        client.expect("CLOSED", timeout=3)
        client.send("AT+CREG?")
        client.expect("+CREG: 0,2")


def test_noise_garble_and_late_answers(peer):
    with make(peer, urc_noise=100, late_ms=150) as (modem, client):
        client.command("ATE0")
        started = time.monotonic()
        before = client.command("AT+CSQ")
        assert time.monotonic() - started >= 0.15
        assert b"+CSQ: 21,0" in before
        assert any(urc in before for urc in (b"+CREG: 1", b"+CGREG: 1", b"Call Ready",
                                             b"SMS Ready", b"+CPIN: READY"))
        modem.faults.urc_noise = 0
        modem.faults.late_ms = 0
        modem.faults.garble = 100
        client.send("AT+CPIN?")
        # both lines of the answer (+CPIN: READY, OK) arrive, each with a corrupted character
        answer = wait_for("the two garbled answer lines", lambda: garbled_lines(client, 2), 3)
        assert b"+CPIN: READY\r\n" not in answer and b"\r\nOK\r\n" not in answer


def garbled_lines(client, count):
    """The client's input once `count` CR LF-framed lines have arrived (garbling changes one
    printable character of a line, never its framing), else None."""
    client.buf += client.port.read(256)
    return client.buf if client.buf.count(b"\r\n") >= 2 * count else None


def test_reset_drops_everything_and_boots_again(peer):
    with make(peer) as (modem, client):
        connect_sim800(client)
        client.command("AT+CFUN=1,1")
        client.expect("SMS Ready")
        client.send("AT")
        client.expect("AT\r")                    # echo is back on after a reset
        assert modem.stats["resets"] == 1 and modem.sock is None


def test_link_rate_paces_the_data(peer):
    with make(peer, link_bps=40000) as (modem, client):
        connect_sim800(client)
        client.send("AT+CIPSEND=1000")
        client.expect("> ")
        started = time.monotonic()
        client.port.write(b"x" * 1000)
        client.expect("SEND OK")
        assert time.monotonic() - started >= 0.19     # 8000 bits at 40 kbit/s = 0.2 s


def test_fault_words_from_the_command_line():
    faults = Faults.parse(["csq99", "drop-after=30", "registration=denied"])
    assert faults.csq99 and faults.drop_after == 30.0 and faults.registration == "denied"
    with pytest.raises(ValueError, match="unknown modem fault 'nosignal'"):
        Faults.parse(["nosignal"])
    with pytest.raises(ValueError, match="needs a number"):
        Faults.parse(["late_ms=soon"])


def test_conc_sim_modem_runs_as_a_command_and_traces_what_the_board_asks(peer):
    import json
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path
    conc = str(Path(sys.executable).parent / "conc")
    proc = subprocess.Popen([conc, "sim", "modem", "--connect", "%s:%d" % peer.address,
                             "--json", "--link-bps", "0", "--trace"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        client = Client(info["device"])
        connect_sim800(client)
        client.port.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert json.loads(out)["connects"] == 1
    assert re.search(r"^\d\d:\d\d:\d\d\.\d{3}  AT\+CIPSTART=\"TCP\"", err, re.M), err


def test_conc_sim_modem_bad_fault_is_a_clear_error():
    from click.testing import CliRunner
    from host_tools.cli import conc
    result = CliRunner().invoke(conc, ["sim", "modem", "--connect", "127.0.0.1:7000",
                                       "--fault", "nosignal"])
    assert result.exit_code == 4
    assert "unknown modem fault 'nosignal'" in result.output
