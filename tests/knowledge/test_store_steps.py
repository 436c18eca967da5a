"""The named steps of dense retrieval (KnowledgeStore._dense) and of reading documents, with a
fake Chroma collection and catalog: over-fetch then keep what the access allows, ask Chroma with
an access filter only when too few are visible, and one reader per file type."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import chunking
from knowledge.chunking import KnowledgeError, heading_level, read_document
from knowledge.keyword import Access, CatalogRow
from knowledge.store import KnowledgeStore, chroma_access_filter


def row(cid: str, rep_id: int | None, exemplar: bool = False) -> CatalogRow:
    meta = {"kind": "transcript", "call_id": 1, "rep_id": rep_id, "section": "00:10", "source": "call 1", "language": "en"}
    return CatalogRow(cid, "calls_t1_en", rep_id, exemplar, f"text of {cid}", meta)


class FakeCollection:
    """Nearest ids in the given order (distances rising); with a ``where``, only the matching ones."""

    def __init__(self, rows: dict[str, CatalogRow]):
        self.rows, self.queries = rows, []

    def query(self, *, query_embeddings, n_results, include, where=None):
        self.queries.append({"n_results": n_results, "where": where})
        ids = [cid for cid, r in self.rows.items() if where is None or _matches(where, r)][:n_results]
        return {"ids": [ids], "distances": [[0.1 * (i + 1) for i in range(len(ids))]], "metadatas": [[{} for _ in ids]]}


def _matches(where: dict, r: CatalogRow) -> bool:
    alts = where.get("$or", [where])
    return any(r.rep_id == a.get("rep_id", object()) or (a.get("exemplar") and r.exemplar) for a in alts)


class FakeCatalog:
    def __init__(self, rows: dict[str, CatalogRow]):
        self._rows = rows

    def partitions(self) -> dict[str, int]:
        return {"calls_t1_en": len(self._rows)}

    def rows(self, ids):
        return {i: self._rows[i] for i in ids if i in self._rows}

    def owners(self, ids):
        return {i: (self._rows[i].rep_id, self._rows[i].exemplar) for i in ids if i in self._rows}


def store_with(rows: dict[str, CatalogRow]) -> tuple[KnowledgeStore, FakeCollection]:
    store = KnowledgeStore.__new__(KnowledgeStore)  # no Chroma, no embedder: only the dense steps are exercised
    col = FakeCollection(rows)
    store.keywords = FakeCatalog(rows)
    store._col = lambda part, side="dense": col
    return store, col


def test_chroma_access_filter_is_one_condition_or_an_or_of_them():
    assert chroma_access_filter(Access(everything=False, rep_ids=frozenset({7}))) == {"rep_id": 7}
    assert chroma_access_filter(Access(everything=False, rep_ids=frozenset({9, 7}), exemplars=True)) == {
        "$or": [{"rep_id": 7}, {"rep_id": 9}, {"exemplar": True}]}


def test_nearest_visible_keeps_only_what_the_access_allows_and_what_was_already_found():
    rows = {f"c{i}": row(f"c{i}", rep_id=i % 3) for i in range(6)}
    store, col = store_with(rows)
    access = Access(everything=False, rep_ids=frozenset({1}))
    ids, got, keep = store._nearest_visible(col, [0.0], 5, access, {"c0": object()}, count=6)
    assert ids == [f"c{i}" for i in range(6)] and keep == ["c0", "c1", "c4"]
    assert col.queries[0] == {"n_results": 6, "where": None}  # over-fetch: min(max(60, 5 × 20), count)


def test_dense_asks_chroma_with_the_filter_only_when_too_few_are_visible():
    rows = {f"c{i}": row(f"c{i}", rep_id=1 if i == 5 else 2) for i in range(100)}
    store, col = store_with(rows)
    found: dict = {}
    out = store._dense("calls_t1_en", [0.0], 2, Access(everything=False, rep_ids=frozenset({1})), found)
    assert [q["where"] for q in col.queries] == [None, {"rep_id": 1}]  # 60 fetched, only c5 visible < k=2, 60 < 100
    assert out == ["c5"] and set(found) == {"c5"} and found["c5"].citation == "call 1 · rep 1 · 00:10"


def test_dense_with_full_access_fetches_once_and_caps_at_three_k():
    rows = {f"c{i}": row(f"c{i}", rep_id=2) for i in range(40)}
    store, col = store_with(rows)
    out = store._dense("calls_t1_en", [0.0], 5, Access(), {})
    assert len(col.queries) == 1 and col.queries[0]["n_results"] == 30 and out == [f"c{i}" for i in range(15)]


def test_dense_of_an_empty_partition_is_empty():
    store, col = store_with({})
    assert store._dense("calls_t1_en", [0.0], 5, Access(), {}) == [] and col.queries == []


# -- reading documents --------------------------------------------------------------------------
@pytest.mark.parametrize("style, level", [("Heading 2", 2), ("heading 1", 1), ("Heading", 0), ("Normal", 0), ("", 0)])
def test_heading_level_of_a_docx_style(style, level):
    assert heading_level(style) == level


def test_one_reader_per_file_type():
    assert set(chunking.DOCUMENT_READERS) == {".md", ".markdown", ".txt", ".pdf", ".docx"}


def test_read_document_titles_markdown_by_its_first_heading(tmp_path: Path):
    (tmp_path / "guide.md").write_text("intro\n\n# 价格异议\n\nbody", encoding="utf-8")
    assert read_document(tmp_path / "guide.md") == ("价格异议", "intro\n\n# 价格异议\n\nbody")
    (tmp_path / "notes.TXT").write_text("no heading", encoding="utf-8")
    assert read_document(tmp_path / "notes.TXT") == ("notes", "no heading")


def test_read_docx_text_turns_headings_into_markdown(tmp_path: Path):
    docx = pytest.importorskip("docx")
    doc = docx.Document()
    doc.add_heading("Objections", level=1)
    doc.add_paragraph("Ask what they compare.")
    doc.save(tmp_path / "playbook.docx")
    assert read_document(tmp_path / "playbook.docx") == ("Objections", "# Objections\n\nAsk what they compare.")


@pytest.mark.parametrize("name, content, message", [
    ("deck.pptx", b"x", "unsupported file type .pptx"),
    ("broken.pdf", b"not a pdf", "could not be read"),
    ("latin1.md", "café".encode("latin-1"), "is not UTF-8 text"),
    ("empty.md", b"  \n", "has no text to index"),
])
def test_read_document_errors_say_what_to_do(tmp_path: Path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(KnowledgeError, match=message):
        read_document(tmp_path / name)


def test_the_other_language_gets_two_of_the_top_three_places_only_when_its_best_match_leads():
    import dataclasses

    from knowledge import store as store_module
    from knowledge.store import _other_weight

    saved = store_module.FUSION
    store_module.FUSION = dataclasses.replace(saved, other_language=1.05, other_language_trailing=0.95, language_margin=0.0)
    try:
        assert _other_weight({"zh": 0.30, "en": 0.42}, "zh", "en") == 1.05  # English leads a Chinese question
        assert _other_weight({"zh": 0.42, "en": 0.30}, "zh", "en") == 0.95  # its own language leads
        assert _other_weight({"en": 0.42}, "zh", "en") == 1.05  # no dense score of its own (MiniLM, Chinese)
        rrf = store_module._rrf_scores([(1.0, ["own1", "own2"]), (0.95, ["other1", "other2"])])
        assert sorted(rrf, key=lambda c: -rrf[c])[:3] == ["own1", "other1", "own2"]
        rrf = store_module._rrf_scores([(1.0, ["own1", "own2"]), (1.05, ["other1", "other2"])])
        assert sorted(rrf, key=lambda c: -rrf[c])[:3] == ["other1", "own1", "other2"]
    finally:
        store_module.FUSION = saved


def test_nearest_ids_keep_chromas_order_and_scores_are_dot_products_with_the_query():
    from knowledge.store import _scored_ids

    res = {"ids": [["a", "b"]], "distances": [[0.2, 0.3]]}
    scored: dict[str, float] = {}
    assert _scored_ids(res, [0.6, 0.8], scored) == ["a", "b"]  # |q| = 1
    assert scored == pytest.approx({"a": 0.8, "b": 0.7})
    _scored_ids(res, [1.2, 1.6], scored)
    assert scored == pytest.approx({"a": 1.6, "b": 1.4})  # |q| = 2: comparable across partitions of one query


def test_searching_with_the_hub_corrected_query_ranks_by_cosine_minus_hubness():
    """v·(q − p × mean(probes)) == v·q − p × (mean cosine of v to the probes): the chunk's hubness."""
    import numpy as np

    from knowledge import store as store_module
    from knowledge.embeddings import HashEmbedder

    rng = np.random.default_rng(3)
    store = KnowledgeStore.__new__(KnowledgeStore)
    store.embedder = HashEmbedder(dim=16)
    probes = rng.normal(size=(5, 16)).astype(np.float32)
    store._probes = {"en": probes / np.linalg.norm(probes, axis=1, keepdims=True)}
    chunks = rng.normal(size=(50, 16)).astype(np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    q = rng.normal(size=16).astype(np.float32)
    q /= np.linalg.norm(q)
    corrected = np.asarray(store._hub_query(q.tolist(), "en"))
    hubness = (chunks @ store._probes["en"].T).mean(axis=1)  # each chunk's mean cosine to the generic questions
    expected = chunks @ q - store_module.FUSION.hub_penalty * hubness
    assert np.allclose(chunks @ corrected, expected, atol=1e-3)
    assert list(np.argsort(-(chunks @ corrected))[:10]) == list(np.argsort(-expected)[:10])
    assert store._hub_query(q.tolist(), "zh") == q.tolist()  # no probes for that language: unchanged


def test_which_language_leads_reads_both_encoders_and_falls_back_to_e5_without_the_companion():
    import dataclasses

    from knowledge import store as store_module
    from knowledge.store import _leading_scores, _other_weight

    saved = store_module.FUSION
    best = {"dense": {"zh": 0.05, "en": 0.03}, "companion": {"zh": 0.30, "en": 0.34}}
    try:
        store_module.FUSION = dataclasses.replace(saved, placement="both", companion_margin=-0.03, language_margin=0.0)
        scores, margin = _leading_scores(best)
        assert scores == pytest.approx({"zh": 0.35, "en": 0.37}) and margin == -0.03
        assert _other_weight(scores, "zh", "en", margin) == saved.other_language  # 0.37 − 0.35 > −0.03: English leads
        store_module.FUSION = dataclasses.replace(saved, placement="companion", companion_margin=0.05)
        assert _leading_scores(best) == (best["companion"], 0.05)
        assert _other_weight(best["companion"], "zh", "en", 0.05) == saved.other_language_trailing  # 0.04 is not 0.05
        store_module.FUSION = dataclasses.replace(saved, placement="both", language_margin=0.01)
        assert _leading_scores({"dense": best["dense"], "companion": {}}) == (best["dense"], 0.01)  # companion off
        assert _leading_scores({"dense": {"en": 0.03}, "companion": best["companion"]})[0] == best["companion"]  # English-only e5
    finally:
        store_module.FUSION = saved
