"""SIGTERM stops the station even when asyncio's wake-up socket is full (issue 15: an
overloaded station logged "signal wakeup fd: BlockingIOError" and ran 1.5 min more)."""
import asyncio
import os
import signal
import socket

from host_tools.station.frontend import FrontEnd
from host_tools.station.repository import open_station
from host_tools.station.serving import run_until_signalled
from tests.station_frontend.frontend_support import QUIET, ZONE_NAME


def fill_wakeup_socket(loop):
    """Fill the socket the event loop's signal and thread wake-ups are written to, as
    thousands of thread results queued at once do; how many bytes it took."""
    wakeup = loop._csock            # noqa: SLF001 - the state this regression is about
    written = 0
    try:
        while True:
            written += wakeup.send(b"\0" * 4096)
    except (BlockingIOError, socket.timeout):
        return written


def test_sigterm_stops_the_station_when_the_wakeup_socket_is_full(sqlite_url):
    station = open_station(sqlite_url, zone=ZONE_NAME)
    front = FrontEnd(station, collector_config=QUIET)
    filled = []

    def started(_bound):
        loop = asyncio.get_running_loop()
        filled.append(fill_wakeup_socket(loop))
        os.kill(os.getpid(), signal.SIGTERM)    # the byte for this signal cannot be written

    async def serve():
        await asyncio.wait_for(run_until_signalled(front, "127.0.0.1", 0, started), 10)

    before = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(serve())
    finally:
        station.close()
    assert filled and filled[0] > 0
    assert front.connections == set()
    assert signal.getsignal(signal.SIGTERM) == before      # handlers restored
