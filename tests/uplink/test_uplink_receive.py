"""What the station sends reaches the terminal whole however much it sends at once: the board
keeps no receive buffer, the data waits in the modem (manual receive, both AT dialects) and the
link fetches what its read buffer holds. A burst several times the board's read buffer, sent
while the board is busy answering and uploading, is answered request by request, in order,
with no byte dropped by the modem driver."""
import pytest

from uplink_support import Board, Faults, TestMaster, micropython, modem_for
from protocol import gw376

REQUESTS = 200
# a clock, energy, power and meter-data read in one frame (32 bytes): 200 of them are 6 400
# bytes, more than the 4 KB receive buffer the driver had, 25 times the link's 256-byte reads
UNITS = [(0, 2, None), (1, 129, None), (1, 25, None), (1, 33, None)]


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


def burst_through(dialect, faults=None):
    master = TestMaster().start()
    modem = modem_for(master, dialect, faults=faults)
    board = Board({"modem": modem.line.device_path, "dialect": dialect, "port": master.port,
                   "run_ms": 120000, "heartbeat_ms": 60000, "append_every_ms": 100,
                   "append_until_ms": 120000, "until_requests": REQUESTS})
    try:
        assert master.wait_login(20), "no login"
        frames = []
        for k in range(REQUESTS):
            frame = gw376.Frame(0x0C, UNITS, area=4101, terminal=1, master=1)
            frame.seq = k & 0x0F
            frames.append(gw376.build(frame))
        burst = b"".join(frames)
        assert len(burst) == REQUESTS * 32
        with master.lock:
            conn = master.conn
            start = len(master.replies)
        conn.sendall(burst)

        def answered():
            return sum(1 for r in master.replies[start:] if r.afn == 0x0C) >= REQUESTS

        assert master.wait(answered, 90), "%d of %d answered" % (
            sum(1 for r in master.replies[start:] if r.afn == 0x0C), REQUESTS)
        replies = [r for r in master.replies[start:] if r.afn == 0x0C]
        master.disconnect()                     # the board stops when it sees the link go
        result = board.result(60)
    finally:
        board.stop()
        modem.stop()
        master.stop()
    return replies, result, modem


@pytest.mark.parametrize("dialect", ["sim800", "quectel"])
def test_a_burst_larger_than_any_buffer_is_answered_whole_and_in_order(dialect):
    replies, result, modem = burst_through(dialect)
    assert [r.seq for r in replies] == [k & 0x0F for k in range(REQUESTS)]
    for r in replies:
        assert [u[1] for u in r.units] == [2, 129, 25, 33]
        assert r.units[1][2]["forward_active"][0] == 123456700
    stats = result["modem"]
    assert stats["rx_lost"] == 0
    assert stats["bytes_received"] >= REQUESTS * 32
    # the data waited in the modem and was fetched by the board, not pushed at it
    assert modem.manual_rx or dialect == "quectel"
    assert stats["reads"] >= REQUESTS * 32 // 256
    assert result["terminal"]["requests"] >= REQUESTS


def test_a_modem_that_only_pushes_still_carries_the_link():
    """A SIM800 firmware without manual receive (AT+CIPRXGET answers ERROR): the driver takes
    its pushed +IPD data into a small buffer; ordinary traffic goes through whole."""
    master = TestMaster().start()
    modem = modem_for(master, "sim800", faults=Faults(push_only=True))
    board = Board({"modem": modem.line.device_path, "dialect": "sim800", "port": master.port,
                   "run_ms": 60000, "heartbeat_ms": 60000, "append_every_ms": 100,
                   "append_until_ms": 1500, "until_drained": True})
    try:
        assert master.wait_login(20), "no login"
        clock = master.request(gw376.Frame(0x0C, [(0, 2, None)], area=4101, terminal=1,
                                           master=1))
        assert clock and clock[0].units[0][1] == 2
        result = board.result(90)
    finally:
        board.stop()
        modem.stop()
        master.stop()
    assert not modem.manual_rx
    assert result["modem"]["reads"] == 0 and result["modem"]["rx_lost"] == 0
    assert result["backlog"] == 0 and result["stats"]["logins"] == 1
    assert master.missing(result["start_seq"], result["cursor"]) == []
