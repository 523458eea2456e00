"""Bad input to the CLI gets one line naming what was wrong and its exit code, never a
traceback, and never a password (issue 15's list of tracebacks, each a regression test)."""
import pytest
from click.testing import CliRunner

from host_tools.cli import conc
from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE
from host_tools.station.repository import open_station


def one_error(args, code, env=None):
    """Run `conc ARGS`; assert one `Error:` line with exit `code`; return it."""
    result = CliRunner().invoke(conc, list(args), env=env)
    assert result.exit_code == code, (result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture
def station_url(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "station.db")
    with open_station(url) as station:
        station.add_terminal("4101", 1, "00", name="yard")
    return url


def test_readings_at_the_end_of_time(station_url):
    line = one_error(["station", "readings", "--meter", "yard:1", "--to", "9999-12-31",
                      "--db", station_url], EXIT_BAD_INPUT)
    assert "9999-12-31" in line and "out of range" in line


@pytest.mark.parametrize("url", [
    "postgresql://station:hunter2@nosuchhost.invalid/x",
    "postgresql://station:hunter2@127.0.0.1:1/x",
    "postgresql://station:hunter2@db:notaport/x",
    "postgresql://station:hunter2@[::1/x",
])
def test_a_bad_postgresql_url_never_shows_its_password(url):
    result = CliRunner().invoke(conc, ["station", "status", "--db", url])
    assert result.exit_code in (EXIT_DEVICE, EXIT_BAD_INPUT), result.output
    assert "hunter2" not in result.output and "***" in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


@pytest.mark.parametrize("command", [["status"], ["readings", "--meter", "yard:1"],
                                     ["migrate"], ["migrate", "--check"], ["terminals", "list"]])
def test_a_truncated_sqlite_file(station_url, command):
    path = station_url[len("sqlite:///"):]
    with open(path, "r+b") as f:
        f.truncate(5000)
    line = one_error(["station"] + command + ["--db", station_url], EXIT_DEVICE)
    assert "not an intact SQLite database" in line


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    line = one_error(["station", "status", "--db", "sqlite:///%s" % path], EXIT_DEVICE)
    assert "not an intact SQLite database" in line


def test_meters_import_with_extra_columns(tmp_path):
    csv = tmp_path / "meters.csv"
    csv.write_text("point,address\n1,000000000001\n2,000000000002,9600,oops\n")
    line = one_error(["meters", "import", str(csv), "--port", "/nonexistent"], EXIT_BAD_INPUT)
    assert "line 3 has more fields than the header" in line


def test_meters_import_that_is_not_utf8(tmp_path):
    csv = tmp_path / "meters.csv"
    csv.write_bytes("point,address,map\n1,000000000001,电表\n".encode("gbk"))
    line = one_error(["meters", "import", str(csv), "--port", "/nonexistent"], EXIT_BAD_INPUT)
    assert "not UTF-8" in line


def test_config_import_of_a_binary_file(tmp_path):
    blob = tmp_path / "settings.json"
    blob.write_bytes(bytes(range(256)) * 4)
    line = one_error(["config", "import", str(blob), "--port", "/nonexistent"], EXIT_BAD_INPUT)
    assert "not a settings file" in line
    blob.write_bytes(b"{\x00\x00}")
    assert "binary" in one_error(["config", "import", str(blob), "--port", "/nonexistent"],
                                 EXIT_BAD_INPUT)


@pytest.mark.parametrize("fmt,name", [("csv", "x.csv"), ("json", "x.json"), ("sqlite", "x.db")])
def test_pull_into_a_folder_that_does_not_exist(fmt, name):
    line = one_error(["pull", "-o", "/nonexistent/" + name, "--format", fmt,
                      "--port", "/nonexistent"], EXIT_BAD_INPUT)
    assert "/nonexistent/" + name in line and "folder" in line


@pytest.mark.parametrize("name", ["\x1b[2J\x1b[Hyard", "bell\x07", "tab\there", "nl\nx"])
def test_terminal_names_with_control_characters(station_url, name):
    line = one_error(["station", "terminals", "add", "--area", "4101", "--address", "2",
                      "--password", "00", "--name", name, "--db", station_url], EXIT_BAD_INPUT)
    assert "control characters" in line and "\x1b" not in line
