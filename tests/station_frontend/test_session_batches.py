"""Station.open_sessions / close_sessions: the front end's batched session writes (both engines)."""
from host_tools.station.repository import open_station


def test_batched_logins_and_ends_behave_like_single_ones(db_url):
    with open_station(db_url, zone="UTC", clock=lambda: 1_800_000_000) as station:
        station.add_terminals([("4101", a, "00", "") for a in (1, 2, 3)])
        t1, t2, t3 = (station.find_terminal("4101", a).id for a in (1, 2, 3))
        first = station.open_sessions([(t1, "10.0.0.1:1", None), (t2, "10.0.0.2:1", None)])
        assert len(set(first)) == 2
        assert [t.status for t in station.terminals()] == ["online", "online", "offline"]
        # t1 logs in again in a later batch: its older session is ended as replaced
        again = station.open_sessions([(t1, "10.0.0.1:2", None)])
        sessions = station.sessions(t1)
        assert [s.id for s in sessions] == [again[0], first[0]]
        assert sessions[1].end_reason == "replaced by a new login"
        station.close_sessions([(first[1], "logout", None), (again[0], "heartbeat timeout",
                                                             None)])
        assert [t.status for t in station.terminals()] == ["offline", "offline", "offline"]
        assert station.sessions(t2)[0].end_reason == "logout"
        assert station.sessions(t1)[0].end_reason == "heartbeat timeout"
        assert station.open_sessions([]) == [] and station.sessions(t3) == []
        station.close_sessions([])
