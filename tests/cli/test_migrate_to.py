"""``repcopilot migrate-to``: a single-node install (SQLite + HOME) moved onto PostgreSQL and a
Chroma server keeps its company, its queued uploads, charts, trainer scenarios and knowledge —
a node with an empty HOME then serves all of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.blobs import DatabaseBlobStore
from crm.db import engine_for, make_engine, session_scope
from crm.models import Base, Call, Job, PracticeScenarioRecord, User
from tests.api.conftest import demo_home_with_tokens
from tests.chroma_server import chroma_command, chroma_server
from tests.conftest import _PG_SKIP, _fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(bool(_PG_SKIP) or chroma_command() is None,
                                reason=_PG_SKIP or "the chroma command (chromadb package) is not installed")
MOVED_INTO = {"blobs", "blob_chunks", "kb_chunks", "kb_sources", "kb_partitions", "kb_meta", "kb_pending", "practice_scenarios"}  # filled by the move
PLAYBOOK = "# 折扣\n\n## 审批\n\n销售本人可给不超过5%的折扣,超过5%需要区域经理审批,超过10%需要销售总监审批。\n"


def _run(home: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "cli.main", "--home", str(home), *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_a_single_node_install_moves_onto_postgresql_and_chroma_and_another_home_serves_it(tmp_path):
    old = tmp_path / "single"
    old.mkdir()
    tokens = demo_home_with_tokens(old, ("zhangwei",))
    base = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {
        "PYTHONPATH": str(ROOT), "REPCOPILOT_EMBEDDING_MODEL": "hash"}
    (tmp_path / "discount.md").write_text(PLAYBOOK, encoding="utf-8")
    _run(old, base, "kb", "index", str(tmp_path / "discount.md"))
    scenario = (ROOT / "prompts" / "scenarios" / "dental-chain-expansion.yaml").read_text(encoding="utf-8")
    (old / "scenarios").mkdir()
    (old / "scenarios" / "old-drill.yaml").write_text(scenario.replace("code: dental-chain-expansion", "code: old-drill", 1),
                                                      encoding="utf-8")
    (old / "charts").mkdir()
    (old / "charts" / f"1-{'a' * 32}.png").write_bytes(b"\x89PNG\r\n\x1a\nchart")
    (old / "uploads").mkdir()
    (old / "uploads" / "queued.vtt").write_bytes((ROOT / "tests" / "speech" / "data" / "teams-meeting.vtt").read_bytes())
    (old / "uploads" / "kept-by-path.wav").write_bytes(b"RIFF-kept-by-path")  # recordings kept by two calls:
    (old / "uploads" / "kept-as-blob.wav").write_bytes(b"RIFF-kept-as-blob")  # an older path, a local blob key
    source = make_engine(f"sqlite:///{old / 'repcopilot.db'}")
    with session_scope(source) as s:
        uploader = s.scalar(select(User).where(User.login == "zhangwei"))
        kept = s.scalars(select(Call).where(Call.rep_id == uploader.id).order_by(Call.id).limit(2)).all()
        kept[0].source_file = str(old / "uploads" / "kept-by-path.wav")
        kept[1].source_file = "blob:uploads/kept-as-blob.wav"
        kept_ids = [c.id for c in kept]
        from tools.jobs import enqueue

        enqueue(s, "ingest_call", {"path": str(old / "uploads" / "queued.vtt"), "filename": "queued.vtt",
                                   "rep_id": uploader.id, "rep_speaker": "Wei Zhang"}, user_id=uploader.id)
    url, drop = _fresh_pg_database()
    try:
        with chroma_server(tmp_path / "chroma") as chroma_url:
            out = _run(old, base, "migrate-to", "--database-url", url, "--chroma-url", chroma_url)
            assert "conversation memory is not moved" in out.stdout
            target = make_engine(url)
            with source.connect() as a, target.connect() as b:
                for table in Base.metadata.sorted_tables:
                    if table.name in MOVED_INTO:
                        continue
                    count = select(func.count()).select_from(table)
                    assert a.scalar(count) == b.scalar(count), table.name
            with session_scope(target) as s:
                job = s.scalar(select(Job).where(Job.kind == "ingest_call", Job.status == "queued"))
                assert job.payload["blob"] == "uploads/queued.vtt" and "path" not in job.payload
                assert s.get(PracticeScenarioRecord, "old-drill") is not None
                s.add(User(login="newhire", name="新人", name_en="New Hire", role="rep", language="zh", hire_date=date(2026, 12, 1)))  # ids continue
            store = DatabaseBlobStore(target)
            assert b"".join(store.read(f"charts/1-{'a' * 32}.png")) == b"\x89PNG\r\n\x1a\nchart"
            assert store.exists("uploads/queued.vtt")
            with session_scope(target) as s:  # each kept recording is now a blob any node reads
                assert [s.get(Call, i).source_file for i in kept_ids] == ["blob:uploads/kept-by-path.wav",
                                                                         "blob:uploads/kept-as-blob.wav"]
            assert b"".join(store.read("uploads/kept-by-path.wav")) == b"RIFF-kept-by-path"
            assert b"".join(store.read("uploads/kept-as-blob.wav")) == b"RIFF-kept-as-blob"
            # a node with an empty HOME, on the new deployment, finds the playbook and the token still works
            shared = base | {"REPCOPILOT_DATABASE_URL": url, "REPCOPILOT_CHROMA_URL": chroma_url}
            fresh = tmp_path / "node"
            hits = json.loads(_run(fresh, shared, "kb", "search", "折扣审批", "--json").stdout)
            assert hits and "区域经理审批" in hits[0]["text"]
            assert _run(fresh, shared, "worker", "--once").stdout.strip().startswith("2 job(s) run")  # the queued upload + its indexing
            from api.auth import user_for_token

            with session_scope(target) as s:
                assert user_for_token(s, tokens["zhangwei"]).login == "zhangwei"
            refused = subprocess.run([sys.executable, "-m", "cli.main", "--home", str(old), "migrate-to", "--database-url", url],
                                     env=base, cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert refused.returncode != 0 and "already holds users" in refused.stdout + refused.stderr
            target.dispose()
    finally:
        source.dispose()
        engine_for.cache_clear()
        drop()


def test_kb_sync_on_a_postgresql_node_moves_the_local_catalog_and_vectors_in_once(tmp_path):
    """A HOME that indexed playbooks on its own (SQLite FTS5 + embedded Chroma), pointed at PostgreSQL and a
    Chroma server: ``kb sync`` moves both in and renames the file; another HOME then finds the playbook."""
    from crm.db import upgrade_schema

    old = tmp_path / "node-a"
    base = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {
        "PYTHONPATH": str(ROOT), "REPCOPILOT_EMBEDDING_MODEL": "hash", "REPCOPILOT_HOME": str(old)}
    (tmp_path / "discount.md").write_text(PLAYBOOK, encoding="utf-8")
    old.mkdir()
    _run(old, base, "kb", "index", str(tmp_path / "discount.md"))
    url, drop = _fresh_pg_database()
    try:
        target = make_engine(url)
        upgrade_schema(target)
        with chroma_server(tmp_path / "chroma") as chroma_url:
            shared = base | {"REPCOPILOT_DATABASE_URL": url, "REPCOPILOT_CHROMA_URL": chroma_url}
            out = _run(old, shared, "kb", "sync")
            assert "moved the local knowledge base into the database: 1 chunks, 1 sources, 1 vectors" in out.stdout, out.stdout
            assert not (old / "knowledge" / "catalog.sqlite").exists() and (old / "knowledge" / "catalog.sqlite.moved").exists()
            assert "moved" not in _run(old, shared, "kb", "sync").stdout.split("\n")[0]  # once
            hits = json.loads(_run(tmp_path / "node-b", shared, "kb", "search", "折扣审批", "--json").stdout)
            assert hits and "区域经理审批" in hits[0]["text"]
        target.dispose()
    finally:
        engine_for.cache_clear()
        drop()
