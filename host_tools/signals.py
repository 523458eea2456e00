"""Long-running commands (simulators, the virtual board, the station) stop on SIGINT/SIGTERM."""
import signal
import threading
from contextlib import contextmanager


@contextmanager
def stop_requested():
    """Yield a threading.Event that SIGINT or SIGTERM sets; the old handlers come back after."""
    stopped = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopped.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
