"""The alert KPIs (volume, adoption, expiry, escalation per rule / rep / team) on a demo company with
real alerts — raised by the signal rules, some adopted, dismissed, escalated and expired — equal the
hand-written computation, on SQLite and PostgreSQL; a rep gets only their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, select

from crm.access import get_user
from crm.db import session_factory
from crm.models import Alert
from evals.kpi_eval import seed_alerts
from tests.conftest import AS_OF, backend_engine
from tests.kpi.oracle import expected
from tools.context import ToolContext
from tools.demo_setup import build_demo
from tools.kpi import answer_question

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
        seed_alerts(eng, at=AT, first_window_days=14)
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
