"""Audio → speaker turns → metrics.

Timing comes from Silero VAD run on each channel (a stereo call recording has the rep on
one channel and the customer on the other); text comes from one Whisper pass over the
speech of both channels (the rep's spans, then the customer's), its words assigned to the
VAD turns by time. Whisper's own word
timestamps stretch across silences by 0.2–0.8 s, so they only decide *which* turn a word
belongs to, never when a turn starts or ends.

Long files are processed in windows (``WINDOW_S``) decoded one at a time, so memory stays
flat with duration; turns cut by a window edge are joined again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from speech.errors import BadAudioError
from speech.metrics import compute_metrics
from speech.models import ensure_model, load_whisper
from speech.turns import Turn

SR = 16000
WINDOW_S = 120.0  # audio is decoded, VAD-ed and transcribed a window at a time: memory stays flat
PASS_S = 120.0  # at most this much speech per Whisper pass (memory: the spectrogram of the whole pass)
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


def _spans_of_tracks(tracks: list[np.ndarray]) -> list[list[tuple[float, float]]]:
    """Speech spans of each channel. Silero runs single-threaded in onnxruntime (which releases
    the GIL), so the two channels of a stereo call are done in parallel on two threads."""
    if len(tracks) < 2:
        return [_speech_spans(a) for a in tracks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(tracks)) as pool:
        return list(pool.map(_speech_spans, tracks))


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


def _transcribe_into_turns(model, tracks: list[tuple[np.ndarray, list[tuple[float, float]]]],
                           language: str) -> list[list[str]]:
    """Text for each span of each track: Whisper passes over the speech of all tracks (each
    track's spans concatenated, then the next track's — the VAD already ran, so Whisper's own
    VAD is not run again), words assigned to spans by where they fall.

    Few passes instead of one per channel: Whisper encodes fixed 30 s windows, so every pass
    pays for a partly empty last window (measured on the 89 s bench call: 4 encoder windows
    instead of 3, ~12 % of the wall time). A pass holds at most ``PASS_S`` seconds of speech:
    Whisper's feature extraction holds the whole input's spectrogram in memory, so an unbounded
    pass would make memory grow with the call. Keeping each channel's spans together, rather
    than interleaving them in time order, keeps a word that Whisper times across a span
    boundary within the same speaker except at the rep→customer seam (interleaving split
    Mandarin phrases across speakers in the measurements)."""
    texts: list[list[str]] = [[""] * len(spans) for _, spans in tracks]
    for batch in pass_batches(tracks):
        for (t, j, _), text in zip(batch, _transcribe_pass(model, batch, language), strict=True):
            texts[t][j] = text
    return texts


SPAN_PAD_S = 0.15  # audio kept either side of a VAD span when it goes to Whisper


def pass_batches(tracks: list[tuple[np.ndarray, list[tuple[float, float]]]],
                 pass_s: float = PASS_S) -> list[list[tuple[int, int, np.ndarray]]]:
    """The Whisper passes: (track, span, padded audio) of every span, track after track, a new
    pass whenever the current one would exceed ``pass_s`` seconds of audio. No empty pass."""
    batches: list[list[tuple[int, int, np.ndarray]]] = [[]]
    length = 0.0
    for t, (audio, spans) in enumerate(tracks):
        for j, (a, b) in enumerate(spans):
            lo, hi = int(max(0.0, a - SPAN_PAD_S) * SR), int(min(len(audio) / SR, b + SPAN_PAD_S) * SR)
            if batches[-1] and length + (hi - lo) / SR > pass_s:
                batches.append([])
                length = 0.0
            batches[-1].append((t, j, audio[lo:hi]))
            length += (hi - lo) / SR
    return [batch for batch in batches if batch]


def assign_words(segments, starts: np.ndarray, n: int) -> list[list[str]]:
    """Whisper's words of a pass, each given to the span its midpoint falls in (``starts``: each
    span's start within the pass, seconds)."""
    words: list[list[str]] = [[] for _ in range(n)]
    for seg in segments:
        for w in seg.words or []:
            mid = (w.start + w.end) / 2
            words[max(0, int(np.searchsorted(starts, mid, side="right")) - 1)].append(w.word)
    return words


def _transcribe_pass(model, batch: list[tuple[int, int, np.ndarray]], language: str) -> list[str]:
    """The text of each span of one pass (one Whisper call over the spans' audio laid end to end)."""
    starts = np.cumsum([0] + [piece.size for _, _, piece in batch[:-1]]) / SR  # each span's place in the pass
    segments, _ = model.transcribe(
        np.concatenate([piece for _, _, piece in batch]), language=language, beam_size=1,
        condition_on_previous_text=False, word_timestamps=True,
        temperature=0.0,  # no temperature fallback: it multiplies the cost on hard audio
        initial_prompt=ZH_PROMPT if language == "zh" else None, vad_filter=False,
    )
    texts = []
    for (_, _, piece), ws in zip(batch, assign_words(segments, starts, len(batch)), strict=True):
        text = "".join(ws).strip()  # Whisper's words carry their own leading spaces
        if not text and piece.size >= SR // 2:
            text = _transcribe_alone(model, piece, language)
        texts.append(text)
    return texts


def _transcribe_alone(model, piece: np.ndarray, language: str) -> str:
    """Whisper sometimes ends a window early and skips the rest of it (seen on Mandarin: every
    span after the first came back empty): such a span is transcribed alone."""
    segments, _ = model.transcribe(
        piece, language=language, beam_size=1, condition_on_previous_text=False, without_timestamps=True,
        temperature=0.0, initial_prompt=ZH_PROMPT if language == "zh" else None, vad_filter=False)
    return "".join(seg.text for seg in segments).strip()


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
    lang = requested_language(language, model)
    total = duration or 0.0
    seen_audio = False
    end_s = 0.0
    for offset, left, right in _windows(path, stereo):
        seen_audio = seen_audio or left.size > 0
        end_s = offset + left.size / SR
        window_turns, lang = _window_turns(whisper, offset, channel_tracks(left, right, stereo=stereo, rep_channel=rep_channel), lang)
        turns += window_turns
        _release_freed_memory()
        if on_progress:
            on_progress(min(end_s, total or end_s), total or end_s)
    if not seen_audio:
        raise BadAudioError(f"{path.name} contains no audio samples; record or export the call again")
    turns = _join_across_windows(sorted(turns, key=lambda t: t.start_s))
    if not turns:
        raise BadAudioError(f"{path.name} is silent: no speech was found; check the recording's volume and channels")
    lang = lang or "en"
    return CallAnalysis(duration_s=duration or end_s, language=lang, channels=channels, speaker_separation=stereo,
                        turns=turns, metrics=compute_metrics(turns, lang), notes=recording_notes(stereo=stereo))


def requested_language(language: str, model: str) -> str | None:
    """zh or en when asked for (tiny.en: en), None when it is to be detected from the audio."""
    return language if language in ("zh", "en") else ("en" if model == "tiny.en" else None)


def channel_tracks(left: np.ndarray, right: np.ndarray | None, *, stereo: bool,
                   rep_channel: str) -> list[tuple[np.ndarray, str]]:
    """(audio, speaker) of each channel: rep and customer by ``rep_channel`` on a stereo
    recording, one "unknown" track on a mono one."""
    if not stereo:
        return [(left, "unknown")]
    rep_left = rep_channel == "left"
    return [(left, "rep" if rep_left else "customer"), (right, "customer" if rep_left else "rep")]


def _window_turns(whisper, offset: float, tracks: list[tuple[np.ndarray, str]],
                  lang: str | None) -> tuple[list[Turn], str | None]:
    """The turns of one window (times from the start of the file) and the language — detected on
    the window's richest track when still unknown and the window has speech."""
    spans_by_track = _spans_of_tracks([audio for audio, _ in tracks])
    if lang is None:
        lang = _language_of_richest_track(whisper, tracks, spans_by_track)
    texts = _transcribe_into_turns(whisper, [(audio, spans) for (audio, _), spans in zip(tracks, spans_by_track, strict=True)],
                                   lang or "en")
    turns = [Turn(speaker, round(offset + a, 3), round(offset + b, 3), text)
             for (_, speaker), spans, track_texts in zip(tracks, spans_by_track, texts, strict=True)
             for (a, b), text in zip(spans, track_texts, strict=True)]
    return turns, lang


def _language_of_richest_track(whisper, tracks: list[tuple[np.ndarray, str]],
                               spans_by_track: list[list[tuple[float, float]]]) -> str | None:
    """The language detected on the track with the most speech, None when no track has any."""
    spans, (audio, _) = max(zip(spans_by_track, tracks, strict=True), key=lambda st: sum(b - a for a, b in st[0]))
    return _pick_language(whisper, audio, spans) if spans else None


def recording_notes(*, stereo: bool) -> list[str]:
    """What the analysis cannot do with this recording (a mono one cannot tell the speakers apart)."""
    if stereo:
        return []
    return [("mono recording: rep and customer cannot be told apart, so metrics that need speakers are "
             "unavailable; use a stereo recording (rep and customer on separate channels)")]


QUERY_PROMPTS = {  # a short spoken question to the copilot: steer Whisper toward the domain's words
    "zh": "以下是销售向助手提出的问题,涉及线索、赢单率、跟进率、商机、通话复盘和话术。",
    "en": "A sales rep asks the copilot about leads, the win rate, the follow-up rate, pipeline value, calls and playbooks.",
}


def transcribe_query(path: Path, *, language: str, model: str = "base", home: Path) -> str:
    """The text of a short spoken question (a WeCom voice message): one speaker, no turns, so
    beam search and a domain prompt instead of the call pipeline's greedy per-turn decoding —
    "win rate" came back as "wind rate" from greedy decoding of 8 kHz AMR."""
    from faster_whisper import decode_audio

    probe(path)
    whisper = load_whisper(str(ensure_model(model, home)))
    try:
        audio = decode_audio(str(path), sampling_rate=SR)
    except Exception as exc:  # noqa: BLE001 — PyAV raises many kinds; all mean "cannot decode"
        raise BadAudioError(f"{path.name} is not audio that can be decoded ({type(exc).__name__})") from None
    segments, _ = whisper.transcribe(audio, language=language, beam_size=5, condition_on_previous_text=False,
                                     temperature=0.0, initial_prompt=QUERY_PROMPTS.get(language), vad_filter=True)
    return "".join(seg.text for seg in segments).strip()


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library is not glibc."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand the window's freed buffers back to the OS. Without it glibc keeps them per thread
    arena and the peak grew window after window (measured on a 1,070 s call: 602 → 814 →
    832 MB after windows 1–3; with it 617 → 700 → 700 MB)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _join_across_windows(turns: list[Turn]) -> list[Turn]:
    out: list[Turn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start_s - out[-1].end_s < MERGE_GAP_S \
                and abs(t.start_s % WINDOW_S) < 0.05:
            prev = out.pop()
            out.append(Turn(prev.speaker, prev.start_s, t.end_s, (prev.text + " " + t.text).strip()))
        else:
            out.append(t)
    return out
