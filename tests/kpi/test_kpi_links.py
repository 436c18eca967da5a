"""The metric-only batch runner (evals/kpi_links.py) counts what a manager would get."""

from crm.db import session_factory
from evals.kpi_links import outcome, run_batch


def test_outcomes():
    assert outcome({"metric": "win_rate"}, "win_rate", None) == "ok"
    assert outcome({"metric": "win_rate"}, "calls_per_rep", None) == "wrong_metric"
    assert outcome({"metric": "win_rate"}, None, "KpiClarification") == "asked"
    assert outcome({"metric": None}, "win_rate", None) == "number_for_undefined"
    assert outcome({"metric": None}, None, "KpiClarification") == "ok"
    assert outcome({"metric": "win_rate"}, None, "PermissionDenied") == "refused"


def test_a_batch_on_the_demo(demo_engine):
    cases = [{"id": "a", "as": "chenjing", "question": "上个月华东区线索72小时跟进率是多少?", "metric": "lead_followup_72h_rate"},
             {"id": "b", "as": "chenjing", "question": "现在还开着的单子平均已经挂了多少天？", "metric": None},
             {"id": "c", "as": "chenjing", "question": "这个月的NPS是多少", "metric": None}]
    with session_factory(demo_engine)() as session:
        report = run_batch(session, cases)
    assert report["cases"] == 3 and report["defined ok"] == 1 and report["undefined ok"] == 2 and report["misses"] == []
