"""Per-terminal allowed source networks: `conc station terminals allow`, and the front end's
check at login (issue 15)."""
import json

import pytest
from click.testing import CliRunner

from host_tools.cli import conc
from host_tools.station.errors import InvalidValue
from host_tools.station.networks import allowed, parse_networks
from tests.station_frontend.frontend_support import Harness, eventually, run
from tests.station_frontend.test_frontend_limits import closed_by_station, connect_from
from tests.station_frontend.test_frontend_security import station_alarms


def test_networks_are_parsed_and_matched():
    networks = parse_networks(["10.8.0.0/16, 10.9.1.7", "2001:db8::/32", "10.8.1.0/24"])
    assert [str(n) for n in networks] == ["10.8.0.0/16", "10.8.1.0/24", "10.9.1.7/32",
                                          "2001:db8::/32"]
    assert allowed(networks, "10.8.200.1") and allowed(networks, "10.9.1.7")
    assert allowed(networks, "::ffff:10.8.0.9")          # IPv4 on a dual-stack socket
    assert allowed(networks, "2001:db8::5")
    assert not allowed(networks, "10.9.1.8") and not allowed(networks, "not an address")
    assert allowed((), "192.0.2.1")                      # no restriction
    with pytest.raises(InvalidValue, match="bad network '10.0.0.0/33'"):
        parse_networks(["10.0.0.0/33"])


def test_conc_station_terminals_allow(tmp_path):
    env = {"CONC_STATION_DB": "sqlite:///%s" % (tmp_path / "s.db")}
    runner = CliRunner()

    def cli(*args, code=0):
        result = runner.invoke(conc, ["station", "terminals"] + list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    cli("add", "--area", "4101", "--address", "1", "--password", "00")
    assert "logs in from any address" in cli("allow", "4101-1")
    assert "10.8.0.0/16, 10.9.1.7/32" in cli("allow", "4101-1", "10.9.1.7", "10.8.0.0/16")
    assert json.loads(cli("allow", "4101-1", "--json"))["allowed_networks"] == [
        "10.8.0.0/16", "10.9.1.7/32"]
    out = cli("allow", "4101-1", "10.8.0.0/33", code=4)
    assert "bad network '10.8.0.0/33'" in out and "Traceback" not in out
    assert "NETWORKs or --any" in cli("allow", "4101-1", "10.0.0.0/8", "--any", code=2)
    assert "logs in from any address" in cli("allow", "4101-1", "--any")


def test_a_login_from_outside_the_allowed_networks_is_refused_with_an_alarm(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            h.station.set_allowed_networks(h.ids[1], ["127.0.0.2/32"])
            await h.restart()                              # the registry is read at start
            outsider = await h.raw(1)                      # from 127.0.0.1
            outsider.send_link(1)
            assert (await outsider.receive()).units[0][1] == 2
            assert await closed_by_station(outsider)
            await eventually(lambda: station_alarms(h, 1, "foreign_network"), what="alarm")
            assert h.station.sessions(h.ids[1]) == []
            inside = await connect_from(h, "127.0.0.2", 1)
            await inside.login()
            assert h.link(1).ip == "127.0.0.2"
    run(scenario())
