"""`repcopilot calls analyze / ingest` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from speech.synth import build_call, tools_missing
from tests.cli.test_cli import run

VTT = Path(__file__).parents[1] / "speech" / "data" / "teams-meeting.vtt"


def test_analyze_a_teams_transcript_prints_turns_and_metrics_as_json(tmp_path):
    out = json.loads(run("--home", str(tmp_path), "calls", "analyze", str(VTT), "--rep-speaker", "Wei Zhang", "--json").stdout)
    assert set(out) >= {"duration_s", "language", "turns", "metrics"}
    assert out["language"] == "en" and out["turns"][0] == {"speaker": "rep", "start_s": 1.12, "end_s": 4.38,
                                                           "text": out["turns"][0]["text"]}
    assert out["metrics"]["why_question_count"] == 1


@pytest.mark.slow
@pytest.mark.skipif(tools_missing() is not None, reason=tools_missing() or "")
def test_ingest_stores_calls_once_reports_bad_files_and_goes_on(demo_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    audio, _ = build_call([("rep", "Why is downtime so costly for you?", 0.0),
                           ("customer", "Our biggest headache is unplanned downtime.", 0.8)], "en", tmp_path / "a", "c1")
    bad = tmp_path / "a" / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEnot really")
    env = {"REPCOPILOT_WHISPER_MODEL": "tiny.en"}
    first = run("--home", str(home), "calls", "ingest", str(audio), str(bad), str(VTT), "--rep", "zhangwei",
                "--language", "en", "--rep-speaker", "Wei Zhang", env=env)
    assert "2 ingested, 0 skipped, 1 failed" in first.stdout
    assert "broken.wav" in first.stderr and "convert" in first.stderr
    again = run("--home", str(home), "calls", "ingest", str(audio), str(VTT), "--rep", "zhangwei", "--language", "en",
                "--rep-speaker", "Wei Zhang", env=env)
    assert "0 ingested, 2 skipped, 0 failed" in again.stdout
    stats = json.loads(run("--home", str(home), "demo", "stats", "--json").stdout)
    assert stats["calls"] == 202


def test_the_detector_eval_reports_precision_and_recall_per_language_on_200_plus_utterances():
    report = json.loads(run("eval", "detectors", "--json").stdout)["detectors"]
    assert report["utterances"] >= 200
    for lang in ("zh", "en"):
        for label in ("is_question", "is_why", "is_open", "is_pain_point"):
            figures = report["by_language"][lang][label]
            assert 0 <= figures["precision"] <= 1 and 0 <= figures["recall"] <= 1 and figures["positives"] > 5


def test_the_readme_metric_table_is_generated_from_the_speech_registry():
    from speech.registry import markdown_table

    assert markdown_table() in (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
