"""The named steps of the speech pipeline and the WebVTT importer, without audio models: how
spans are batched into Whisper passes, how Whisper's words are given to spans, when a span is
transcribed alone, which channel is whose, and how one WebVTT block becomes cues."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from speech import pipeline as p
from speech.importers import vtt_block_cues

SR = p.SR


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def test_pass_batches_keep_each_track_in_order_and_start_a_new_pass_when_full():
    rep, customer = silence(30.0), silence(30.0)
    tracks = [(rep, [(1.0, 2.0), (5.0, 6.0)]), (customer, [(0.0, 1.0)])]
    batches = p.pass_batches(tracks, pass_s=2.0)
    assert [[(t, j) for t, j, _ in b] for b in batches] == [[(0, 0)], [(0, 1)], [(1, 0)]]  # each padded span is 1.3 s
    assert [piece.size for _, _, piece in batches[0]] == [int(2.15 * SR) - int(0.85 * SR)]
    assert batches[2][0][2].size == int(1.15 * SR)  # no padding before 0 s
    one = p.pass_batches(tracks)
    assert len(one) == 1 and [(t, j) for t, j, _ in one[0]] == [(0, 0), (0, 1), (1, 0)]


def test_pass_batches_of_no_speech_is_no_pass():
    assert p.pass_batches([(silence(1.0), [])]) == []


def word(start, end, text):
    return SimpleNamespace(start=start, end=end, word=text)


def test_assign_words_gives_each_word_to_the_span_its_midpoint_is_in():
    segments = [SimpleNamespace(words=[word(0.1, 0.5, " Hi"), word(1.8, 2.2, " there")]),
                SimpleNamespace(words=None), SimpleNamespace(words=[word(2.5, 2.9, " why")])]
    starts = np.array([0.0, 2.1])
    assert p.assign_words(segments, starts, 2) == [[" Hi", " there"], [" why"]]  # " there" is centred at 2.0 s, before span 1
    assert p.assign_words([SimpleNamespace(words=[word(0.0, 0.0, "x")])], np.array([0.5]), 1) == [["x"]]  # before the first span: the first


class FakeWhisper:
    """Returns the scripted segments, one list per transcribe call, and records the calls."""

    def __init__(self, *replies):
        self.replies, self.calls = list(replies), []

    def transcribe(self, audio, **kw):
        self.calls.append((audio.size, kw))
        return iter(self.replies.pop(0)), None


def test_an_empty_span_of_half_a_second_or_more_is_transcribed_alone():
    batch = [(0, 0, silence(1.0)), (0, 1, silence(1.0)), (1, 0, silence(0.2))]
    whisper = FakeWhisper([SimpleNamespace(words=[word(0.2, 0.4, " Hello")])],  # the pass: words only in span 0
                          [SimpleNamespace(text=" alone ")])  # span 1 again, alone
    assert p._transcribe_pass(whisper, batch, "en") == ["Hello", "alone", ""]  # span 2 is too short to retry
    (size, first), (alone, second) = whisper.calls
    assert size == int(2.2 * SR) and first["word_timestamps"] and first["initial_prompt"] is None
    assert alone == SR and second["without_timestamps"]


def test_transcribe_into_turns_puts_each_text_in_its_track_and_span():
    tracks = [(silence(10.0), [(1.0, 2.0)]), (silence(10.0), [(3.0, 4.0), (6.0, 7.0)])]
    whisper = FakeWhisper([SimpleNamespace(words=[word(0.5, 0.7, "你好"), word(1.5, 1.7, "为什么"), word(2.9, 3.1, "因为")])])
    # padded spans of 1.3 s laid end to end: the pass starts them at 0, 1.3 and 2.6 s
    assert p._transcribe_into_turns(whisper, tracks, "zh") == [["你好"], ["为什么", "因为"]]
    assert whisper.calls[0][1]["initial_prompt"] == p.ZH_PROMPT


def test_channel_tracks_follow_the_rep_channel_and_a_mono_call_has_one_unknown_track():
    left, right = silence(0.1), silence(0.2)
    assert [s for _, s in p.channel_tracks(left, right, stereo=True, rep_channel="left")] == ["rep", "customer"]
    assert [s for _, s in p.channel_tracks(left, right, stereo=True, rep_channel="right")] == ["customer", "rep"]
    mono = p.channel_tracks(left, None, stereo=False, rep_channel="left")
    assert len(mono) == 1 and mono[0][0] is left and mono[0][1] == "unknown"


def test_requested_language_and_recording_notes():
    assert p.requested_language("zh", "base") == "zh"
    assert p.requested_language("auto", "base") is None
    assert p.requested_language("auto", "tiny.en") == "en"
    assert p.recording_notes(stereo=True) == []
    assert p.recording_notes(stereo=False)[0].startswith("mono recording")


def test_vtt_block_cues_reads_voices_after_the_timing_line():
    block = "12\n00:00:01.500 --> 00:00:03.000\n<v Zhou Min>我们最头疼的是\n维修太慢</v>"
    assert vtt_block_cues(block) == [("Zhou Min", 1.5, 3.0, "我们最头疼的是 维修太慢")]
    assert vtt_block_cues("00:01.000 --> 00:02.500\n<b>no</b> voice tag") == [("", 1.0, 2.5, "no voice tag")]
    assert vtt_block_cues("NOTE a comment") == []
    assert vtt_block_cues("00:01.000 --> 00:02.500") == []  # a timing without text
