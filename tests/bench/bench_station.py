"""`make bench ONLY=station`: the master station's figures, one part per concern.

Parts are the modules tests/bench/station_*.py, each with `run(bench)`, run in name order:
station_ingest.py (readings stored per second on SQLite and PostgreSQL); the front end adds its
own (terminals held, heartbeat latency) beside it.
"""
import importlib
import pkgutil
from pathlib import Path


def run(bench):
    here = Path(__file__).parent
    for _, name, _ in sorted(pkgutil.iter_modules([str(here)])):
        if name.startswith("station_"):
            importlib.import_module("tests.bench." + name).run(bench)
