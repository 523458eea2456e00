"""Running the front end as a process: listen address parsing, the fd limit, signals, a status line.

Used by `conc station serve` and by the benchmark's station process.
"""
import asyncio
import logging
import resource
import signal

from host_tools.station.errors import InvalidValue

log = logging.getLogger(__name__)


def parse_listen(text, default_port=None):
    """(host, port) from HOST:PORT, :PORT or PORT (host 0.0.0.0)."""
    text = (text or "").strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "0.0.0.0"
    if not port and default_port is not None:
        port = str(default_port)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidValue("bad listen address %r: give HOST:PORT such as 0.0.0.0:9000" % text)
    return host, int(port)


def raise_fd_limit(wanted=65536):
    """Raise RLIMIT_NOFILE towards `wanted` (each terminal is one socket); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %d: %s", target, exc)
    return soft


async def run_until_signalled(front, host, port, on_started=None, report_every_s=None,
                              report=None):
    """Start `front` on host:port, call on_started(bound), run until SIGINT/SIGTERM, close."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = await front.start(host, port)
    if on_started is not None:
        on_started(bound)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), report_every_s)
            except asyncio.TimeoutError:
                if report is not None:
                    report()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await front.close()
    return bound
