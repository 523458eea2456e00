"""The kernel's hot path is marked @viper: on this host the build makes it x64 machine code, and
for a CPU MicroPython has no native emitter for the same source built as it is (bytecode) passes
the same MicroPython tests."""
import pytest

from host_tools.build import build, host_march, march_of
from tests import micropython

KERNEL_TESTS = micropython.TESTS / "kernel"


def mpy_arch(path):
    # .mpy header: 'M', version, flags (sub-version | arch << 2), small-int bits
    return march_of(path.read_bytes()[2] << 8)


@pytest.fixture(scope="module")
def bytecode_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("bytecode")
    build(out, march=None)
    return out


def test_the_host_build_runs_the_kernel_as_machine_code():
    if host_march() is None:
        pytest.skip("MicroPython has no native emitter for this CPU: the build is bytecode")
    assert mpy_arch(micropython.BUILD / "firmware" / "kernel.mpy") == host_march()
    assert mpy_arch(micropython.BUILD / "firmware" / "poller.mpy") is None   # no viper in it


@pytest.mark.parametrize("module", ["mp_test_sched", "mp_test_services", "mp_test_heap_locked",
                                    "mp_test_time_wrap"])
def test_a_bytecode_build_passes_the_kernel_tests(bytecode_build, module):
    assert mpy_arch(bytecode_build / "firmware" / "kernel.mpy") is None
    proc = micropython.run([str(micropython.TESTS / "mp_runner.py"), module],
                           extra_path=[KERNEL_TESTS], build=bytecode_build)
    assert "@@DONE" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "@@FAIL" not in proc.stdout, proc.stdout[-3000:]
    assert proc.stdout.count("@@PASS") >= 2
