"""Setting up the demo above crm/: rows, intent snapshots, call metrics, knowledge — once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select

from core.errors import UserInputError
from crm.db import make_engine, session_scope, upgrade_schema
from crm.demo import DEMO_PLAYBOOKS, HISTORY_DAYS, demo_info
from crm.models import Call, CallMetric, IntentScoreSnapshot, Lead
from tools.demo_setup import build_demo, index_demo_knowledge, set_up_demo
from tools.intent_snapshots import month_starts

AS_OF = date(2026, 11, 20)


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    upgrade_schema(engine)
    said: list[str] = []
    report = set_up_demo(engine, seed=7, scale=1, as_of=AS_OF, on_progress=said.append)
    yield engine, report, said
    engine.dispose()


def test_set_up_demo_builds_the_company_scores_intent_and_computes_call_metrics(demo):
    engine, report, said = demo
    assert report.built and report.as_of == "2026-11-20" and report.rows_inserted > 60_000
    assert set(report.timings) == {"generate_s", "insert_s", "intent_snapshots_s"}
    assert report.counts["call_metrics"] == _count(engine, CallMetric) > 0
    assert said[-2:] == ["scoring lead intent (monthly snapshots)", "computing the demo calls' conversation metrics"]
    with session_scope(engine) as session:
        assert demo_info(session) == {"seed": 7, "scale": 1, "as_of": "2026-11-20"}


def test_intent_is_snapshot_on_each_month_start_of_the_year_and_on_the_as_of_date(demo):
    engine, _report, _said = demo
    with session_scope(engine) as session:
        dates = {d if isinstance(d, date) else d.date() for d in session.scalars(select(IntentScoreSnapshot.as_of).distinct())}
        first_lead = session.scalar(select(func.min(Lead.created_at))).date()
    wanted = month_starts(AS_OF - timedelta(days=HISTORY_DAYS), AS_OF)
    assert dates == {d for d in wanted if d > first_lead}  # before the first lead there is nothing to score
    assert AS_OF in dates and len(dates) >= 12


def test_setting_up_the_same_demo_again_changes_nothing(demo):
    engine, report, _said = demo
    metrics, snapshots = _count(engine, CallMetric), _count(engine, IntentScoreSnapshot)
    again = set_up_demo(engine, seed=7, scale=1, as_of=AS_OF)
    assert not again.built and again.counts == report.counts
    assert (_count(engine, CallMetric), _count(engine, IntentScoreSnapshot)) == (metrics, snapshots)


def test_a_demo_built_before_intent_snapshots_gets_them_once(demo):
    engine, _report, _said = demo
    before = _count(engine, IntentScoreSnapshot)
    with session_scope(engine) as session:
        session.execute(delete(IntentScoreSnapshot))
    assert not build_demo(engine, seed=7, scale=1).built
    assert _count(engine, IntentScoreSnapshot) == before


def test_another_seed_or_a_scale_below_one_is_refused(demo):
    engine, _report, _said = demo
    with pytest.raises(UserInputError, match="seed 7 and scale 1"):
        build_demo(engine, seed=8, scale=1)
    with pytest.raises(UserInputError, match="--scale must be 1 or more"):
        build_demo(engine, seed=7, scale=0)


class RecordingStore:
    """Stands in for KnowledgeStore: records what it was asked to index."""

    def __init__(self) -> None:
        self.files: list = []
        self.transcripts: list = []
        self.dense: list[bool] = []

    def index_files(self, paths):
        self.files.append(list(paths))
        return "playbooks"

    def index_transcripts(self, calls, dense=True):
        self.transcripts.append(calls)
        self.dense.append(dense)
        return "calls"


def test_demo_knowledge_is_the_playbooks_and_every_call_keyword_only_unless_asked(demo):
    engine, _report, _said = demo
    store = RecordingStore()
    indexed = index_demo_knowledge(store, engine)
    assert (indexed.playbooks, indexed.calls) == ("playbooks", "calls")
    assert store.files == [[DEMO_PLAYBOOKS]] and store.dense == [False]
    assert len(store.transcripts[0]) == _count(engine, Call) == 200
    index_demo_knowledge(store, engine, dense_calls=True)
    assert store.dense == [False, True]
