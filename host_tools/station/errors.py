"""What can go wrong in the station's data layer, as exceptions the CLI and the front end map.

Every message says what was wrong and what to do; none contains a password (database URLs are
shown with their password replaced by `***`).
"""


class StationError(Exception):
    """Base class: a problem with the station's database or with the data given to it."""


class BadDatabaseUrl(StationError):
    """The --db URL is not one the station can open."""


class DatabaseUnavailable(StationError):
    """The database cannot be reached or opened (server down, file unwritable, locked)."""


class SchemaMismatch(StationError):
    """The database was made by a newer station version, or is not a station database."""


class UnknownTerminal(StationError):
    """No registered terminal matches the given reference."""


class UnknownMeter(StationError):
    """No measuring point matches the given meter address or terminal:pn."""


class DuplicateTerminal(StationError):
    """A terminal with the same A1/A2 (or name) is already registered."""


class InvalidValue(StationError):
    """A value given to the station is malformed or out of range (nothing was stored)."""


class TerminalHasData(StationError):
    """Removing the terminal would delete stored data and the caller did not ask for that."""
