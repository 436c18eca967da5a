"""A recorded rep turn through the speech pipeline: the pause before the rep starts speaking and
the turn's duration come from Silero VAD (as on a real call), the text from faster-whisper in the
scenario's language. The recording starts when the customer's line has finished playing."""

from __future__ import annotations

from pathlib import Path

from speech.errors import BadAudioError


def transcribe_turn(path: Path, language: str, *, home: Path | None, model: str = "base") -> tuple[str, float, float]:
    """(text, pause before speech in seconds, speaking duration in seconds) of one recorded turn."""
    from speech.pipeline import analyze_file

    if home is None:
        raise BadAudioError("voice practice needs a data home for the speech model; run with --home PATH")
    analysis = analyze_file(Path(path), rep_channel="left", language=language, model=model, home=Path(home))
    turns = [t for t in analysis.turns if t.text.strip()] or analysis.turns
    text = ("" if language == "zh" else " ").join(t.text.strip() for t in turns).strip()
    if not text:
        raise BadAudioError(f"{Path(path).name}: no words were recognised; record the turn again, closer to the microphone")
    return text, round(turns[0].start_s, 3), round(turns[-1].end_s - turns[0].start_s, 3)
