"""The CLI's outcomes: one exit code each, as documented in the README."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes of the `pushgate` command."""

    SUCCEEDED = 0
    FAILED = 1
    INVALID = 2
    TIMEOUT = 3
    UNAUTHORISED = 4
    CANCELLED = 5
    UNAVAILABLE = 6
    INTERRUPTED = 130


class CliError(Exception):
    """An error that ends the command with `code`, after printing its message to stderr."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
