"""Voice practice: a recorded rep turn goes through the speech pipeline (Silero VAD + faster-whisper)
like a real call — the words are recognised well enough to be classified, and the pause before the
rep speaks is the silence in the recording, not a guess. Synthesized English speech (espeak-ng):
the Mandarin voice is not recognisable by Whisper."""

from __future__ import annotations

import wave
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from agent.practice import end_session, rep_turn, start_session
from core.errors import UserInputError
from speech.synth import SR, say, tools_missing
from tests.tools.conftest import make_ctx
from tools.practice.voice import transcribe_turn

pytestmark = pytest.mark.skipif(tools_missing() is not None, reason=tools_missing() or "")


def _recording(folder: Path, text: str | None, pause_s: float, *, stereo: bool = False, name: str = "turn") -> Path:
    """A rep turn as a microphone records it: it starts when the customer's line has finished, so
    ``pause_s`` of silence, then the rep's words (none: silence only), then a short tail."""
    speech = say(text, "en", folder / f"{name}-speech.wav") if text else np.zeros(0, np.float32)
    data = np.concatenate([np.zeros(int(pause_s * SR), np.float32), speech, np.zeros(int(0.5 * SR), np.float32)])
    if stereo:  # the same voice on both channels, as many recorders write a mono microphone
        data = np.stack([data, data], axis=1).reshape(-1)
    path = folder / f"{name}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2 if stereo else 1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(data, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


@pytest.fixture
def voice_ctx(demo_session, tmp_path):
    return make_ctx(demo_session, "davidchen", home=tmp_path, language="en", now=datetime(2026, 11, 20, 10))


def test_a_recorded_why_question_is_classified_and_its_pause_is_the_silence_before_it(voice_ctx, tmp_path):
    sid = start_session(voice_ctx, "hospital-equipment-discovery")["session_id"]
    first = rep_turn(voice_ctx, sid, "Could you walk me through how equipment service works at St. Clare today?")
    assert first["customer"]["text"]
    wav = _recording(tmp_path, "Why does service take so long?", 2.3)
    turn = rep_turn(voice_ctx, sid, audio=wav, whisper_model="tiny.en")
    assert "why" in turn["rep"]["text"].lower() and turn["rep"]["kind"] == "why_question"
    assert turn["rep"]["pause_s"] == pytest.approx(2.3, abs=0.15)
    result = end_session(voice_ctx, sid)
    rep_turns = [t for t in result["transcript"] if t["speaker"] == "rep"]
    assert rep_turns[1]["pause_s"] == turn["rep"]["pause_s"]
    # the measured pause places the turn on the session's timeline and feeds the call metrics
    customer_before = result["transcript"][rep_turns[1]["idx"] - 2]
    assert rep_turns[1]["start_s"] == pytest.approx(customer_before["end_s"] + turn["rep"]["pause_s"], abs=0.002)
    assert result["scores"]["pauses_measured"] is True and result["scores"]["metrics"]["patience_s"] is not None


@pytest.mark.parametrize("pause_s", [0.6, 3.2])
def test_the_measured_pause_follows_the_recording_short_or_long(tmp_path, pause_s):
    text, measured, duration = transcribe_turn(_recording(tmp_path, "What does a breakdown cost you today?", pause_s),
                                               "en", home=tmp_path, model="tiny.en")
    assert measured == pytest.approx(pause_s, abs=0.15) and "today" in text.lower() and 1.0 < duration < 4.0


def test_a_stereo_recording_of_one_microphone_is_one_voice_not_two(tmp_path):
    text, measured, _ = transcribe_turn(_recording(tmp_path, "Why is this becoming a priority now?", 1.8, stereo=True),
                                        "en", home=tmp_path, model="tiny.en")
    assert text.lower().count("priority") == 1 and measured == pytest.approx(1.8, abs=0.15)


def test_a_silent_recording_is_refused_with_advice_and_adds_no_turn(voice_ctx, tmp_path):
    sid = start_session(voice_ctx, "hospital-equipment-discovery")["session_id"]
    with pytest.raises(UserInputError) as err:
        rep_turn(voice_ctx, sid, audio=_recording(tmp_path, None, 2.0, name="silence"), whisper_model="tiny.en")
    assert "silent" in str(err.value) or "no words" in str(err.value)
    assert len(end_session(voice_ctx, sid)["transcript"]) == 1
