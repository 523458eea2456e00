"""Test-suite wiring.

MicroPython test modules are the files named `mp_test_*.py`: each top-level `test_*` function
becomes a pytest item, and the whole file runs once under the real MicroPython unix port (see
tests/micropython.py) with the compiled board packages. A header line `# heapsize: 256K` or
`# timeout: 120` in the file overrides the defaults.
"""
import ast
import re
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import micropython  # noqa: E402


def pytest_sessionstart(session):
    micropython.ensure_build()


@pytest.fixture(scope="session")
def postgres_server():
    """The throwaway PostgreSQL server of host_tools/station/pgtest.py (or the one named by
    CONC_TEST_POSTGRES_URL). If it cannot be started, PostgreSQL tests FAIL with the reason;
    a developer may opt out with CONC_SKIP_POSTGRES=1."""
    from host_tools.station import pgtest
    if pgtest.skip_requested():
        pytest.skip("PostgreSQL tests skipped: %s is set" % pgtest.ENV_SKIP)
    try:
        server = pgtest.server_for_tests()
    except pgtest.PostgresUnavailable as exc:
        pytest.fail("PostgreSQL could not be started for the tests: %s" % exc, pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL to a fresh, empty database on each engine (PostgreSQL: on `postgres_server`)."""
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "station.db")
        return
    server = request.getfixturevalue("postgres_server")
    # The key file that seals terminal passwords: PostgreSQL's default is in the home folder.
    request.getfixturevalue("monkeypatch").setenv("CONC_STATION_KEY",
                                                  str(tmp_path / "station.key"))
    name = "test_%s" % uuid.uuid4().hex[:12]
    yield server.create_database(name)
    server.drop_database(name)


def is_micropython_test(path):
    return path.suffix == ".py" and path.name.startswith("mp_test_")


def pytest_collect_file(parent, file_path):
    # A file named on the command line goes through pytest_pycollect_makemodule instead.
    if is_micropython_test(file_path) and not parent.session.isinitpath(file_path):
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


def pytest_pycollect_makemodule(module_path, parent):
    if is_micropython_test(module_path):
        return MicroPythonFile.from_parent(parent, path=module_path)
    return None


class MicroPythonFile(pytest.File):
    def collect(self):
        source = self.path.read_text()
        self.settings = dict(re.findall(r"^# (heapsize|timeout): (\S+)", source, re.M))
        self.results = None
        tree = ast.parse(source, str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MicroPythonItem.from_parent(self, name=node.name)

    def run_all(self):
        """Run the module once; map test name -> (passed, report)."""
        if self.results is None:
            proc = micropython.run(
                [str(micropython.TESTS / "mp_runner.py"), self.path.stem],
                heapsize=self.settings.get("heapsize", micropython.DEFAULT_HEAP),
                timeout=int(self.settings.get("timeout", 300)),
                extra_path=[self.path.parent])
            self.results = parse_runner_output(proc.stdout)
            self.crash = "" if "@@DONE" in proc.stdout else (
                "MicroPython exited with %d before finishing:\n%s\n%s" % (
                    proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        return self.results


def parse_runner_output(stdout):
    """Map test name -> (passed, its output and traceback)."""
    results, name, passed, lines = {}, None, False, []
    for line in stdout.splitlines() + ["@@DONE"]:
        m = re.match(r"@@(START|PASS|FAIL|DONE) ?(.*)", line)
        if not m:
            lines.append(line)
            continue
        kind = m.group(1)
        if kind in ("PASS", "FAIL"):
            passed = kind == "PASS"
            results[name] = (passed, "\n".join(lines))
            continue
        if name is not None and name in results:   # close the previous test's report
            results[name] = (results[name][0], "\n".join(lines))
        name, lines = (m.group(2), []) if kind == "START" else (None, [])
    return results


class MicroPythonFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    def runtest(self):
        results = self.parent.run_all()
        if self.name not in results:
            raise MicroPythonFailure("no result for %s. %s" % (self.name, self.parent.crash))
        passed, report = results[self.name]
        if not passed:
            raise MicroPythonFailure(report)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython: %s" % excinfo.value
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "micropython: %s" % self.name
