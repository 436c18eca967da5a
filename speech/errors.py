"""Speech errors whose messages say what to do."""

from core.errors import UserInputError


class SpeechError(UserInputError):
    """A recording or transcript cannot be analysed as it is."""


class BadAudioError(SpeechError):
    """Corrupt, empty, unsupported or silent audio."""


class ModelNotFoundError(SpeechError):
    """The configured speech model cannot be found on this machine."""
