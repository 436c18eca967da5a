"""Setting up the demo company: crm/ writes its rows; the steps that need the services run here,
above crm/ — the lead-intent snapshots, the calls' conversation metrics and the demo playbooks
and calls in the knowledge base.

``build_demo`` is what every test, eval and benchmark needs (rows + intent snapshots);
``set_up_demo`` adds the call metrics (what ``repcopilot init --demo`` and the evals build);
``index_demo_knowledge`` puts the demo's playbooks and calls into a knowledge store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.errors import UserInputError
from crm.db import session_scope
from crm.demo import (
    DEFAULT_SEED,
    DEMO_PLAYBOOKS,
    HISTORY_DAYS,
    DemoReport,
    Progress,
    entity_counts,
    existing_demo,
    has_intent_snapshots,
    record_demo,
    write_demo_company,
)
from crm.models import CallMetric
from tools.calls import recompute_call_metrics
from tools.intent_snapshots import month_starts, snapshot_intent_scores

if TYPE_CHECKING:
    from knowledge import KnowledgeStore
    from knowledge.store import IndexReport


def build_demo(
    engine: Engine,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    as_of: date | None = None,
    on_progress: Progress | None = None,
) -> DemoReport:
    """Build the demo company into an upgraded, empty (or same-demo) database: its rows, then
    the monthly lead-intent snapshots. Safe to re-run on the same demo."""
    if scale < 1:
        raise UserInputError("--scale must be 1 or more")
    say = on_progress or (lambda _msg: None)
    with session_scope(engine) as session:
        info = existing_demo(session, seed=seed, scale=scale)
        if info:
            if not has_intent_snapshots(session):  # built before the snapshots existed: add them, once
                write_intent_snapshots(session, date.fromisoformat(info["as_of"]))
            return DemoReport(seed, scale, info["as_of"], False, entity_counts(session))
    as_of = as_of or datetime.now(UTC).date()
    t0 = time.perf_counter()
    written = write_demo_company(engine, seed=seed, scale=scale, as_of=as_of, say=say)
    say("scoring lead intent (monthly snapshots)")
    t_snap = time.perf_counter()
    with session_scope(engine) as session:
        write_intent_snapshots(session, as_of)
        record_demo(session, seed=seed, scale=scale, as_of=as_of, traits=written.traits)
    t_snap = time.perf_counter() - t_snap
    with session_scope(engine) as session:
        counts = entity_counts(session)
    return DemoReport(
        seed, scale, as_of.isoformat(), True, counts,
        seconds=time.perf_counter() - t0, insert_seconds=written.insert_s, rows_inserted=written.rows_inserted,
        timings={"generate_s": written.generate_s, "insert_s": written.insert_s, "intent_snapshots_s": t_snap},
    )


def write_intent_snapshots(session: Session, as_of: date) -> int:
    """The demo's intent-score snapshots (the average-intent-score KPI's data): every open lead
    scored on the first day of each month of the demo's year of history, and at its as-of date."""
    return snapshot_intent_scores(session, as_of_dates=month_starts(as_of - timedelta(days=HISTORY_DAYS), as_of))


def add_call_metrics(engine: Engine) -> int:
    """Compute the demo calls' conversation metrics from their turns; the number of metric rows stored."""
    with session_scope(engine) as session:
        recompute_call_metrics(session)
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(CallMetric)) or 0


def set_up_demo(
    engine: Engine,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    as_of: date | None = None,
    on_progress: Progress | None = None,
) -> DemoReport:
    """``build_demo``, then (for a newly built demo) the calls' conversation metrics, counted
    in the report as ``call_metrics``."""
    report = build_demo(engine, seed=seed, scale=scale, as_of=as_of, on_progress=on_progress)
    if report.built:
        if on_progress:
            on_progress("computing the demo calls' conversation metrics")
        report.counts["call_metrics"] = add_call_metrics(engine)
    return report


@dataclass
class DemoKnowledge:
    """What indexing the demo into a knowledge store did."""

    playbooks: IndexReport
    calls: IndexReport


def index_demo_knowledge(store: KnowledgeStore, engine: Engine, *, dense_calls: bool = False) -> DemoKnowledge:
    """The demo playbooks (embedded) and calls into ``store``; unchanged ones are skipped.
    Without ``dense_calls`` the calls are keyword-searchable now and get vectors by ``kb sync``."""
    from tools.knowledge import transcripts_for_index

    playbooks = store.index_files([DEMO_PLAYBOOKS])
    with session_scope(engine) as session:
        calls = store.index_transcripts(transcripts_for_index(session), dense=dense_calls)
    return DemoKnowledge(playbooks, calls)


__all__ = [
    "DemoKnowledge",
    "add_call_metrics",
    "build_demo",
    "index_demo_knowledge",
    "set_up_demo",
    "write_intent_snapshots",
]
