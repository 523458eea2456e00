"""SIGTERM stops a serving station even when its event loop's self-pipe is full, as it is when
the loop is overloaded (issue 15: the signal was lost and the station ran on for 1.5 min)."""
import asyncio
import os
import signal
import socket

from host_tools.station.serving import run_until_signalled
from tests.station_frontend.frontend_support import run


class IdleFrontEnd:
    started = closed = False

    async def start(self, host, port):
        self.started = True
        return host, port

    async def close(self):
        self.closed = True


def _fill(sock):
    """Write into the loop's self-pipe until it takes no more (an overloaded loop's state)."""
    sock.setblocking(False)
    try:
        while True:
            sock.send(b"\0" * 4096)
    except BlockingIOError:
        pass


def test_sigterm_stops_the_station_with_a_full_self_pipe():
    front = IdleFrontEnd()

    async def scenario():
        loop = asyncio.get_running_loop()

        def overloaded():
            _fill(loop._csock)          # the write end of asyncio's self-pipe
            os.kill(os.getpid(), signal.SIGTERM)
        loop.call_later(0.2, overloaded)
        await run_until_signalled(front, "127.0.0.1", 0, report_every_s=0.05,
                                  report=lambda: None)
    run(scenario(), timeout=10)
    assert front.started and front.closed
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL   # the handler is given back


def test_socket_pair_is_what_asyncio_uses():
    # the test above relies on asyncio's self-pipe being a socket pair written at _csock
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop._csock, socket.socket)
    finally:
        loop.close()
