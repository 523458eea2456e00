"""`make bench [ONLY=AREA]`: run the benchmark areas and print one JSON object per line.

Each area is a module `tests/bench/bench_AREA.py` with `run(bench)`; it measures and calls
`bench.emit(...)`. Figures go to stdout and to build/bench.jsonl. Ratios are always measured
against a baseline in the same run, never against a number written down earlier.
"""
import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "build" / "bench.jsonl"


class Bench:
    def __init__(self, out):
        self.out = out
        self.area = None

    def emit(self, metric, value, unit, goal=None, **extra):
        """Record one figure. `goal` is text like ">= 2" so a reader sees the target beside it."""
        record = {"metric": metric, "value": value, "unit": unit, "goal": goal}
        record.update(extra)
        line = json.dumps(record)
        print(line, flush=True)
        self.out.write(line + "\n")
        self.out.flush()


def areas():
    here = Path(__file__).parent
    return sorted(name[len("bench_"):] for _, name, _ in pkgutil.iter_modules([str(here)])
                  if name.startswith("bench_"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one area: " + ", ".join(areas()))
    args = parser.parse_args(argv)
    chosen = areas()
    if args.only:
        if args.only not in chosen:
            print("unknown bench area %r; known: %s" % (args.only, ", ".join(chosen)),
                  file=sys.stderr)
            return 2
        chosen = [args.only]
    from tests import micropython
    micropython.ensure_build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    failed = []
    with open(OUT, "w") as out:
        bench = Bench(out)
        for area in chosen:
            bench.area = area
            started = time.monotonic()
            try:
                importlib.import_module("tests.bench.bench_" + area).run(bench)
            except Exception:
                traceback.print_exc()
                failed.append(area)
            print("# %s: %.1f s" % (area, time.monotonic() - started), file=sys.stderr)
    if failed:
        print("bench areas that failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
