"""Speech benchmark: the pipeline on a synthesized stereo call vs bare faster-whisper
transcribing the same audio with the same model, in the same run."""

from __future__ import annotations

import resource
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from speech.models import ensure_model, load_whisper
from speech.pipeline import analyze_file
from speech.synth import build_call, tools_missing

LINES = [
    ("rep", "Hi, thanks for taking the time today. Could you walk me through how maintenance works in your plants?", 0.0),
    ("customer", "Honestly our biggest headache is unplanned downtime, we lost almost two shifts last month on line three.", 0.7),
    ("rep", "Why has this become so urgent right now?", 2.3),
    ("customer", "Because our biggest customer audits us in March, and delivery performance is on their list.", 0.8),
    ("rep", "I see. What would it mean for your team if the downtime were cut by a third?", 1.2),
    ("customer", "We could stop the overtime, and the plant manager would finally trust the schedule again.", 0.9),
    ("rep", "What makes the schedule so hard to trust today?", 2.1),
    ("customer", "Maintenance is always reactive, so nobody knows which machine fails next.", 0.6),
]


def bench_speech(*, home: Path, model: str = "base", min_seconds: float = 60.0) -> dict[str, Any]:
    missing = tools_missing()
    if missing:
        return {"skipped": missing}
    with tempfile.TemporaryDirectory(prefix="repcopilot-speech-") as tmp:
        lines = []
        while sum(len(t.split()) for _, t, _ in lines) / 2.6 + sum(g for *_, g in lines) < min_seconds:
            lines += LINES
        path, truth = build_call(lines, "en", Path(tmp), "bench")
        with wave.open(str(path)) as w:
            duration = w.getnframes() / w.getframerate()
            stereo = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
        mono = (stereo[0::2] + stereo[1::2]) / 2
        whisper = load_whisper(str(ensure_model(model, home)))
        whisper.transcribe(mono[:16000 * 5], language="en", beam_size=1)  # warm
        t0 = time.perf_counter()
        segments, _ = whisper.transcribe(mono, language="en", beam_size=1, condition_on_previous_text=False,
                                         temperature=0.0, vad_filter=True)
        bare_text = " ".join(s.text for s in segments)
        bare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        analysis = analyze_file(path, language="en", model=model, home=home)
        pipeline_s = time.perf_counter() - t0
    gaps = []
    for (g1, g2), (w1, w2) in zip(zip(analysis.turns, analysis.turns[1:]), zip(truth, truth[1:])):
        gaps.append(abs((g2.start_s - g1.end_s) - (w2.start_s - w1.end_s)))
    return {
        "model": model, "audio_s": round(duration, 1), "turns": len(analysis.turns), "expected_turns": len(truth),
        "pipeline_s": round(pipeline_s, 2), "real_time_factor": round(pipeline_s / duration, 3),
        "bare_whisper_s": round(bare_s, 2), "ratio_vs_bare": round(pipeline_s / bare_s, 2),
        "gap_error_mean_s": round(sum(gaps) / len(gaps), 3) if len(analysis.turns) == len(truth) else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "bare_words": len(bare_text.split()),
    }
