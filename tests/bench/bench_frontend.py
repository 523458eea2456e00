"""`make bench ONLY=frontend`: one part per concern (tests/bench/frontend_*.py), each `run(bench)`."""
import importlib
import pkgutil
from pathlib import Path


def run(bench):
    here = Path(__file__).parent
    for _, name, _ in sorted(pkgutil.iter_modules([str(here)])):
        if name.startswith("frontend_"):
            importlib.import_module("tests.bench." + name).run(bench)
