"""The store's board code also runs on CPython (host-side tools and quick checks use it): a
short power-cut torture with the same deterministic seeds the MicroPython suite uses."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_support import Torture  # noqa: E402


def test_power_cut_torture_on_cpython():
    t = Torture(seed=21, block_size=1024, block_count=4).run(400)
    assert t.failures == []
    assert (t.lost_records, t.corrupt_records) == (0, 0)
    assert sum(t.cuts.values()) > 250, t.cuts
