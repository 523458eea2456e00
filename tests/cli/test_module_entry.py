"""`python -m host_tools` is the `conc` CLI, exit codes included (for machines where the
console script is not on PATH)."""
import subprocess
import sys

from tests.vboard.vboard_support import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_python_m_host_tools_runs_conc():
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("conc, version")
    missing = run("probe", "--port", "/dev/ttyNOPE7", "--address", "1")
    assert missing.returncode == 3 and "/dev/ttyNOPE7 does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
