"""`conc sim terminals` keeps redialing, with backoff, until the station is back (issue 15: it
reconnected only once)."""
import asyncio

from host_tools.simulators.terminal_swarm import Swarm
from host_tools.station.frontend import FrontEnd
from tests.station_frontend.frontend_support import QUIET, ZONE, Harness, eventually, run


def test_terminals_redial_with_backoff_until_the_station_restarts(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=2) as h:
            port = h.port
            swarm = Swarm("127.0.0.1", port, 2, zone=ZONE, heartbeat_s=3600, reconnect_s=0.05)
            await swarm.start()
            await eventually(lambda: all(t.logged_in for t in swarm.terminals), what="logins")
            await h.front.close()                          # the station goes away ...
            await eventually(lambda: swarm.stats["redials_failed"] >= 6, what="redials")
            attempts = swarm.stats["connect_failures"]
            await asyncio.sleep(0.3)
            # ... backing off: at most a few more attempts in 0.3 s (at 0.05 s: 12)
            assert swarm.stats["connect_failures"] - attempts <= 6
            h.front = FrontEnd(h.station, collector_config=QUIET, **h.front_options)
            await h.front.start("127.0.0.1", port)         # ... and comes back
            await eventually(lambda: all(t.logged_in for t in swarm.terminals), timeout=15,
                             what="logged in again")
            await swarm.close(drain_s=0)
    run(scenario())
