"""Running the front end as a process: listen address parsing, the fd limit, signals, a status line,
and the lock that makes it the only front end of a SQLite database.

Used by `conc station serve` and by the benchmark's station process.
"""
import asyncio
import contextlib
import fcntl
import logging
import os
import resource
import signal

from host_tools.station.db import SQLITE
from host_tools.station.errors import DatabaseUnavailable, InvalidValue

class AlreadyServed(DatabaseUnavailable):
    """Another front end process serves this database."""

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
                              report=None, close_timeout_s=20.0):
    """Start `front` on host:port, call on_started(bound), run until SIGINT/SIGTERM, close.

    The signals are caught with plain signal.signal handlers, not loop.add_signal_handler:
    asyncio learns of the latter from a byte written to its wake-up socket, and an overloaded
    loop (thousands of thread results queued with call_soon_threadsafe) fills that socket, so
    the byte is lost ("signal wakeup fd: BlockingIOError") and so is the SIGTERM. A Python
    handler runs in the main thread whatever the socket holds, and call_soon_threadsafe queues
    the stop even when its own wake-up byte cannot be written. Closing is bounded by
    `close_timeout_s`: what is not written by then is left to the next start (sessions left
    open are ended, unconfirmed uploads are sent again by the terminals)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def stop_soon(signum, _frame):
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, stop_soon) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bound = await front.start(host, port)
        if on_started is not None:
            on_started(bound)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), report_every_s)
            except asyncio.TimeoutError:
                if report is not None:
                    report()
    finally:
        try:
            await asyncio.wait_for(front.close(), close_timeout_s)
        except asyncio.TimeoutError:
            log.warning("shutdown took more than %.0f s: stopped without writing the rest",
                        close_timeout_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return bound


@contextlib.contextmanager
def sole_front_end(station):
    """On SQLite, hold while the block runs the right to be the one front end of the database.

    A SQLite database serves one process at a time (one writer), so a second front end is
    refused rather than left to queue on the first's locks. The right is an exclusive lock on
    `DBFILE.serve-lock` (flock: the kernel drops it when the process dies, even by kill -9).
    Raises AlreadyServed when another process holds it. On PostgreSQL several front ends share
    the database: each holds the terminals logged in to it (front_ends.py), nothing to lock.
    """
    db = station.db
    if db.dialect != SQLITE or db.path == ":memory:":
        yield
        return
    with _file_lock(db.path + ".serve-lock", db.url):
        yield


@contextlib.contextmanager
def _file_lock(path, url):
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DatabaseUnavailable("cannot create the lock file %s (%s): check that its folder "
                                  "is writable" % (path, exc.strerror)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise AlreadyServed(
                "another `conc station serve` (pid %s) already serves %s: stop it first (one "
                "front end per SQLite database; several need PostgreSQL)" % (holder, url)
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        yield
    finally:
        os.close(fd)       # releases the lock
