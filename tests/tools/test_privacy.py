"""Anonymized aggregate mode: while the switch is on, no copilot answer names a contact or shows an
individual customer event — every behaviour answer is group-level. Runs every typical question of the
agent eval (evals/agent_cases.jsonl) through the copilot (offline planner) as its user, on the demo
company, on SQLite and PostgreSQL; plus the lead tools called directly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.models import Contact, Lead, Touchpoint, User
from tools.journey import journey_timeline
from tools.leads import intent_score, lead_summary, next_best_action

CASES = [json.loads(line) for line in (Path(__file__).parents[2] / "evals" / "agent_cases.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]


@pytest.fixture(scope="module")
def copilot():
    from agent.planners import OfflinePlanner
    from agent.service import Copilot

    return Copilot(planner=OfflinePlanner())


def _contact_names(session) -> set[str]:
    """Contact names that cannot be mistaken for anything else in an answer (not a user's name,
    not part of an account name)."""
    users = set(session.scalars(select(User.name))) | set(session.scalars(select(User.name_en)))
    from crm.models import Account

    accounts = " ".join(session.scalars(select(Account.name)))
    return {n for n in session.scalars(select(Contact.name)) if n not in users and n not in accounts and len(n) >= 2}


def _leaks(text: str, evidence: list[dict], names: set[str], question: str = "") -> list[str]:
    found = [f"contact name {n!r}" for n in names if n in text and n not in question]  # echoing the asker's words is no leak
    found += [f"individual event {e}" for e in evidence if e.get("kind") == "touchpoint"]
    return found


def test_no_copilot_answer_names_a_contact_or_shows_an_individual_event_in_anonymized_mode(demo_session, ctx_for, copilot):
    names = _contact_names(demo_session)
    assert len(names) > 100
    leaks = []
    for case in CASES:
        if case.get("thread") or "knowledge_search" in case["expect_tools"]:
            continue  # follow-ups need their thread; knowledge answers quote playbooks and redacted calls, not behaviour
        ctx = ctx_for(demo_session, case["as"], anonymized=True)
        answer = copilot.ask(ctx, case["question"])
        body = answer.answer + json.dumps(answer.evidence, ensure_ascii=False)
        for leak in _leaks(body, answer.evidence, names, case["question"]):
            leaks.append(f"{case['id']}: {leak}")
    assert leaks == []


def test_the_lead_tools_show_counts_only_and_no_contact_in_anonymized_mode(demo_session, ctx_for):
    names = _contact_names(demo_session)
    # leads whose contacts consented and that have behaviour: the ones that would show events
    lead_ids = list(demo_session.scalars(select(Lead.id).join(Touchpoint, Touchpoint.lead_id == Lead.id)
                                         .join(Contact, Contact.id == Lead.contact_id)
                                         .where(Contact.consent_tracking.is_(True)).group_by(Lead.id).limit(25)))
    assert lead_ids
    for lid in lead_ids:
        for language in ("zh", "en"):
            ctx = ctx_for(demo_session, "wangjianhua", anonymized=True, language=language)
            s = lead_summary(ctx=ctx, lead_id=lid)
            text = s.render(language) + json.dumps(s.to_json(), ensure_ascii=False)
            assert _leaks(text, s.to_json()["last_touches"] + s.to_json()["intent"]["top_events"], names) == []
            assert s.lead.contact is None and s.last_touches == [] and s.intent.top_events == []
            assert all(e.kind != "touchpoint" for sug in next_best_action(ctx=ctx, lead_id=lid) for e in sug.evidence)
            assert intent_score(ctx=ctx, lead_id=lid).top_events == []
            j = journey_timeline(ctx=ctx, lead_id=lid)
            jt = json.dumps(j.to_json(), ensure_ascii=False)
            assert not any(n in jt for n in names)
            assert not re.search(r'"kind": "touchpoint"', jt)
