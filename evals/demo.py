"""A fresh demo company for evals and benchmarks: seed 7, as of 2026-11-20, call metrics computed."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from crm.db import make_engine, session_factory, upgrade_schema
from tools.demo_setup import build_demo

AS_OF = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 12)


def build_eval_demo(folder: Path, scale: int = 1):
    from tools.calls import recompute_call_metrics

    engine = make_engine(f"sqlite:///{Path(folder) / f'eval-{scale}.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=scale, as_of=AS_OF)
    with session_factory(engine)() as session:
        recompute_call_metrics(session)
        session.commit()
    return engine


def build_eval_knowledge(folder: Path, engine, embedder: str = "e5", *, dense_calls: bool = True):
    """The demo playbooks and calls in a knowledge store (the calls embedded too, unless
    ``dense_calls`` is off: then keyword-searchable, as ``init --demo`` leaves them)."""
    from knowledge import KnowledgeStore, make_embedder
    from tools.demo_setup import index_demo_knowledge

    store = KnowledgeStore(Path(folder), embedder=make_embedder(embedder))
    index_demo_knowledge(store, engine, dense_calls=dense_calls)
    return store
