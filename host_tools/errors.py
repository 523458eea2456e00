"""Errors a `conc` command reports to its user as one line and an exit code.

Exit codes (documented in README.md): 0 success, 1 the operation failed (a meter did not answer,
a frame did not decode, a transfer failed), 2 usage error (click's own), 3 a device or port is
missing or busy, 4 bad data in a file or value given by the user, 130 interrupted.
"""
import click

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_BAD_INPUT = 4


class CliError(click.ClickException):
    """What went wrong and what to do about it, in one message."""

    def __init__(self, message, exit_code=EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code  # pyright: ignore[reportAttributeAccessIssue] - click's exit_code is an instance attribute
