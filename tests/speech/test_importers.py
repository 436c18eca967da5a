"""Existing transcripts: a Teams-style WebVTT file and JSON turn lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speech import compute_metrics
from speech.errors import SpeechError
from speech.importers import read_json_turns, read_vtt

VTT = Path(__file__).with_name("data") / "teams-meeting.vtt"


def test_a_teams_vtt_becomes_rep_and_customer_turns_with_cue_timings():
    turns = read_vtt(VTT, rep_speaker="Wei Zhang")
    assert [t.speaker for t in turns] == ["rep", "customer", "rep", "customer", "rep"]
    assert turns[1].start_s == pytest.approx(5.01) and turns[1].end_s == pytest.approx(11.2)  # two cues joined
    assert "procurement" in turns[1].text
    m = compute_metrics(turns, "en")
    assert m["pain_point_pause_s"] == pytest.approx(13.5 - 11.2)
    assert m["why_question_count"] == 1


def test_a_rep_name_not_in_the_transcript_lists_the_speakers_found():
    with pytest.raises(SpeechError, match="Anna Müller, Wei Zhang"):
        read_vtt(VTT, rep_speaker="David Chen")


def test_a_file_that_is_not_webvtt_is_refused_with_advice(tmp_path):
    bad = tmp_path / "x.vtt"
    bad.write_text("hello")
    with pytest.raises(SpeechError, match="not a WebVTT"):
        read_vtt(bad)


def test_json_turns_with_named_speakers_are_mapped_by_the_rep_name(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"speaker": "张伟", "start_s": 0, "end_s": 2, "text": "为什么现在要换"},
                             {"speaker": "李主任", "start_s": 2.5, "end_s": 5, "text": "维修太慢了"}], ensure_ascii=False))
    turns = read_json_turns(f, rep_speaker="张伟")
    assert [t.speaker for t in turns] == ["rep", "customer"]


def test_json_that_is_not_a_turn_list_says_what_is_expected(tmp_path):
    f = tmp_path / "t.json"
    f.write_text('{"hello": 1}')
    with pytest.raises(SpeechError, match="list of turns"):
        read_json_turns(f)
