"""Several nodes starting at once against a fresh PostgreSQL database take turns creating the
schema (``crm.db.schema_lock``, a ``pg_advisory_lock``): the migrations and LangGraph's
``PostgresSaver.setup()`` never run twice at the same moment, so no start-up fails or deadlocks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from crm.db import make_engine, schema_lock, upgrade_schema
from tests.conftest import _PG_SKIP, _fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(bool(_PG_SKIP), reason=_PG_SKIP or "")

START_A_NODE = """
import sys
from pathlib import Path
from api.runtime import Runtime
from core.settings import Settings
runtime = Runtime(Settings(home=Path(sys.argv[1]), database_url=sys.argv[2], inline_worker=False, embedding_model="hash"))
runtime.close()
print("started")
"""


def test_the_schema_lock_lets_one_process_at_a_time_upgrade_the_schema():
    url, drop = _fresh_pg_database()
    holder, other = make_engine(url), make_engine(url)
    try:
        finished = threading.Event()
        with schema_lock(holder):
            upgrading = threading.Thread(target=lambda: (upgrade_schema(other), finished.set()), daemon=True)
            upgrading.start()
            time.sleep(1.5)
            assert not finished.is_set(), "upgrade_schema ran while another process held the schema lock"
            assert not inspect(holder).has_table("meta")
        upgrading.join(120)
        assert finished.is_set() and inspect(holder).has_table("meta")
    finally:
        holder.dispose()
        other.dispose()
        drop()


def test_schema_lock_is_a_no_op_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    with schema_lock(engine), schema_lock(engine):  # nested on one node: no lock to wait for
        upgrade_schema(engine)
    assert inspect(engine).has_table("meta")
    engine.dispose()


def test_two_servers_starting_together_on_a_fresh_database_both_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {"PYTHONPATH": str(ROOT)}
    for round_ in range(2):  # each round a fresh database, both nodes started in the same instant
        url, drop = _fresh_pg_database()
        try:
            procs = [subprocess.Popen([sys.executable, "-c", START_A_NODE, str(tmp_path / f"home-{round_}-{n}"), url],
                                      env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for n in range(2)]
            outputs = [p.communicate(timeout=300)[0] for p in procs]
            assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
            assert all(o.strip().endswith("started") for o in outputs)
            engine = make_engine(url)
            tables = set(inspect(engine).get_table_names())
            engine.dispose()
            assert {"meta", "alembic_version", "checkpoints"} <= tables
        finally:
            drop()
