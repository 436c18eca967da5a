"""Synthesized calls for tests and benchmarks: espeak-ng speech (Mandarin through the
cmn-latn-pinyin voice from pypinyin's tone-numbered pinyin), trimmed with sox, placed on
the rep's and the customer's channels with known gaps."""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000


def tools_missing() -> str | None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    return f"needs {' and '.join(missing)} (apt-get install espeak-ng sox)" if missing else None


def to_pinyin(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))


def say(text: str, lang: str, out: Path) -> np.ndarray:
    """16 kHz mono float32 speech with leading and trailing silence trimmed."""
    raw = out.with_suffix(".raw.wav")
    voice, spoken = ("cmn-latn-pinyin", to_pinyin(text)) if lang == "zh" else ("en-us", text)
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), spoken], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(SR), "-c", "1", str(out),
                    "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"], check=True, capture_output=True)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


@dataclass
class Placed:
    speaker: str
    start_s: float
    end_s: float
    text: str


def build_call(lines: list[tuple[str, str, float]], lang: str, folder: Path, name: str, stereo: bool = True) -> tuple[Path, list[Placed]]:
    """lines: (speaker, text, gap before this line in seconds). Returns the WAV and the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    clips, placed, t = [], [], 0.5
    for i, (speaker, text, gap) in enumerate(lines):
        audio = say(text, lang, folder / f"{name}-{i}.wav")
        t += gap
        placed.append(Placed(speaker, t, t + audio.size / SR, text))
        clips.append(audio)
        t += audio.size / SR
    total = int((t + 1.0) * SR)
    left, right = np.zeros(total, np.float32), np.zeros(total, np.float32)
    for p, audio in zip(placed, clips, strict=True):
        track = left if p.speaker == "rep" else right
        i = int(round(p.start_s * SR))
        track[i:i + audio.size] += audio
    path = folder / f"{name}.wav"
    if stereo:
        data = np.stack([left, right], axis=1).reshape(-1)
        channels = 2
    else:
        data = left + right
        channels = 1
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(data, -1, 1) * 32767).astype(np.int16).tobytes())
    return path, placed
