"""A throwaway PostgreSQL server for the station's tests and benchmarks.

    with ThrowawayPostgres() as server:          # initdb + start in a temp dir (about 1 s)
        url = server.create_database("t1")       # postgresql://postgres@/t1?host=/tmp/...
        ...
                                                 # stopped and deleted on exit

The server listens only on a unix socket inside its temp dir (no TCP port to collide with),
trusts local connections, and runs with fsync off: it is for tests, never for data. Binaries are
found on PATH or in Debian's /usr/lib/postgresql/<version>/bin; when there are none and we are
root (CI), Debian's `postgresql` package is installed with apt-get. initdb and postgres refuse to
run as root, so as root they run as the `postgres` user (or `nobody`), which owns the temp dir.

Environment: CONC_TEST_POSTGRES_URL=postgresql://... uses that server instead (it must allow
CREATE DATABASE); CONC_SKIP_POSTGRES=1 lets developers skip PostgreSQL tests explicitly.
`python -m host_tools.station.pgtest` starts one and prints its URL until Ctrl-C.
"""
import atexit
import contextlib
import fcntl
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

ENV_URL = "CONC_TEST_POSTGRES_URL"
ENV_SKIP = "CONC_SKIP_POSTGRES"
TOOLS = ("initdb", "pg_ctl", "postgres")
INSTALL_LOCK = os.path.join(tempfile.gettempdir(), "conc-postgresql-install.lock")
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "50",
    "max_wal_size": "1GB",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started; the message says why and what to do."""


def skip_requested():
    return os.environ.get(ENV_SKIP, "").strip() not in ("", "0", "no", "false")


def _version_key(path):
    match = re.search(r"/postgresql/(\d+)", path)
    return int(match.group(1)) if match else 0


def find_binaries():
    """The folder holding initdb, pg_ctl and postgres, or None."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates.append(os.path.dirname(os.path.realpath(found)))
        candidates.append(os.path.dirname(found))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for folder in candidates:
        if all(os.access(os.path.join(folder, tool), os.X_OK) for tool in TOOLS):
            return folder
    return None


def install_binaries():
    """Install Debian's postgresql package (root only); the binaries' folder."""
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb/pg_ctl/postgres on PATH or in "
            "/usr/lib/postgresql/*/bin): install it (sudo apt-get install postgresql), or set "
            "%s=postgresql://... to use a running server, or %s=1 to skip these tests"
            % (ENV_URL, ENV_SKIP))
    # Test workers start in parallel: one installs, the others wait and then find it.
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        folder = find_binaries()
        if folder:
            return folder
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                         "postgresql"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                raise PostgresUnavailable("`%s` failed (exit %d): %s" % (
                    " ".join(command), done.returncode, done.stderr.strip()[-500:]))
        folder = find_binaries()
        if not folder:
            raise PostgresUnavailable("installed the postgresql package but found no initdb in "
                                      "/usr/lib/postgresql/*/bin")
        return folder


def _server_user():
    """(uid, gid) to run the server as: ourselves, or when root the postgres/nobody user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise PostgresUnavailable("running as root and there is no postgres or nobody user to run "
                              "the PostgreSQL server as")


class _Server:
    """Databases made and dropped on a server, as its superuser."""

    url: str        # the server's maintenance database

    def database_url(self, name):
        """The URL of database `name` on this server."""
        raise NotImplementedError

    def create_database(self, name):
        """Create an empty database; its URL."""
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "%s"' % name)
        return self.database_url(name)

    def drop_database(self, name):
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


class ThrowawayPostgres(_Server):
    """A PostgreSQL server in a temp dir, for one test session.

    durable=True keeps fsync and synchronous commit on, as a production server has them: for
    benchmarks whose figures should mean something.
    """

    def __init__(self, durable=False):
        self.durable = durable
        self.dir = None
        self.bin = None
        self.url = ""          # set by start()
        self._user = None

    def _run(self, tool, *args, timeout=120):
        kwargs = {}
        if self._user:
            kwargs.update(user=self._user[0], group=self._user[1], extra_groups=[])
        done = subprocess.run([os.path.join(self.bin, tool)] + list(args), cwd=self.dir,  # pyright: ignore[reportArgumentType, reportCallIssue] - set once the server is started
                              capture_output=True, text=True, timeout=timeout, **kwargs)
        if done.returncode:
            log = ""
            with contextlib.suppress(OSError):
                with open(os.path.join(self.dir, "server.log")) as f:  # pyright: ignore[reportArgumentType, reportCallIssue] - set once the server is started
                    log = f.read()[-1500:]
            raise PostgresUnavailable("%s failed (exit %d): %s %s %s" % (
                tool, done.returncode, done.stdout.strip()[-800:], done.stderr.strip()[-800:], log))
        return done

    def start(self):
        self.bin = find_binaries() or install_binaries()
        self._user = _server_user()
        # A short path: the unix socket's full name must stay under ~100 characters.
        self.dir = tempfile.mkdtemp(prefix="conc-pg-", dir="/tmp" if os.path.isdir("/tmp")
                                    else None)
        if self._user:
            os.chown(self.dir, *self._user)
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
                  "--encoding=UTF8", "--no-locale")
        settings = dict(SERVER_SETTINGS)
        if self.durable:
            settings.update(fsync="on", synchronous_commit="on", full_page_writes="on")
        options = " ".join("-c %s=%s" % kv for kv in settings.items())
        self._run("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"), "-w",
                  "-t", "60", "-o", "-k %s %s" % (self.dir, options), "start")
        atexit.register(self.stop)
        self.url = self.database_url("postgres")
        return self

    def database_url(self, name):
        return "postgresql://postgres@/%s?host=%s" % (name, self.dir)

    def stop(self):
        if self.dir is None:
            return
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w",
                      "stop", timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ExistingPostgres(_Server):
    """A server the developer named in CONC_TEST_POSTGRES_URL: databases are created on it."""

    def __init__(self, url):
        self.url = url

    def database_url(self, name):
        import psycopg.conninfo
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        params["dbname"] = name
        return psycopg.conninfo.make_conninfo(**params)  # pyright: ignore[reportArgumentType] - the URL's parameters are strings

    def stop(self):
        pass


def server_for_tests(durable=False):
    """The server tests should use: CONC_TEST_POSTGRES_URL's, else a new throwaway one."""
    url = os.environ.get(ENV_URL)
    if url:
        return ExistingPostgres(url)
    return ThrowawayPostgres(durable=durable).start()


def main():
    with ThrowawayPostgres() as server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
