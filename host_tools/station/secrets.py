"""Terminal passwords at rest: sealed with a key kept in a file outside the database.

The station must send each terminal's PW in downlink frames, so it keeps the PW itself (a hash
would not do); a copy of the database (a backup, a dump, a stolen file) must not give them away.
So the `terminals.password` column holds `fernet:TOKEN` (cryptography's Fernet: AES-128-CBC
with an HMAC-SHA256, a fresh IV each time) and the key lives in a key file:

- `CONC_STATION_KEY` names it; otherwise it is the database file plus `.key` for SQLite
  (`station.db` -> `station.db.key`) and `~/.config/conc/station.key` for PostgreSQL (every
  station process of one database needs the same file).
- It is created 0600 on first use (exclusively: two processes starting together agree on one
  key) and read thereafter. Lose it and the PWs must be set again
  (`conc station terminals set-password`); keep it out of database backups.

A PW stored in clear by an older station (32 hex digits) is still read, and sealed when a
station opens the database for writing.
"""
import base64
import os
import threading

from host_tools.station.errors import StationError

ENV_KEY = "CONC_STATION_KEY"
PREFIX = "fernet:"


class KeyFileError(StationError):
    """The key file cannot be read or created, or it does not open the stored passwords."""


def default_key_path(dialect, target):
    """Where the key file is when CONC_STATION_KEY does not say (see the module's doc)."""
    if os.environ.get(ENV_KEY):
        return os.environ[ENV_KEY]
    if dialect == "sqlite" and target != ":memory:":
        return target + ".key"
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(home, "conc", "station.key")


def is_sealed(stored):
    return stored.startswith(PREFIX)


class PasswordBox:
    """Seals and opens terminal passwords with the key in `path` (loaded on first use)."""

    def __init__(self, path):
        self.path = path
        self._fernet = None
        self._lock = threading.Lock()

    def _key(self):
        with self._lock:
            if self._fernet is None:
                from cryptography.fernet import Fernet
                self._fernet = Fernet(self._read_or_create())
            return self._fernet

    def _read_or_create(self):
        try:
            with open(self.path, "rb") as f:
                key = f.read().strip()
        except FileNotFoundError:
            key = self._create()
        except OSError as exc:
            raise KeyFileError("cannot read the station's key file %s (%s): check "
                               "CONC_STATION_KEY and its permissions" % (self.path, exc.strerror)
                               ) from None
        try:
            if len(base64.urlsafe_b64decode(key)) != 32:
                raise ValueError
        except ValueError:
            raise KeyFileError("%s is not a station key file (it must hold one Fernet key): "
                               "check CONC_STATION_KEY" % self.path) from None
        return key

    def _create(self):
        from cryptography.fernet import Fernet
        key = Fernet.generate_key()
        folder = os.path.dirname(self.path)
        try:
            if folder:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:             # another process made it meanwhile: use theirs
            with open(self.path, "rb") as f:
                return f.read().strip()
        except OSError as exc:
            raise KeyFileError("cannot create the station's key file %s (%s): set "
                               "CONC_STATION_KEY to a writable place" % (self.path, exc.strerror)
                               ) from None
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return key

    def seal(self, hexed):
        """The stored form of a normalised PW (32 hex digits)."""
        return PREFIX + self._key().encrypt(hexed.encode("ascii")).decode("ascii")

    def open(self, stored, label=""):
        """The PW (32 hex digits) from its stored form (sealed, or clear from an older station)."""
        if not is_sealed(stored):
            return stored
        from cryptography.fernet import InvalidToken
        try:
            return self._key().decrypt(stored[len(PREFIX):].encode("ascii")).decode("ascii")
        except InvalidToken:
            raise KeyFileError("the password of terminal %s does not open with the key file %s: "
                               "give the key file it was sealed with (CONC_STATION_KEY), or set "
                               "the password again (conc station terminals set-password)"
                               % (label or "?", self.path)) from None
