"""An English question finds a Chinese passage by its words: each Chinese chunk's keyword body holds
its English rendering by the dictionary (CC-CEDICT, Chinese → English, the precise direction),
marked so that it never matches an English question's own keyword search. Both catalogs (the SQLite
FTS5 file and PostgreSQL), and an index written before (schema 2) rewritten on open."""

from __future__ import annotations

import pytest

from knowledge.catalog_db import DatabaseKeywordIndex
from knowledge.keyword import SCHEMA_VERSION, TRANSLATED, KeywordIndex, body, english_query_tokens, tokens
from tests.conftest import backend_engine

FREEZE = ("c-freeze", "pb_zh", "客户信用冻结后,系统自动拦截新订单。销售需在三个工作日内联系财务,提交回款计划。", {"language": "zh"})
SEAL = ("c-seal", "pb_zh", "纸质合同需加盖公章,原件寄回法务部存档,逾期未寄回的合同不得开票。", {"language": "zh"})
NOTES = ("c-notes", "pb_en", "Log every customer meeting in the CRM within 48 hours.", {"language": "en"})
QUESTION = "customer credit got frozen and the system blocks new orders"


@pytest.fixture
def pg_engine(tmp_path_factory):
    yield from backend_engine("postgresql", tmp_path_factory, "translated")


def test_a_chinese_chunk_carries_its_english_rendering_marked_an_english_one_does_not():
    zh = body(FREEZE[2], "pb_zh").split()
    rendered = [t for t in zh if t.startswith(TRANSLATED)]
    assert {f"{TRANSLATED}credit", f"{TRANSLATED}freeze", f"{TRANSLATED}order"} <= set(rendered)
    assert set(tokens(FREEZE[2]).split()) <= set(zh)  # its own bigrams stay
    assert body(NOTES[2], "pb_en") == tokens(NOTES[2])
    # the question side: content words, stemmed and marked like the rendering ("orders" → order, "the" dropped)
    asked = english_query_tokens(QUESTION)
    assert f"{TRANSLATED}order" in asked and f"{TRANSLATED}the" not in asked


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_english_question_finds_the_chinese_passage_by_its_rendering(backend, tmp_path, request):
    index = KeywordIndex(tmp_path / "catalog.sqlite") if backend == "sqlite" else DatabaseKeywordIndex(request.getfixturevalue("pg_engine"))
    index.add([FREEZE, SEAL, NOTES])
    index.commit()
    assert index.search(QUESTION, "pb_zh", 5, translated=True)[0] == "c-freeze"
    assert index.search(QUESTION, "pb_zh", 5) == []  # untranslated, no Chinese word matches
    assert index.search("webinar interpreter", "pb_zh", 5, translated=True) == []  # the rendering holds nothing of it
    # the marked words never answer an English question's own search in English partitions
    assert index.search("zztcredit zztfreeze", "pb_en", 5) == []


def test_an_index_written_before_the_rendering_is_rewritten_when_opened(tmp_path):
    path = tmp_path / "catalog.sqlite"
    old = KeywordIndex(path)
    old.add([FREEZE, SEAL])
    # as schema 2 wrote it: the chunk's own tokens only
    for rowid, text in old.db.execute("SELECT id, document FROM catalog").fetchall():
        old.db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        old.db.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (rowid, f"zzpartpbzh {tokens(text)}"))
    old.set_meta("schema", "2")
    assert old.search(QUESTION, "pb_zh", 5, translated=True) == []
    old.db.close()
    reopened = KeywordIndex(path)
    assert reopened.meta("schema") == SCHEMA_VERSION
    assert reopened.search(QUESTION, "pb_zh", 5, translated=True)[0] == "c-freeze"
    assert reopened.search("合同 公章", "pb_zh", 5)[0] == "c-seal"  # its own words still found


def test_the_shared_catalog_rewrites_bodies_written_before(pg_engine):
    from sqlalchemy import update

    from crm.db import session_factory
    from crm.models import KnowledgeChunk

    index = DatabaseKeywordIndex(pg_engine)
    index.add([FREEZE, SEAL])
    with session_factory(pg_engine)() as session, session.begin():
        session.execute(update(KnowledgeChunk).values(body=KnowledgeChunk.document))  # no rendering, as before
    index.set_meta("keyword_schema", "2")
    assert DatabaseKeywordIndex(pg_engine).search(QUESTION, "pb_zh", 5, translated=True)[0] == "c-freeze"
    assert index.meta("keyword_schema") == SCHEMA_VERSION
