"""The knowledge catalog and keyword index in PostgreSQL: what one node indexes, another finds —
keyword (tsvector + GIN) and dense (a shared Chroma server) — with the same access rules."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from knowledge import KnowledgeStore, Visibility, make_embedder
from knowledge.catalog_db import DatabaseKeywordIndex, move_local_catalog
from knowledge.keyword import Access, KeywordIndex
from tests.chroma_server import chroma_server
from tests.conftest import backend_engine

PLAYBOOK = ("# 折扣\n\n## 审批\n\n销售本人可给不超过5%的折扣,超过5%需要区域经理审批,超过10%需要销售总监审批。\n\n"
            "## 付款\n\n合同签订后预付30%,设备到货验收后支付60%,质保期满后支付剩余的10%。")
ROWS = [("c1", "calls_t1_en", "the customer asked about the discount approval", {"rep_id": 5, "language": "en"}),
        ("c2", "calls_t1_en", "discount for the hospital tender", {"rep_id": 6, "language": "en", "exemplar": True}),
        ("c3", "calls_t1_en", "budget freeze until next year", {"rep_id": 6, "language": "en"}),
        ("p1", "pb_zh", "区域经理审批折扣", {"language": "zh"})]


@pytest.fixture
def pg_engine(tmp_path_factory):
    """A fresh PostgreSQL database (skipped with the reason when none is reachable): the shared catalog
    is the PostgreSQL deployment's; SQLite keeps its FTS5 file in HOME (tests/knowledge/test_knowledge.py)."""
    yield from backend_engine("postgresql", tmp_path_factory, "catalog")


def test_the_database_index_finds_and_filters_like_the_fts5_file(pg_engine, tmp_path):
    shared, local = DatabaseKeywordIndex(pg_engine), KeywordIndex(tmp_path / "catalog.sqlite")
    for index in (shared, local):
        index.add(ROWS)
        index.commit()
    for query, part, access in [("discount approval", "calls_t1_en", Access()),
                                ("discount", "calls_t1_en", Access(everything=False, rep_ids=frozenset({5}))),
                                ("discount", "calls_t1_en", Access(everything=False, exemplars=True)),
                                ("折扣审批", "pb_zh", Access()), ("nothing here", "calls_t1_en", Access())]:
        assert set(shared.search(query, part, 10, access)) == set(local.search(query, part, 10, access)), query
    assert shared.search("discount approval", "calls_t1_en", 10)[0] == "c1"  # both words rank first
    assert shared.partitions() == local.partitions() == {"calls_t1_en": 3, "pb_zh": 1}
    shared.delete(["c3"])
    assert shared.partitions()["calls_t1_en"] == 2 and "c3" not in shared.rows(["c1", "c3"])
    assert shared.rows(["c2"])["c2"].exemplar is True


def test_the_keyword_query_uses_the_gin_index(pg_engine):
    with pg_engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT chunk_id FROM kb_chunks WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'discount')")))
    assert "ix_kb_chunks_body_tsv" in plan, plan


def test_a_playbook_indexed_on_one_node_is_found_on_another(pg_engine, tmp_path):
    """Two stores with different HOMEs, one PostgreSQL catalog and one Chroma server: B finds what A
    indexed, and re-indexing the same file on B is a no-op."""
    doc = tmp_path / "discount.md"
    doc.write_text(PLAYBOOK, encoding="utf-8")
    with chroma_server(tmp_path / "chroma") as url:
        a = KnowledgeStore(tmp_path / "a", embedder=make_embedder("hash"), chroma_url=url, catalog_engine=pg_engine)
        b = KnowledgeStore(tmp_path / "b", embedder=make_embedder("hash"), chroma_url=url, catalog_engine=pg_engine)
        assert a.index_files([doc]).chunks == 2
        hits = b.search("折扣审批", k=3, visibility=Visibility())
        assert hits and "区域经理审批" in hits[0].text
        assert b.index_files([doc]).unchanged == ["discount.md"]
    assert not (tmp_path / "b" / "knowledge" / "catalog.sqlite").exists()  # B's HOME holds no catalog


def test_kb_sync_moves_a_single_node_catalog_into_the_database(pg_engine, tmp_path):
    local = KeywordIndex(tmp_path / "catalog.sqlite")
    local.add(ROWS)
    local.put_sources([("file:a.md", "d1", '[["p1", "pb_zh"]]')])
    local.commit()
    shared = DatabaseKeywordIndex(pg_engine)
    assert move_local_catalog(tmp_path / "catalog.sqlite", shared) == {"chunks": 4, "sources": 1}
    assert move_local_catalog(tmp_path / "catalog.sqlite", shared) == {"chunks": 4, "sources": 1}  # again: no doubles
    assert shared.partitions() == {"calls_t1_en": 3, "pb_zh": 1}
    assert shared.source("file:a.md") == ("d1", [["p1", "pb_zh"]])
    count = sqlite3.connect(tmp_path / "catalog.sqlite").execute("SELECT count(*) FROM catalog").fetchone()[0]
    assert count == 4  # the local file is left as it was (a backup until the operator removes it)


def test_with_postgresql_and_a_chroma_server_the_companion_vectors_and_their_record_are_shared(pg_engine, tmp_path):
    """Node A's store has no companion; B (companion on) is refused, reindexes on the shared catalog
    (computing only the companion's vectors, onto the server), and a third node with an empty HOME
    finds the store consistent. A single-node HOME's companion collections move to the server too."""
    from knowledge.catalog_db import move_local_vectors
    from knowledge.use_encoder import UseEncoder

    doc = tmp_path / "discount.md"
    doc.write_text(PLAYBOOK, encoding="utf-8")
    with chroma_server(tmp_path / "chroma") as url:
        def node(name, companion):
            return KnowledgeStore(tmp_path / name, embedder=make_embedder("hash"), chroma_url=url, catalog_engine=pg_engine,
                                  companion=companion)

        node("a", None).index_files([doc])
        b = node("b", UseEncoder())
        assert b.embedder_mismatch() is not None
        report = b.reindex()
        assert report.computed == ("companion",) and report.chunks == 2
        c = node("c", UseEncoder())
        assert c.embedder_mismatch() is None and c.keywords.meta("embedder") == "hash+usem3"
        assert c._col("pb_zh", "companion").count() == c._col("pb_zh").count() == 2
        assert c.index_files([doc]).unchanged == ["discount.md"]  # the shared sources carry the new identity
        assert "区域经理" in c.search("who approves a discount above five percent", k=1)[0].text
        local = KnowledgeStore(tmp_path / "single", embedder=make_embedder("hash"), companion=UseEncoder())
        (tmp_path / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
        local.index_files([tmp_path / "renewal.md"])
        assert move_local_vectors(tmp_path / "single" / "knowledge", c.client, c._suffix()) == 1
        assert c._col("pb_en", "companion").count() == c._col("pb_en").count() == 1
    for name in ("a", "b", "c"):
        assert not (tmp_path / name / "knowledge" / "catalog.sqlite").exists()
        assert not (tmp_path / name / "knowledge" / "chroma").exists()
