"""A 6-hour outage on virtual time, then backlog delivery: 64 meters on 15-minute curves keep
producing while the master station cannot be reached and the link backs off (exponentially,
jittered, capped); when the network is back the whole backlog reaches the station through the
modem simulator in order, with nothing lost and nothing duplicated (counted by identity)."""
import pytest

from uplink_support import Board, TestMaster, micropython, modem_for


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


def run_outage(link_bps, dialect="sim800"):
    master = TestMaster().start()
    modem = modem_for(master, dialect, link_bps=link_bps)
    board = Board({"modem": modem.line.device_path, "dialect": dialect, "port": master.port,
                   "run_ms": 120000, "until_backlog_empty": True, "heartbeat_ms": 5000,
                   "outage": {"meters": 64, "hours": 6, "curve_min": 15,
                              "redial_max_s": 1800}})
    try:
        result = board.result(180)
    finally:
        board.stop()
        modem.stop()
        master.stop()
    return result, master


def assert_doubled_only_by_resends(master, result):
    """A frame whose confirm comes later than comm.response_timeout_s (a loaded host) is sent
    again, as the standard has it, and after its retries the uploader starts again at the
    cursor: the master then sees those records twice and keeps them once by identity
    (tests/uplink/test_upload_identity.py). Without a resend nothing may arrive twice."""
    resends = result["uploader"]["resent"] + result["stats"]["missed"]
    assert master.duplicates() == 0 or resends > 0, (master.duplicates(), result["uploader"],
                                                     result["stats"])


def test_six_hour_outage_then_the_backlog_arrives_whole_in_order_once():
    result, master = run_outage(link_bps=400000)
    outage = result["outage"]
    assert outage["virtual_s"] >= 6 * 3600
    assert outage["records"] == 64 * 24
    assert outage["connects"] == 0
    # backoff: grew to the cap (30 min) and no further, jittered between half and all of it
    backoffs = outage["backoffs"]
    assert max(backoffs) <= 1800 * 1000 and min(backoffs[4:]) >= 900 * 1000
    assert len(set(backoffs)) > 3
    first = outage["first_seq"]
    end = first + outage["records"]
    assert master.missing(first, end) == []
    assert_doubled_only_by_resends(master, result)
    assert result["backlog"] == 0 and result["cursor"] == end
    # what arrived is what was recorded: meter, time and values of every curve point
    rtype, point, ts, payload = master.records[first + 64 * 23 + 63]
    assert (rtype, point) == (1, 64)
    from protocol.readings_payload import unpack_readings
    values = [v for _, v in unpack_readings(payload)]
    assert values == [1000000 + 64 * 5000 + 23 * 25, 2200 + 64 % 7, 2210, 2190, 5000 + 23 % 11,
                      11064]
    assert master.errors == []


def test_a_board_on_a_plain_network_link_delivers_the_same_way():
    """Wi-Fi / Ethernet boards and the virtual board: firmware/hal/net.py instead of a modem."""
    master = TestMaster().start()
    board = Board({"port": master.port, "run_ms": 40000, "until_drained": True,
                   "append_every_ms": 50, "append_until_ms": 1500,
                   "outage": {"meters": 8, "hours": 1, "curve_min": 15}})
    try:
        result = board.result(90)
    finally:
        master.stop()
    assert result["stats"]["logins"] == 1 and result["backlog"] == 0
    assert master.missing(result["start_seq"], result["cursor"]) == []
    assert_doubled_only_by_resends(master, result)
