"""`make bench ONLY=station`: the master station's figures, one part per concern.

Parts are the modules tests/bench/station_*.py, each with `run(bench)`, run in name order:
station_ingest.py (readings stored per second on SQLite and PostgreSQL); the front end adds its
own (terminals held, heartbeat latency) beside it.
"""
import importlib
import os
import pkgutil
import tempfile
from pathlib import Path

from host_tools.station.secrets import ENV_KEY


def run(bench):
    here = Path(__file__).parent
    saved = os.environ.get(ENV_KEY)
    # The key file sealing terminal passwords: in a temp folder, not the home folder's default.
    with tempfile.TemporaryDirectory() as folder:
        os.environ[ENV_KEY] = os.path.join(folder, "station.key")
        try:
            for _, name, _ in sorted(pkgutil.iter_modules([str(here)])):
                if name.startswith("station_"):
                    importlib.import_module("tests.bench." + name).run(bench)
        finally:
            if saved is None:
                os.environ.pop(ENV_KEY, None)
            else:
                os.environ[ENV_KEY] = saved
