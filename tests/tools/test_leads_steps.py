"""The named steps of tools/leads/ (find, the two journey checks, the summary and its
rendering, the configuration checks), each on small hand-made inputs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest

from core.errors import ConfigError
from tools.evidence import Evidence
from tools.leads import (
    VERBATIM_SCORE,
    IntentScore,
    LeadFacts,
    LeadMatch,
    OpportunityBrief,
    RuleInput,
    Suggestion,
    Touch,
    load_intent_config,
)
from tools.leads.config import _check_rules, _check_score, _check_weights
from tools.leads.find import (
    MIN_MATCHED_IDF,
    _best_matches,
    _expand_token,
    _match_lead,
    _matched_field,
    _names_account_verbatim,
    _row_index,
    _weigh_query_terms,
)
from tools.leads.rules import (
    _consecutive_day_runs,
    _streak_near_expo,
    _tech_doc_reads_by_contact,
    _unopened_bid_then_policy,
)
from tools.leads.summary import (
    _account_line,
    _anonymized_count_lines,
    _follow_up_line,
    _follow_up_timing,
    _intent_lines,
    _last_touch_lines,
    _opportunity_line,
    _suggestion_lines,
)
from tools.text import token_spans

NOW = datetime(2026, 11, 20, 10, 0)
TECH = {"streak_days": 3, "lookback_days": 30, "expo_within_days": 14, "page_prefixes": ["技术文档"]}
BID = {"unopened_days": 7, "lookback_days": 30}


def touch(i: int, kind: str, days_ago: float, asset: str | None = None, contact_id: int | None = None, title: str | None = None) -> Touch:
    return Touch(i, kind, NOW - timedelta(days=days_ago), asset, None, contact_id, title, 1, 1.0)


def rule_input(touches: list[Touch], day_offset_hours: int = 0) -> RuleInput:
    return RuleInput(None, sorted(touches, key=lambda t: t.occurred_at), [t.occurred_at for t in touches], NOW, False, 72,
                     timedelta(hours=day_offset_hours))


# -- find ------------------------------------------------------------------------------------

def test_a_latin_word_expands_to_longer_words_and_close_spellings_but_a_cjk_token_does_not():
    vocab = {"helios", "hermes", "medical", "heliox"}  # "helix" would be close enough (ratio 0.8)
    assert _expand_token("helio", vocab) == {"helios", "heliox"}
    assert _expand_token("he", vocab) == set()  # too short to be a prefix
    assert _expand_token("medicla", vocab) == {"medical"}  # a close spelling
    assert _expand_token("医院", vocab) == {"医院"}


def test_name_fields_tokenize_each_name_and_tolerate_a_missing_one():
    index = _row_index("宁波宏达风电", "Ningbo Hongda Wind", "超声采购", None)
    assert set(index.fields) == {"account", "account_en", "lead", "contact"}
    assert "ningbo" in index.fields["account_en"]
    assert index.fields["contact"] == set()
    assert index.latin == {"ningbo", "hongda", "wind"} | {t for t in index.every if t.startswith("py:")}
    assert index.every == set().union(*index.fields.values())


def test_a_rare_query_token_weighs_more_than_a_common_one():
    indexed = [_row_index("Helios 医院", None, None, None)] + [_row_index("医院", None, None, None)] * 9
    accounts = ["Helios 医院"] + [f"医院 {n}" for n in range(9)]
    terms = _weigh_query_terms("helios 医院", [("helios", 0, 6), ("医院", 7, 9)], indexed, accounts)
    assert terms.df == {"helios": 1, "医院": 10}
    assert terms.idf["helios"] > terms.idf["医院"]


def test_a_word_counts_once_per_account_however_many_leads_it_has():
    """A rep's one 卓越 customer with eleven leads: "卓越" is as rare as the account, not as common as its leads."""
    indexed = [_row_index("上海卓越口腔医院", None, None, None)] * 11 + [_row_index(f"客户{n}医院", None, None, None) for n in range(40)]
    accounts = ["上海卓越口腔医院"] * 11 + [f"客户{n}医院" for n in range(40)]
    terms = _weigh_query_terms("卓越那家", [("卓越", 0, 2)], indexed, accounts)
    assert terms.df == {"卓越": 1} and terms.idf["卓越"] >= MIN_MATCHED_IDF


def test_a_lead_that_covers_the_question_matches_and_one_that_does_not_is_dropped():
    rows = [(1, "Lead A", "new", NOW, "Helios Medical", "Helios Medical", None),
            (2, "Lead B", "new", NOW, "Other Care", "Other Care", None)]
    indexed = [_row_index(r[4], r[5], r[1], r[6]) for r in rows]
    query = "how is helios"
    terms = _weigh_query_terms(query, token_spans(query), indexed, [r[4] for r in rows])
    score, created, match = _match_lead(terms, rows[0], indexed[0].fields, indexed[0].every)
    assert match.lead_id == 1 and created == NOW and 0 < score <= 0.99
    assert _match_lead(terms, rows[1], indexed[1].fields, indexed[1].every) is None


def test_the_matched_field_is_the_one_carrying_most_weight_first_on_a_tie():
    terms = SimpleNamespace(idf={"zhang": 3.0, "x": 1.0}, expand={"zhang": {"zhang"}, "x": {"x"}})
    fields = {"account": {"x"}, "account_en": set(), "contact": {"zhang"}, "lead": {"x"}}
    assert _matched_field(terms, {"zhang", "x"}, fields) == "contact"
    fields = {"account": {"x"}, "account_en": set(), "contact": set(), "lead": {"x"}}
    assert _matched_field(terms, {"x"}, fields) == "account"


def test_an_account_is_named_verbatim_by_its_chinese_name_or_a_long_enough_english_one():
    assert _names_account_verbatim("上海市中医院的线索", "上海市中医院", None)
    assert not _names_account_verbatim("上海市中心医院", "上海市中医院", None)
    assert _names_account_verbatim("what about HELIOS?", "某公司", "Helios")
    assert not _names_account_verbatim("abc corp", "某公司", "Abc")  # shorter than 4


def test_verbatim_matches_beat_partial_ones_and_ties_go_to_the_newest_then_the_highest_id():
    def m(i: int) -> LeadMatch:
        return LeadMatch(i, f"L{i}", "acc", "new", 0.0, "account")
    old, new = NOW - timedelta(days=5), NOW
    out = _best_matches([(0.9, new, m(1)), (0.9, old, m(2)), (0.9, new, m(3))], 5)
    assert [x.lead_id for x in out] == [3, 1, 2] and out[0].score == 0.9
    out = _best_matches([(0.99, new, m(1)), (VERBATIM_SCORE, old, m(2))], 5)
    assert [x.lead_id for x in out] == [2]
    assert len(_best_matches([(0.9, new, m(i)) for i in range(9)], 3)) == 3


# -- the two journey checks ---------------------------------------------------------------------

def test_consecutive_days_are_grouped_into_runs():
    d = date(2026, 11, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=2), d + timedelta(days=5), d + timedelta(days=6)]
    assert [len(r) for r in _consecutive_day_runs(days)] == [3, 2]
    assert _consecutive_day_runs([]) == []


def test_tech_doc_reads_keep_the_last_read_per_contact_and_local_day():
    touches = [touch(1, "page_view", 2.1, "技术文档: A", 7), touch(2, "page_view", 2.05, "技术文档: B", 7),
               touch(3, "page_view", 1, "产品页: X", 7), touch(4, "page_view", 1, "技术文档: C", None),
               touch(5, "page_view", 40, "技术文档: D", 7)]
    docs = _tech_doc_reads_by_contact(rule_input(touches), TECH, NOW - timedelta(days=30))
    assert list(docs) == [7]
    assert [t.id for t in docs[7].values()] == [2]


def test_a_streak_needs_an_expo_scan_nearby_and_prefers_the_readers_own_scan():
    reads = {date(2026, 11, 10 + k): touch(10 + k, "page_view", 10 - k, "技术文档", 7, "工程师") for k in range(3)}
    run = sorted(reads)
    far = [touch(20, "expo_scan", 40)]
    assert _streak_near_expo(run, reads, 7, far, TECH) is None
    other, own = touch(21, "expo_scan", 8, contact_id=8), touch(22, "expo_scan", 3, contact_id=7)
    hit = _streak_near_expo(run, reads, 7, [other, own], TECH)
    assert hit.touches[-1].id == 22 and hit.fill == {"streak": 3, "title": "工程师"} and hit.extra_events == 0


def test_an_opened_bid_document_or_one_without_a_later_policy_read_does_not_fire():
    sent = touch(1, "bid_doc_sent", 20)
    since = NOW - timedelta(days=30)
    policy = touch(3, "policy_article", 5, "新政解读")
    assert _unopened_bid_then_policy(rule_input([sent, touch(2, "bid_doc_open", 15), policy]), BID, sent, since) is None
    assert _unopened_bid_then_policy(rule_input([sent, touch(4, "policy_article", 18)]), BID, sent, since) is None
    tender = touch(5, "tender_notice", 25)
    hit = _unopened_bid_then_policy(rule_input([tender, sent, policy]), BID, sent, since)
    assert [t.id for t in hit.touches] == [5, 1, 3] and hit.fill == {"unopened": 20, "article": "新政解读"}


# -- configuration --------------------------------------------------------------------------------

def test_the_configuration_checks_name_what_is_wrong():
    cfg = load_intent_config()
    _check_weights(cfg, "in x")
    _check_score(cfg["score"], "in x")
    _check_rules(cfg["rules"], "in x")
    with pytest.raises(ConfigError, match="expo_scan"):
        _check_weights({"weights": {k: v for k, v in cfg["weights"].items() if k != "expo_scan"}}, "in x")
    with pytest.raises(ConfigError, match="unknown touchpoint kind"):
        _check_weights({"weights": {**cfg["weights"], "telepathy": 1}}, "in x")
    with pytest.raises(ConfigError, match="tiers"):
        _check_score({**cfg["score"], "tiers": {"S": 10, "A": 50, "C": 0}}, "in x")
    with pytest.raises(ConfigError, match="positive"):
        _check_score({**cfg["score"], "scale": 0}, "in x")
    with pytest.raises(ConfigError, match="unknown check"):
        _check_rules([{"id": "r", "check": "nope"}], "in x")
    with pytest.raises(ConfigError, match="repeated"):
        _check_rules([{"id": "r", "check": "low_activity"}, {"id": "r", "check": "low_activity"}], "in x")


# -- summary and its rendering ----------------------------------------------------------------------

def test_follow_up_timing_within_late_and_pending():
    created = NOW - timedelta(hours=100)
    lead = SimpleNamespace(created_at=created, first_follow_up_at=created + timedelta(hours=10))
    assert _follow_up_timing(lead, NOW, 72) == (10.0, True)
    lead.first_follow_up_at = created + timedelta(hours=80)
    assert _follow_up_timing(lead, NOW, 72) == (80.0, False)
    lead.first_follow_up_at = None
    assert _follow_up_timing(lead, NOW, 72) == (None, False)
    assert _follow_up_timing(lead, NOW, 120) == (None, None)


def facts(**kw) -> LeadFacts:
    base = {"lead_id": 1, "name": "超声采购", "account_id": 2, "account": "宁波医院", "account_en": "Ningbo Hospital", "industry": "医疗",
                "segment": "三级医院", "region_zh": "华东", "region_en": "East", "owner": None, "owner_en": None, "status": "new", "source": "web",
                "value_cny": 1_000_000, "created_at": "2026-11-01 09:30:00", "first_follow_up_at": None, "hours_to_first_follow_up": None,
                "followed_up_within_72h": None, "contact": None, "contact_title": None}
    return LeadFacts(**{**base, **kw})


def test_the_account_line_says_unassigned_in_the_askers_language():
    assert "负责人:未分配" in _account_line(facts(), "zh")
    assert "Account: Ningbo Hospital" in _account_line(facts(), "en") and "owner: unassigned" in _account_line(facts(), "en")


def test_the_follow_up_line_tells_pending_late_and_timely_apart():
    assert _follow_up_line(facts(), "en") == "Created 2026-11-01 09:30 · not followed up yet"
    assert "past 72 h" in _follow_up_line(facts(followed_up_within_72h=False), "en")
    done = facts(first_follow_up_at="2026-11-01 15:30:00", hours_to_first_follow_up=6.0, followed_up_within_72h=True)
    assert _follow_up_line(done, "zh").endswith("(6小时,72小时内已跟进)")


def test_a_closed_opportunity_is_marked_closed():
    o = OpportunityBrief(5, "opp", "lost", 200_000, "2026-11-02 00:00:00", False)
    assert _opportunity_line(o, "en").endswith(" (closed)")
    assert not _opportunity_line(OpportunityBrief(5, "opp", "proposal", 1, "x", True), "zh").endswith("(已关闭)")


def intent(**kw) -> IntentScore:
    base = {"lead_id": 1, "as_of": "x", "score": 64, "tier": "A", "raw": 1.0, "confidence": 0.5, "events_used": 2,
                "counts_by_kind": {"page_view": 2}, "top_events": [Evidence("touchpoint", "9", "2026-11-19 10:00", "看了产品页", 1.25)]}
    return IntentScore(**{**base, **kw})


def test_intent_lines_show_events_or_only_counts_in_anonymized_mode_and_the_consent_note():
    lines = _intent_lines(intent(), "en")
    assert lines[1] == "Why this score:" and lines[2] == "- 2026-11-19 10:00 看了产品页 (+1.2)"
    anon = _intent_lines(intent(anonymized=True, top_events=[], excluded_without_consent=3), "en")
    assert "Why this score:" not in anon and any("Events scored:" in x for x in anon) and "3 events" in anon[-1]
    assert _anonymized_count_lines(intent(anonymized=True, counts_by_kind={}), "zh") == ["(匿名汇总模式:不展示个人行为明细)"]


def test_touch_and_suggestion_lines_are_empty_without_items_and_indent_evidence():
    assert _last_touch_lines([], "zh") == [] and _suggestion_lines([], "zh") == []
    ev = [Evidence("lead", "1", None, "线索创建"), Evidence("touchpoint", "2", "2026-11-19", "下载")]
    lines = _suggestion_lines([Suggestion("r", "打电话", ev, 0.8)], "zh")
    assert lines == ["建议下一步:", "- 打电话(置信度 0.80)", "  - 线索创建", "  - 2026-11-19 下载"]
    assert _last_touch_lines(ev[1:], "en") == ["Last touches:", "- 2026-11-19 下载"]
