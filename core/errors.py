"""A small exception hierarchy whose messages tell the user how to fix the problem.

The CLI and the API print ``str(error)`` as-is: every message names what went wrong
and what to do about it, in one line.
"""

from __future__ import annotations


class RepcopilotError(Exception):
    """Base class of every error a user can act on."""

    exit_code = 1


class ConfigError(RepcopilotError):
    """A setting is missing, invalid or points at something unusable."""

    exit_code = 2


class UserInputError(RepcopilotError):
    """An argument, file or question the user gave cannot be used as it is."""

    exit_code = 2


class NotFoundError(RepcopilotError):
    """A named record (user, lead, call …) does not exist."""

    exit_code = 3


class PermissionDenied(RepcopilotError):
    """The asking user may not see or change this record."""

    exit_code = 4
