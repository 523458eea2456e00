"""`conc board run --clock-start TIME [--fast-until TIME]`: what a mistyped option says (the
clock itself: mp_test_fast_clock.py; a virtual day on it: tests/e2e/test_virtual_day.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def board_run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "board", "run", "--image",
                           str(tmp_path / "board"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, says", [
    (["--fast-until", "2026-03-02T00:00"], "--fast-until needs --clock-start"),
    (["--clock-start", "yesterday"], "--clock-start takes a local time like 2026-03-01T23:30"),
    (["--clock-start", "2026-03-02T00:00", "--fast-until", "2026-03-01T00:00"],
     "--fast-until (2026-03-01T00:00) must not come before --clock-start (2026-03-02T00:00)"),
    (["--board", "qemu_m4", "--clock-start", "2026-03-01T00:00"],
     "--clock-start runs on unix-port boards"),
])
def test_a_bad_clock_option_is_one_clear_line(tmp_path, args, says):
    proc = board_run(tmp_path, *args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not proc.stdout


def test_the_clock_start_is_kept_beside_the_images(tmp_path):
    """The calendar's offset from the host's time lives in the image folder (a restarted agent
    resumes from it); the fast phase ends at --fast-until, or at once without it."""
    import datetime
    import time

    from host_tools.commands.board.run import _fast_clock
    (tmp_path / "board").mkdir()
    start = datetime.datetime(2026, 3, 1, 23, 30).timestamp() * 1000
    clock = _fast_clock(tmp_path / "board", "2026-03-01T23:30", "2026-03-02T23:50")
    offset = int(Path(clock["file"]).read_text())
    assert Path(clock["file"]).parent == tmp_path / "board"
    assert abs(time.time() * 1000 + offset - start) < 60000     # the calendar is at the start
    assert clock["until_ms"] == datetime.datetime(2026, 3, 2, 23, 50).timestamp() * 1000
    assert _fast_clock(tmp_path / "board", "2026-03-01T23:30", None)["until_ms"] == start
