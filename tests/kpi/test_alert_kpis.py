"""The alert KPIs (volume, adoption, expiry, escalation per rule / rep / team) on a demo company with
real alerts — raised by the signal rules, some adopted, dismissed, escalated and expired — equal the
hand-written computation, on SQLite and PostgreSQL; a rep gets only their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from crm.access import get_user
from crm.db import session_factory
from crm.demo import build_demo
from crm.models import Alert
from tests.conftest import AS_OF, backend_engine
from tests.kpi.oracle import expected
from tools.alerts import decide_alert, escalate_alert
from tools.context import ToolContext
from tools.kpi import answer_question
from tools.signals import run_signals

AT = datetime(2026, 11, 20, 12)
QUESTIONS = [
    ("wangjianhua", "zh", "本月各规则的提醒数量"),
    ("wangjianhua", "zh", "本月各规则的提醒采纳率"),
    ("wangjianhua", "en", "alert expiry rate by rep this month"),
    ("wangjianhua", "en", "alert escalation rate by team this month"),
    ("chenjing", "zh", "本月提醒采纳率"),
    ("zhangwei", "zh", "本月提醒数量"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def alert_engine(request, tmp_path_factory) -> Iterator[Engine]:
    for eng in backend_engine(request.param, tmp_path_factory, "alertkpi"):
        build_demo(eng, seed=7, scale=1, as_of=AS_OF)
        with session_factory(eng)() as s:
            admin = ToolContext(user=get_user(s, "wangjianhua"), session=s, clock=lambda: AT - timedelta(days=10))
            run_signals(ctx=admin, since=AT - timedelta(days=24), until=AT - timedelta(days=10))
            s.commit()
            admin.clock = lambda: AT
            run_signals(ctx=admin, since=AT - timedelta(days=10), until=AT)  # escalates and expires the first batch
            s.commit()
            ids = list(s.scalars(select(Alert.id).where(Alert.status == "shown").order_by(Alert.id)))
            for i, aid in enumerate(ids):
                if i % 3 == 0:
                    decide_alert(ctx=admin, alert_id=aid, decision="adopted")
                elif i % 3 == 1:
                    decide_alert(ctx=admin, alert_id=aid, decision="dismissed")
                elif i % 5 == 2:
                    escalate_alert(ctx=admin, alert_id=aid)
            s.commit()
        yield eng


def test_the_alert_data_has_every_outcome(alert_engine):
    with session_factory(alert_engine)() as s:
        statuses = set(s.scalars(select(Alert.status)))
    assert {"adopted", "dismissed", "expired"} <= statuses


@pytest.mark.parametrize("who,lang,question", QUESTIONS, ids=[q for _, _, q in QUESTIONS])
def test_the_alert_kpi_equals_the_hand_written_computation(alert_engine, who, lang, question):
    with session_factory(alert_engine)() as s:
        ctx = ToolContext(user=get_user(s, who), session=s, language=lang, clock=lambda: AT)
        answer = answer_question(ctx=ctx, question=question)
        assert answer.metric.startswith("alert_")
        oracle = expected(s, metric=answer.metric, scope=ctx.scope, spec=answer.spec)
    assert oracle["value"] is not None and answer.value == pytest.approx(oracle["value"], rel=1e-6)
    got = {tuple(r.get(f"{d}_login", r[d]) for d in answer.spec.dimensions): r["value"] for r in answer.rows}  # names shown, logins kept
    if answer.spec.dimensions and "region" not in answer.spec.dimensions:
        assert got == pytest.approx(oracle["rows"], rel=1e-6)
    assert answer.definition and "SELECT" in answer.sql
