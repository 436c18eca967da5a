"""Audio → speaker turns → metrics.

Timing comes from Silero VAD run on each channel (a stereo call recording has the rep on
one channel and the customer on the other); text comes from Whisper transcribing each
channel's speech once, its words assigned to the VAD turns by time. Whisper's own word
timestamps stretch across silences by 0.2–0.8 s, so they only decide *which* turn a word
belongs to, never when a turn starts or ends.

Long files are processed in windows (``WINDOW_S``) decoded one at a time, so memory stays
flat with duration; turns cut by a window edge are joined again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speech.errors import BadAudioError
from speech.metrics import compute_metrics
from speech.models import ensure_model, load_whisper
from speech.turns import Turn

SR = 16000
WINDOW_S = 300.0
MERGE_GAP_S = 0.6  # same-speaker speech closer than this is one turn
MIN_TURN_S = 0.25
ZH_PROMPT = "以下是普通话销售电话的简体中文转写。"  # steers Whisper to simplified characters
Progress = Callable[[float, float], None]


@dataclass
class CallAnalysis:
    duration_s: float
    language: str
    channels: int
    speaker_separation: bool
    turns: list[Turn]
    metrics: dict[str, float | int | None]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "duration_s": round(self.duration_s, 3), "language": self.language,
            "turns": [t.to_json() for t in self.turns], "metrics": self.metrics,
            "speaker_separation": self.speaker_separation, "channels": self.channels, "notes": self.notes,
        }


def _vad_options():
    from faster_whisper.vad import VadOptions

    # no padding: padding would move every onset earlier and every end later
    return VadOptions(threshold=0.5, min_speech_duration_ms=150, min_silence_duration_ms=300, speech_pad_ms=0)


def probe(path: Path) -> tuple[int, float]:
    """(channels, duration in seconds) — or a BadAudioError that says what to do."""
    import av

    if not path.is_file():
        raise BadAudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadAudioError(f"{path.name} is empty (0 bytes); record or export the call again")
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise BadAudioError(f"{path.name} has no audio stream; give a WAV, MP3, M4A or OGG recording")
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels or 1
            duration = float(stream.duration * stream.time_base) if stream.duration else (
                container.duration / 1_000_000 if container.duration else 0.0)
    except BadAudioError:
        raise
    except Exception as exc:  # noqa: BLE001 — PyAV raises many kinds; all mean "cannot decode"
        raise BadAudioError(f"{path.name} is not audio that can be decoded ({type(exc).__name__}); "
                            "convert it to WAV, MP3, M4A or OGG") from None
    return channels, duration


def _windows(path: Path, stereo: bool) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
    """(offset_s, left_or_mono, right) windows of 16 kHz float32 audio, decoded as a stream."""
    import av

    layout = "stereo" if stereo else "mono"
    resampler = av.audio.resampler.AudioResampler(format="s16", layout=layout, rate=SR)
    per_window = int(WINDOW_S * SR)
    buf: list[np.ndarray] = []
    have = 0
    offset = 0.0

    def emit(block: np.ndarray):
        audio = block.astype(np.float32) / 32768.0
        if stereo:
            return audio[0::2], audio[1::2]
        return audio, None

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    buf.append(arr)
                    have += arr.size // (2 if stereo else 1)
                    if have >= per_window:
                        block = np.concatenate(buf)
                        take = per_window * (2 if stereo else 1)
                        left, right = emit(block[:take])
                        yield offset, left, right
                        offset += WINDOW_S
                        rest = block[take:]
                        buf, have = ([rest], rest.size // (2 if stereo else 1)) if rest.size else ([], 0)
            for out in resampler.resample(None):
                arr = out.to_ndarray().reshape(-1)
                buf.append(arr)
    except Exception as exc:  # noqa: BLE001
        raise BadAudioError(f"{path.name} could not be decoded to the end ({type(exc).__name__}); "
                            "the file may be truncated — export it again") from None
    if buf:
        block = np.concatenate(buf)
        if block.size:
            left, right = emit(block)
            yield offset, left, right


def _speech_spans(audio: np.ndarray) -> list[tuple[float, float]]:
    from faster_whisper.vad import get_speech_timestamps

    spans = [(s["start"] / SR, s["end"] / SR) for s in get_speech_timestamps(audio, _vad_options())]
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < MERGE_GAP_S:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= MIN_TURN_S]


def _pick_language(model, audio: np.ndarray, spans: list[tuple[float, float]]) -> str:
    """zh or en, detected once on up to 30 s of speech (auto-detection of all languages called
    synthetic Mandarin Thai, so the choice is restricted to the two the product speaks)."""
    pieces, total = [], 0.0
    for a, b in spans:
        pieces.append(audio[int(a * SR):int(b * SR)])
        total += b - a
        if total >= 30:
            break
    sample = np.concatenate(pieces) if pieces else audio[: 30 * SR]
    _, info = model.transcribe(sample, language=None, beam_size=1, without_timestamps=True,
                               condition_on_previous_text=False, vad_filter=False)
    probs = dict(info.all_language_probs or [])
    return "zh" if probs.get("zh", 0.0) > probs.get("en", 0.0) else "en"


def _transcribe_into_turns(model, audio: np.ndarray, spans: list[tuple[float, float]], language: str) -> list[str]:
    """Text for each span: one Whisper pass over the channel's speech (the spans' audio
    concatenated — the VAD already ran, so Whisper's own VAD is not run again), words
    assigned to spans by where they fall."""
    if not spans:
        return []
    pad = 0.15
    pieces, starts = [], []  # starts: position of each span's padded audio inside the concatenation
    cursor = 0.0
    for a, b in spans:
        lo, hi = int(max(0.0, a - pad) * SR), int(min(len(audio) / SR, b + pad) * SR)
        pieces.append(audio[lo:hi])
        starts.append(cursor)
        cursor += (hi - lo) / SR
    joined = np.concatenate(pieces)
    segments, _ = model.transcribe(
        joined, language=language, beam_size=1, condition_on_previous_text=False, word_timestamps=True,
        temperature=0.0,  # no temperature fallback: it multiplies the cost on hard audio
        initial_prompt=ZH_PROMPT if language == "zh" else None, vad_filter=False,
    )
    texts: list[list[str]] = [[] for _ in spans]
    for seg in segments:
        for w in seg.words or []:
            mid = (w.start + w.end) / 2
            i = max(0, np.searchsorted(starts, mid, side="right") - 1)
            texts[i].append(w.word)
    return ["".join(ws).strip() for ws in texts]  # Whisper's words carry their own leading spaces


def analyze_file(
    path: Path,
    *,
    rep_channel: str = "left",
    language: str = "auto",
    model: str = "base",
    home: Path,
    on_progress: Progress | None = None,
) -> CallAnalysis:
    path = Path(path)
    channels, duration = probe(path)
    stereo = channels >= 2
    whisper = load_whisper(str(ensure_model(model, home)))
    if model == "tiny.en" and language == "zh":
        raise BadAudioError("the tiny.en model only transcribes English; use --language en or REPCOPILOT_WHISPER_MODEL=base")
    turns: list[Turn] = []
    lang = language if language in ("zh", "en") else ("en" if model == "tiny.en" else None)
    total = duration or 0.0
    seen_audio = False
    end_s = 0.0
    for offset, left, right in _windows(path, stereo):
        seen_audio = seen_audio or left.size > 0
        end_s = offset + left.size / SR
        tracks = [(left, "rep" if rep_channel == "left" else "customer")]
        if stereo:
            tracks.append((right, "customer" if rep_channel == "left" else "rep"))
        else:
            tracks = [(left, "unknown")]
        spans_by_track = [(_speech_spans(audio), audio, speaker) for audio, speaker in tracks]
        if lang is None:
            richest = max(spans_by_track, key=lambda t: sum(b - a for a, b in t[0]))
            if richest[0]:
                lang = _pick_language(whisper, richest[1], richest[0])
        for spans, audio, speaker in spans_by_track:
            for (a, b), text in zip(spans, _transcribe_into_turns(whisper, audio, spans, lang or "en")):
                turns.append(Turn(speaker, round(offset + a, 3), round(offset + b, 3), text))
        if on_progress:
            on_progress(min(end_s, total or end_s), total or end_s)
    if not seen_audio:
        raise BadAudioError(f"{path.name} contains no audio samples; record or export the call again")
    turns = _join_across_windows(sorted(turns, key=lambda t: t.start_s))
    if not turns:
        raise BadAudioError(f"{path.name} is silent: no speech was found; check the recording's volume and channels")
    lang = lang or "en"
    notes = []
    if not stereo:
        notes.append("mono recording: rep and customer cannot be told apart, so metrics that need speakers are "
                     "unavailable; use a stereo recording (rep and customer on separate channels)")
    return CallAnalysis(duration_s=duration or end_s, language=lang, channels=channels, speaker_separation=stereo,
                        turns=turns, metrics=compute_metrics(turns, lang), notes=notes)


def _join_across_windows(turns: list[Turn]) -> list[Turn]:
    out: list[Turn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start_s - out[-1].end_s < MERGE_GAP_S \
                and abs((t.start_s % WINDOW_S)) < 0.05:
            prev = out.pop()
            out.append(Turn(prev.speaker, prev.start_s, t.end_s, (prev.text + " " + t.text).strip()))
        else:
            out.append(t)
    return out
