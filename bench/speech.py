"""Speech benchmark: the pipeline on a synthesized stereo call vs bare faster-whisper
transcribing the same audio with the same model, in the same run.

Speed: both are warmed, then run alternately (``ROUNDS`` each) and compared by their
medians, so a burst of load on the machine hits both sides alike. The baseline is bare
faster-whisper on the mono mix of the same audio, same model, same decoding options
(beam_size=1, temperature 0, condition_on_previous_text=False) and its own VAD filter.

Memory: the pipeline is run, each time in a fresh interpreter, on the call repeated until it
spans two of the pipeline's windows ("short") and on ``LONG_FACTOR`` times that ("long"); the
peak RSS of both is reported — files are decoded and transcribed a window at a time, so the
peak must not grow with duration once a file is longer than a window.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from speech.models import ensure_model, load_whisper
from speech.pipeline import WINDOW_S, analyze_file
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
ROUNDS = 3
LONG_FACTOR = 3

# run in a fresh interpreter: analyze one file, print peak RSS (ru_maxrss is in KiB on Linux)
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from speech.pipeline import analyze_file
t0 = time.perf_counter()
a = analyze_file(Path(sys.argv[1]), language="en", model=sys.argv[3], home=Path(sys.argv[2]))
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "turns": len(a.turns),
                  "audio_s": a.duration_s, "wall_s": time.perf_counter() - t0}))
"""


def _fresh_process_run(path: Path, home: Path, model: str) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(home), model], check=True,
                         capture_output=True, text=True, env=env, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _repeat_wav(src: Path, dst: Path, times: int) -> None:
    with wave.open(str(src)) as r:
        params, frames = r.getparams(), r.readframes(r.getnframes())
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        for _ in range(times):
            w.writeframes(frames)


def bench_speech(*, home: Path, model: str = "base", min_seconds: float = 60.0, rounds: int = ROUNDS,
                 long_factor: int = LONG_FACTOR) -> dict[str, Any]:
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

        def bare() -> str:
            segments, _ = whisper.transcribe(mono, language="en", beam_size=1, condition_on_previous_text=False,
                                             temperature=0.0, vad_filter=True)
            return " ".join(s.text for s in segments)  # segments are lazy: the work happens here

        def pipeline():
            return analyze_file(path, language="en", model=model, home=home)

        bare_text, analysis = bare(), pipeline()  # warm both (model, VAD session, allocator)
        bare_times, pipeline_times = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            bare_text = bare()
            bare_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            analysis = pipeline()
            pipeline_times.append(time.perf_counter() - t0)
        in_process_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        long_path = Path(tmp) / "bench-long.wav"
        short_times = max(1, math.ceil(2 * WINDOW_S / duration))
        short_path = Path(tmp) / "bench-short.wav"
        _repeat_wav(path, short_path, short_times)
        _repeat_wav(path, long_path, short_times * long_factor)
        short_run = _fresh_process_run(short_path, home, model)
        long_run = _fresh_process_run(long_path, home, model)
    gaps = []
    for (g1, g2), (w1, w2) in zip(pairwise(analysis.turns), pairwise(truth), strict=False):
        gaps.append(abs((g2.start_s - g1.end_s) - (w2.start_s - w1.end_s)))
    order_ok = [t.speaker for t in analysis.turns] == [p.speaker for p in truth]
    bare_s, pipeline_s = statistics.median(bare_times), statistics.median(pipeline_times)
    short_mb, long_mb = short_run["rss_kb"] / 1024, long_run["rss_kb"] / 1024
    return {
        "model": model, "audio_s": round(duration, 1), "cpu_threads": os.cpu_count(),
        "turns": len(analysis.turns), "expected_turns": len(truth), "turn_order_exact": order_ok,
        "gap_error_mean_s": round(sum(gaps) / len(gaps), 3) if len(analysis.turns) == len(truth) else None,
        "gap_error_max_s": round(max(gaps), 3) if len(analysis.turns) == len(truth) else None,
        "rounds": rounds,
        "pipeline_runs_s": [round(t, 2) for t in pipeline_times],
        "bare_whisper_runs_s": [round(t, 2) for t in bare_times],
        "pipeline_s": round(pipeline_s, 2), "bare_whisper_s": round(bare_s, 2),
        "ratio_vs_bare": round(pipeline_s / bare_s, 3),
        "real_time_factor": round(pipeline_s / duration, 3),
        "peak_rss_mb": round(max(in_process_rss_mb, short_mb, long_mb), 0),
        "in_process_peak_rss_mb": round(in_process_rss_mb, 0),
        "memory_vs_duration": {
            "window_s": WINDOW_S,
            "short_audio_s": round(short_run["audio_s"], 1), "short_peak_rss_mb": round(short_mb, 0),
            "long_audio_s": round(long_run["audio_s"], 1), "long_peak_rss_mb": round(long_mb, 0),
            "long_over_short_duration": round(long_run["audio_s"] / short_run["audio_s"], 1),
            "peak_rss_difference_mb": round(long_mb - short_mb, 0),
            "long_turns": long_run["turns"], "long_pipeline_s": round(long_run["wall_s"], 1),
        },
        "bare_words": len(bare_text.split()),
    }
