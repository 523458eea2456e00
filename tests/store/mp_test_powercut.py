# Power-cut torture of the ring log, under MicroPython: 4 x 1200 trials (more than 3,200 cuts)
# at deterministic random points: appends, sector openings, cursor updates, erases and mount
# repairs, each followed by a clean mount and a full check against what the log had
# acknowledged (store_support.Torture).
from store_support import CATEGORIES, Torture


def check(torture, least):
    cuts = sum(torture.cuts.values())
    assert cuts >= 800, "only %d of %d trials cut" % (cuts, torture.trials)
    for line in torture.failures:
        print(line)
    assert torture.lost_records == 0, "%d lost records" % torture.lost_records
    assert torture.corrupt_records == 0, "%d corrupt records" % torture.corrupt_records
    for category in CATEGORIES:
        assert torture.cuts[category] >= least, "too few cuts in %s: %r" % (
            category, torture.cuts)
    print("cuts:", torture.cuts)


def test_1200_trials_on_spi_nor_geometry():
    check(Torture(seed=1, block_size=1024, block_count=6).run(1200), 25)


def test_1200_trials_on_a_three_sector_ring():
    check(Torture(seed=2, block_size=1024, block_count=3).run(1200), 25)


def test_1200_trials_with_a_16_byte_program_unit():
    check(Torture(seed=3, block_size=2048, block_count=5, prog_size=16).run(1200), 10)


def test_1200_trials_with_page_programs_torn_in_any_order():
    check(Torture(seed=4, block_size=1024, block_count=5, scatter=True).run(1200), 25)
