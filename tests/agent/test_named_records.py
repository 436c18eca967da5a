"""Records named by their customer rather than their id: an open alert, suggestion or waiting routing
decision found by its customer's (partial) name ("成都天成那条提醒 忽略", "dismiss the Nordic MedTech
suggestion") and acted on in a whole offline turn; lists, debriefs and routing explanations that name
the customer or the person; successor filtered to a named account; one rep's alerts; and a routing
question's preferred lead among one account's several. All on the demo company (alerts and routing
decisions after one `route` + `signals run`), rolled back after each test."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.planners import OfflinePlanner
from agent.service import Copilot
from agent.tools import ToolOutput, run_tool
from agent.tools.base import resolve_lead
from agent.tools.successor import named_accounts
from agent.understanding.calls import BUILDERS, Turn
from agent.understanding.open_items import named_records
from crm.access import get_user
from crm.models import Account, AISuggestion, Alert, Call, Lead, RoutingDecision, User
from tests.agent.conftest import noon_ctx, planned_call
from tools.routing.explain import explain_decision
from tools.suggestions import list_suggestions


def _open_alerts(session, login: str, account_prefix: str) -> list[Alert]:
    """The open alerts of ``login`` on leads of the account whose name starts with ``account_prefix``."""
    owner = get_user(session, login)
    return list(session.scalars(
        select(Alert).join(Lead, Lead.id == Alert.lead_id).join(Account, Account.id == Lead.account_id)
        .where(Alert.owner_id == owner.id, Alert.status.in_(("shown", "escalated")), Account.name.startswith(account_prefix))
        .order_by(Alert.id)))


def _open_suggestions(session, login: str, account_prefix: str) -> list[AISuggestion]:
    owner = get_user(session, login)
    return list(session.scalars(
        select(AISuggestion).join(Lead, Lead.id == AISuggestion.lead_id).join(Account, Account.id == Lead.account_id)
        .where(AISuggestion.user_id == owner.id, AISuggestion.status == "shown", Account.name.startswith(account_prefix))
        .order_by(AISuggestion.id)))


# -- named_records -----------------------------------------------------------------------------------

def test_a_reps_open_alert_is_found_by_a_part_of_its_customers_name(intel_session):
    [alert] = _open_alerts(intel_session, "dengmin", "成都天成")
    found = named_records(noon_ctx(intel_session, "dengmin"), "成都天成那条提醒 忽略", "alert")
    assert [(r.kind, r.id, r.lead_id) for r in found] == [("alert", alert.id, alert.lead_id)]


def test_a_reps_open_suggestion_is_found_by_its_customers_name_in_english(intel_session):
    [suggestion] = _open_suggestions(intel_session, "linyutong", "Nordic MedTech")
    found = named_records(noon_ctx(intel_session, "linyutong", "en"), "dismiss the Nordic suggestion", "suggestion")
    assert [(r.kind, r.id) for r in found] == [("suggestion", suggestion.id)]


def test_no_record_when_the_customer_is_not_one_of_the_askers_open_records(intel_session):
    assert _open_alerts(intel_session, "lina", "上海市第一人民医院")  # lina's, not dengmin's
    assert named_records(noon_ctx(intel_session, "dengmin"), "上海市第一人民医院那条提醒 忽略", "alert") == []
    # dengmin is another team's: chenjing (team 1's manager) has no open alert of that customer
    assert named_records(noon_ctx(intel_session, "chenjing"), "成都天成那条提醒", "alert") == []
    # a customer the asker has no open suggestion for
    assert named_records(noon_ctx(intel_session, "linyutong", "en"), "dismiss the Helios suggestion", "suggestion") == []


def test_several_alerts_of_one_customer_are_all_named_and_the_records_own_words_narrow_them(intel_session):
    alerts = _open_alerts(intel_session, "lina", "上海市第一人民医院")
    assert len(alerts) == 2 and len({a.lead_id for a in alerts}) == 1
    [policy] = [a for a in alerts if a.rule == "policy_sensitive"]
    ctx = noon_ctx(intel_session, "lina")
    assert {r.id for r in named_records(ctx, "上海市第一人民医院那条提醒", "alert")} == {a.id for a in alerts}
    assert [r.id for r in named_records(ctx, "上海市第一人民医院那条政策敏感的提醒", "alert")] == [policy.id]
    assert [r.id for r in named_records(ctx, "第一人民医院 国产替代那条", "alert")] == [policy.id]


def test_several_suggestions_of_one_customer_are_narrowed_by_the_suggestions_text(intel_session):
    suggestions = _open_suggestions(intel_session, "guoxia", "深圳中科口腔")
    assert len(suggestions) == 2 and len({s.lead_id for s in suggestions}) == 2  # two leads of one account
    [nurture] = [s for s in suggestions if "培育池" in s.text]
    [policy] = [s for s in suggestions if "话术包" in s.text]
    ctx = noon_ctx(intel_session, "guoxia")
    assert {r.id for r in named_records(ctx, "深圳中科口腔那条建议", "suggestion")} == {nurture.id, policy.id}
    assert [r.id for r in named_records(ctx, "深圳中科口腔那条培育池的建议 不要了", "suggestion")] == [nurture.id]
    assert [r.id for r in named_records(ctx, "深圳中科口腔那条话术包的建议", "suggestion")] == [policy.id]


def test_several_records_of_the_named_customer_are_offered_as_choices_with_their_ids(intel_session):
    alerts = _open_alerts(intel_session, "lina", "上海市第一人民医院")
    built = BUILDERS["alert_dismiss"](Turn("上海市第一人民医院那条提醒 忽略", noon_ctx(intel_session, "lina"), {}))
    assert isinstance(built, str) and built.startswith("上海市第一人民医院有几条")  # the choices name the customer
    assert all(f"忽略提醒 {a.id}:" in built for a in alerts)
    # one record of the named customer: the call itself; none: the planner asks for the id
    [alert] = _open_alerts(intel_session, "dengmin", "成都天成")
    assert BUILDERS["alert_dismiss"](Turn("成都天成那条提醒 忽略", noon_ctx(intel_session, "dengmin"), {})) == \
        ("alerts", {"action": "dismiss", "alert_id": alert.id})
    # another rep's customer: that customer's alerts, which the tool refuses — never "give the id" of an alert not hers
    assert BUILDERS["alert_dismiss"](Turn("上海市第一人民医院那条提醒 忽略", noon_ctx(intel_session, "dengmin"), {})) == \
        ("alerts", {"action": "list", "customer": "上海市第一人民医院那条提醒 忽略"})
    assert "请给出编号" in BUILDERS["alert_dismiss"](Turn("那条提醒 忽略", noon_ctx(intel_session, "dengmin"), {}))


def test_a_waiting_routing_decision_is_named_by_its_customer(intel_session):
    decision = intel_session.scalar(
        select(RoutingDecision).join(Lead, Lead.id == RoutingDecision.lead_id).join(Account, Account.id == Lead.account_id)
        .where(RoutingDecision.status == "pending_review", Account.name == "青岛市中心医院"))
    assert decision is not None
    found = named_records(noon_ctx(intel_session, "chenjing", "en"), "approve the qingdao central hospital one", "decision")
    assert [(r.kind, r.id) for r in found] == [("decision", decision.id)]
    assert planned_call(intel_session, "chenjing", "approve the qingdao central hospital one", language="en") == \
        ("review_queue", {"action": "approve", "decision_id": decision.id})


# -- whole turns through the offline planner -----------------------------------------------------------

def test_dismissing_an_alert_named_by_its_customer_changes_that_alerts_status(intel_session):
    [alert] = _open_alerts(intel_session, "dengmin", "成都天成")
    others = {a.id: a.status for a in intel_session.scalars(select(Alert).where(Alert.id != alert.id))}
    answer = Copilot(planner=OfflinePlanner()).ask(noon_ctx(intel_session, "dengmin"), "成都天成那条提醒 忽略")
    assert [(t["name"], t["args"]) for t in answer.tools] == [("alerts", {"action": "dismiss", "alert_id": alert.id})]
    assert not answer.refused and f"#{alert.id}" in answer.answer
    intel_session.expire_all()
    assert intel_session.get(Alert, alert.id).status == "dismissed"
    assert {a.id: a.status for a in intel_session.scalars(select(Alert).where(Alert.id != alert.id))} == others


def test_dismissing_a_suggestion_named_by_its_customer_in_english(intel_session):
    [suggestion] = _open_suggestions(intel_session, "linyutong", "Nordic MedTech")
    answer = Copilot(planner=OfflinePlanner()).ask(noon_ctx(intel_session, "linyutong", "en"), "dismiss the Nordic MedTech suggestion")
    assert [(t["name"], t["args"]) for t in answer.tools] == \
        [("suggestions", {"action": "dismiss", "suggestion_id": suggestion.id})]
    assert "Nordic MedTech GmbH" in answer.answer  # the decision names the customer
    intel_session.expire_all()
    assert intel_session.get(AISuggestion, suggestion.id).status == "dismissed"


# -- suggestions name the customer ----------------------------------------------------------------

def test_suggestion_records_carry_the_customers_name(demo_session):
    ctx = noon_ctx(demo_session, "zhangwei")
    records = list_suggestions(ctx=ctx, status="shown", limit=50)
    assert records
    for r in records:
        row = demo_session.get(AISuggestion, r.id)
        account_id = row.account_id or (demo_session.get(Lead, row.lead_id).account_id if row.lead_id else None)
        assert r.account == (demo_session.get(Account, account_id).name if account_id else None), r.id
    assert any(r.account for r in records)


def test_the_agents_suggestion_list_shows_the_customer(demo_session):
    [suggestion] = _open_suggestions(demo_session, "linyutong", "Nordic MedTech")
    out = run_tool("suggestions", {"action": "list"}, noon_ctx(demo_session, "linyutong", "en"))
    assert out.error is None
    assert f"- [{suggestion.id}] " in out.text and f"Nordic MedTech GmbH · lead #{suggestion.lead_id} {suggestion.text}" in out.text
    assert {s["id"]: s["account"] for s in out.data["suggestions"]}[suggestion.id] == "Nordic MedTech GmbH"


# -- call debriefs --------------------------------------------------------------------------------------

def test_a_debrief_of_the_call_with_a_named_customer_picks_the_latest_call_with_it(demo_session):
    rep = get_user(demo_session, "suntao")
    account = demo_session.scalar(select(Account).where(Account.name == "南京市卫生健康委员会"))
    with_it = demo_session.scalars(select(Call).where(Call.rep_id == rep.id, Call.account_id == account.id)
                                   .order_by(Call.started_at.desc(), Call.id.desc())).all()
    latest_overall = demo_session.scalar(select(Call).where(Call.rep_id == rep.id).order_by(Call.started_at.desc(), Call.id.desc()))
    assert len(with_it) >= 2 and latest_overall.account_id != account.id  # the account's latest is not simply the latest
    answer = Copilot(planner=OfflinePlanner()).ask(noon_ctx(demo_session, "suntao"), "复盘一下南京市卫生健康委员会那通电话")
    assert [(t["name"], t["args"]) for t in answer.tools] == [("call_debrief", {"account_id": account.id})]
    assert f"通话 {with_it[0].id}(南京市卫生健康委员会," in answer.answer


def test_a_debrief_header_names_the_customer(demo_session):
    call = demo_session.scalar(select(Call).where(Call.rep_id == get_user(demo_session, "suntao").id, Call.account_id.is_not(None))
                               .order_by(Call.id))
    customer = demo_session.get(Account, call.account_id).name
    zh = run_tool("call_debrief", {"call_id": call.id}, noon_ctx(demo_session, "suntao"))
    en = run_tool("call_debrief", {"call_id": call.id}, noon_ctx(demo_session, "suntao", "en"))
    assert zh.text.splitlines()[0].startswith(f"通话 {call.id}({customer},")
    assert en.text.splitlines()[0].startswith(f"Debrief of call {call.id} ({customer}, ")
    # a manager reading a rep's call: the rep, then the customer
    manager = run_tool("call_debrief", {"call_id": call.id}, noon_ctx(demo_session, "chenjing"))
    assert manager.text.splitlines()[0].startswith(f"通话 {call.id}(孙涛,{customer},")


# -- successor for one named account ---------------------------------------------------------------

def test_successor_keeps_only_the_named_account_and_the_full_handover_is_longer(demo_session):
    ctx = noon_ctx(demo_session, "chenjing")
    full = run_tool("successor", {"rep": "zhangwei"}, ctx)
    one = run_tool("successor", {"rep": "zhangwei", "account": "张伟要离职了 宁波宏达风电这家谁接"}, ctx)
    assert full.error is None and one.error is None
    assert [a["account"] for a in one.data["accounts"]] == ["宁波宏达风电设备有限公司"]
    assert len(full.data["accounts"]) > 1 and "宁波宏达风电设备有限公司" in [a["account"] for a in full.data["accounts"]]
    assert one.text.splitlines()[0] == "**张伟的客户交接** · 1 个客户" and "宁波宏达风电设备有限公司" in one.text
    assert one.focus == {"leaving_rep": "zhangwei"}


def test_named_accounts_needs_two_shared_name_tokens(demo_session):
    accounts = run_tool("successor", {"rep": "zhangwei"}, noon_ctx(demo_session, "chenjing")).data["accounts"]
    assert [a["account"] for a in named_accounts(accounts, "宁波宏达风电这家呢 给谁")] == ["宁波宏达风电设备有限公司"]
    assert named_accounts(accounts, "医院这家谁接") == []  # "医院" alone names nothing
    # a name that fits no account: the whole handover stays
    full = run_tool("successor", {"rep": "zhangwei", "account": "医院这家谁接"}, noon_ctx(demo_session, "chenjing"))
    assert len(full.data["accounts"]) == len(accounts)


# -- one rep's alerts --------------------------------------------------------------------------------

def test_a_manager_gets_only_the_named_reps_alerts(intel_session):
    lina = get_user(intel_session, "lina")
    ctx = noon_ctx(intel_session, "chenjing")
    team = run_tool("alerts", {"action": "list"}, ctx)
    hers = run_tool("alerts", {"action": "list", "owner": "lina"}, ctx)
    expected = set(intel_session.scalars(select(Alert.id).where(Alert.owner_id == lina.id)))
    assert hers.error is None and expected
    assert {a["id"] for a in hers.data["alerts"]} == expected
    assert {a["owner"] for a in hers.data["alerts"]} == {"lina"}
    assert len(team.data["alerts"]) > len(hers.data["alerts"])
    assert all("负责人 lina(李娜)" in line for line in hers.text.splitlines() if line.startswith("- #"))


def test_a_rep_asking_for_another_reps_alerts_is_refused(intel_session):
    out = run_tool("alerts", {"action": "list", "owner": "lina"}, noon_ctx(intel_session, "zhangwei"))
    assert out.error == "permission" and not out.data and not out.evidence
    mine = run_tool("alerts", {"action": "list", "owner": "zhangwei"}, noon_ctx(intel_session, "zhangwei"))
    assert mine.error is None and {a["owner"] for a in mine.data["alerts"]} == {"zhangwei"}


# -- resolve_lead(prefer=...) ------------------------------------------------------------------------

def test_resolve_lead_returns_the_one_preferred_lead_among_one_accounts_several(demo_session):
    ctx = noon_ctx(demo_session, "tangxiuying")
    choices = resolve_lead(ctx, "天津医科大学附属第一医院")
    assert isinstance(choices, ToolOutput) and choices.error is None
    ids = [c["lead_id"] for c in choices.data["choices"]]
    assert len(ids) >= 2 and {c["account"] for c in choices.data["choices"]} == {"天津医科大学附属第一医院"}
    wanted = ids[-1]
    assert resolve_lead(ctx, "天津医科大学附属第一医院", prefer=lambda lead_ids: {wanted} & set(lead_ids)) == wanted
    # several (or no) preferred leads: still the choice list
    assert isinstance(resolve_lead(ctx, "天津医科大学附属第一医院", prefer=set), ToolOutput)
    assert isinstance(resolve_lead(ctx, "天津医科大学附属第一医院", prefer=lambda lead_ids: set()), ToolOutput)


def test_a_routing_question_about_an_account_picks_its_routed_lead(intel_session):
    decision = intel_session.scalar(
        select(RoutingDecision).join(Lead, Lead.id == RoutingDecision.lead_id).join(Account, Account.id == Lead.account_id)
        .where(Account.name == "南京市妇幼保健院", RoutingDecision.status != "dry_run"))
    assert decision is not None
    ctx = noon_ctx(intel_session, "chenjing", "en")
    assert isinstance(resolve_lead(ctx, "南京市妇幼保健院"), ToolOutput)  # several leads of that account
    out = run_tool("lead_routing", {"mode": "why", "query": "南京市妇幼保健院"}, ctx)
    assert out.error is None and f"Lead #{decision.lead_id} " in out.text


# -- routing explanations name the person -----------------------------------------------------------

@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_routing_explanation_names_the_rep_and_the_specialist_with_their_logins(intel_session, language):
    decision = intel_session.scalar(select(RoutingDecision).where(RoutingDecision.specialist_id.is_not(None))
                                    .order_by(RoutingDecision.id))
    rep, specialist = intel_session.get(User, decision.rep_id), intel_session.get(User, decision.specialist_id)
    name = (lambda u: u.name) if language == "zh" else (lambda u: u.name_en or u.name)
    summary = explain_decision(ctx=noon_ctx(intel_session, rep.login, language), decision_id=decision.id).summary
    if language == "zh":
        assert f"负责人 {name(rep)} ({rep.login}),专家 {name(specialist)} ({specialist.login})," in summary
    else:
        assert f"rep {name(rep)} ({rep.login}), specialist {name(specialist)} ({specialist.login})," in summary
    why = run_tool("lead_routing", {"mode": "why", "lead_id": decision.lead_id}, noon_ctx(intel_session, rep.login, language))
    assert why.error is None and f"{name(rep)} ({rep.login})" in why.text


def test_a_routing_explanation_without_a_specialist_names_only_the_rep(intel_session):
    decision = intel_session.scalar(select(RoutingDecision).where(RoutingDecision.specialist_id.is_(None),
                                                                  RoutingDecision.rep_id.is_not(None)).order_by(RoutingDecision.id))
    rep = intel_session.get(User, decision.rep_id)
    summary = explain_decision(ctx=noon_ctx(intel_session, "wangjianhua"), decision_id=decision.id).summary
    assert f"负责人 {rep.name} ({rep.login})," in summary and "专家" not in summary
