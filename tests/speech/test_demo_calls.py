"""The demo company's calls, measured by the same metric code as real calls, show the
traits the generator gave each rep: patient reps wait longer after pain points, curious
reps ask why more often."""

from __future__ import annotations

import statistics

from sqlalchemy import select

from crm.db import session_factory
from crm.demo import demo_traits
from crm.models import Call, CallMetric, User
from tools.calls import recompute_call_metrics


def test_metrics_computed_from_demo_turns_recover_each_reps_patience_and_curiosity(demo_engine):
    with session_factory(demo_engine)() as session:
        assert recompute_call_metrics(session) == 200
        session.commit()
        traits = demo_traits(session)
        rows = session.execute(select(User.login, CallMetric.name, CallMetric.value)
                               .join(Call, Call.rep_id == User.id).join(CallMetric, CallMetric.call_id == Call.id)
                               .where(CallMetric.value.is_not(None))).all()
    per_rep: dict[str, dict[str, list[float]]] = {}
    for login, name, value in rows:
        per_rep.setdefault(login, {}).setdefault(name, []).append(value)
    reps = [r for r in per_rep if "pain_point_pause_s" in per_rep[r] and "why_question_share" in per_rep[r]]
    assert len(reps) >= 25
    pause = [statistics.mean(per_rep[r]["pain_point_pause_s"]) for r in reps]
    why = [statistics.mean(per_rep[r]["why_question_share"]) for r in reps]
    assert statistics.correlation([traits[r]["patience_s"] for r in reps], pause) > 0.6
    assert statistics.correlation([traits[r]["curiosity"] for r in reps], why) > 0.6


def test_recomputing_is_idempotent(demo_engine):
    with session_factory(demo_engine)() as session:
        recompute_call_metrics(session)
        session.commit()
        first = sorted(session.execute(select(CallMetric.call_id, CallMetric.name, CallMetric.value)).all())
        recompute_call_metrics(session)
        session.commit()
        second = sorted(session.execute(select(CallMetric.call_id, CallMetric.name, CallMetric.value)).all())
    assert first == second and len(first) == 200 * 12
