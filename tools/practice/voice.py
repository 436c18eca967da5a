"""A recorded rep turn through the speech pipeline: the pause before the rep starts speaking and
the turn's duration come from Silero VAD (as on a real call), the text from faster-whisper in the
scenario's language. The recording starts when the customer's line has finished playing."""

from __future__ import annotations

from pathlib import Path

from core.lang import pick
from speech.errors import BadAudioError


def transcribe_turn(path: Path, language: str, *, home: Path | None, model: str = "base") -> tuple[str, float, float]:
    """(text, pause before speech in seconds, speaking duration in seconds) of one recorded turn."""
    from speech.pipeline import analyze_file

    if home is None:
        raise BadAudioError("voice practice needs a data home for the speech model; run with --home PATH")
    analysis = analyze_file(Path(path), rep_channel="left", language=language, model=model, home=Path(home))
    turns = _one_voice([t for t in analysis.turns if t.text.strip()] or analysis.turns)
    text = pick(language, "", " ").join(t.text.strip() for t in turns).strip()
    if not text:
        raise BadAudioError(f"{Path(path).name}: no words were recognised; record the turn again, closer to the microphone")
    return text, round(turns[0].start_s, 3), round(turns[-1].end_s - turns[0].start_s, 3)


def _one_voice(turns: list) -> list:
    """A recorded turn has one speaker. A stereo recording from a microphone usually carries the
    same voice on both channels (which the pipeline reads as rep + customer): keep the channel
    with the most speech, so the words are not doubled and the pause is that channel's."""
    by_channel: dict[str, list] = {}
    for t in turns:
        by_channel.setdefault(t.speaker, []).append(t)
    if len(by_channel) < 2:
        return turns
    return max(by_channel.values(), key=lambda ts: (sum(t.end_s - t.start_s for t in ts), ts[0].speaker == "rep"))
