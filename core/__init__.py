"""Process-wide basics shared by every room: settings, the error hierarchy, the clock."""

from core.errors import ConfigError, NotFoundError, PermissionDenied, RepcopilotError, UserInputError
from core.settings import Settings, get_settings

__all__ = [
    "ConfigError",
    "NotFoundError",
    "PermissionDenied",
    "RepcopilotError",
    "Settings",
    "UserInputError",
    "get_settings",
]
