"""What several nodes share through the database: blobs (uploads, charts) and trainer scenarios."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from core.blobs import CHUNK_BYTES, BlobMissing, LocalBlobStore
from core.settings import Settings
from crm.blobs import DatabaseBlobStore, blob_store_for
from crm.db import session_scope
from crm.models import Blob, BlobChunk, User


def _file(tmp_path, size: int):
    path = tmp_path / "call.wav"
    path.write_bytes(os.urandom(size))
    return path


def test_a_blob_in_the_database_reads_back_byte_for_byte_in_pieces(engine, tmp_path):
    source = _file(tmp_path, 2 * CHUNK_BYTES + 12345)
    store = DatabaseBlobStore(engine)
    assert store.put_file("uploads/abc.wav", source) == source.stat().st_size
    pieces = list(store.read("uploads/abc.wav"))
    assert [len(p) for p in pieces] == [CHUNK_BYTES, CHUNK_BYTES, 12345]  # streamed a piece at a time
    assert hashlib.sha256(b"".join(pieces)).digest() == hashlib.sha256(source.read_bytes()).digest()
    fetched = store.fetch_to("uploads/abc.wav", tmp_path / "elsewhere" / "abc.wav")
    assert fetched.read_bytes() == source.read_bytes()


def test_storing_a_key_again_replaces_it_and_delete_removes_every_piece(engine, tmp_path):
    store = DatabaseBlobStore(engine)
    store.put_file("charts/1-x.png", _file(tmp_path, CHUNK_BYTES + 1))
    store.put_file("charts/1-x.png", _file(tmp_path, 10))
    assert b"".join(store.read("charts/1-x.png")) == (tmp_path / "call.wav").read_bytes()
    store.delete("charts/1-x.png")
    assert not store.exists("charts/1-x.png")
    with pytest.raises(BlobMissing):
        store.read("charts/1-x.png")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(BlobChunk)) == 0
        assert s.scalar(select(func.count()).select_from(Blob)) == 0


@pytest.mark.parametrize("key", ["../etc/passwd", "uploads/../x", "/abs", "uploads/a b"])
def test_a_key_that_could_leave_the_store_is_refused(tmp_path, key):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).path(key)


def test_the_store_is_the_database_on_postgresql_and_home_otherwise(engine, tmp_path):
    url = str(engine.url.render_as_string(hide_password=False))
    store = blob_store_for(Settings(home=tmp_path, database_url=url), engine, tmp_path)
    assert isinstance(store, DatabaseBlobStore if url.startswith("postgresql") else LocalBlobStore)
    forced = blob_store_for(Settings(home=tmp_path, database_url=url, blob_store="database"), engine, tmp_path)
    assert isinstance(forced, DatabaseBlobStore)


def test_an_upload_kept_in_the_database_is_transcribed_from_there_and_home_keeps_no_copy(tmp_path):
    """With the blob store in the database, the upload is not left in the server's HOME: a worker on
    another machine fetches it from the database, runs it, and removes its own temporary copy."""
    import time
    from pathlib import Path

    from fastapi.testclient import TestClient

    from api.app import create_app
    from crm.db import make_engine
    from crm.models import Call, Job
    from tests.api.conftest import demo_home_with_tokens

    vtt = Path(__file__).resolve().parents[1] / "speech" / "data" / "teams-meeting.vtt"
    tokens = demo_home_with_tokens(tmp_path, ("zhangwei",))
    app = create_app(Settings(home=tmp_path, blob_store="database", embedding_model="hash"))
    with TestClient(app) as client:
        r = client.post("/api/calls", files={"file": ("meeting.vtt", vtt.read_bytes(), "text/vtt")},
                        data={"rep_speaker": "Wei Zhang"}, headers={"Authorization": f"Bearer {tokens['zhangwei']}"})
        assert r.status_code == 202, r.text
        for _ in range(600):
            job = client.get(f"/api/jobs/{r.json()['id']}", headers={"Authorization": f"Bearer {tokens['zhangwei']}"}).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
    assert job["status"] == "done" and job["result"]["status"] == "ingested", job
    engine = make_engine(f"sqlite:///{tmp_path / 'repcopilot.db'}")
    with session_scope(engine) as s:
        payload = s.get(Job, job["id"]).payload
        assert "path" not in payload and payload["blob"].startswith("uploads/")
        assert DatabaseBlobStore(engine).exists(payload["blob"])
        assert s.get(Call, job["result"]["call_id"]).duration_s > 20
    engine.dispose()
    uploads = tmp_path / "uploads"
    assert [p for p in uploads.rglob("*") if p.is_file()] == [] if uploads.exists() else True


def test_a_scenario_created_on_one_node_is_in_the_database_and_every_node_lists_it(engine, tmp_path):
    """A trainer creates a scenario with node A's HOME; node B (another HOME, the same database) lists
    and opens it; created again with changes, B sees the new version."""
    import shutil

    from crm.access import get_user
    from tests.conftest import AS_OF
    from tools.context import ToolContext
    from tools.demo_setup import build_demo
    from tools.practice.scenario import BUILTIN_DIR
    from tools.practice.service import create_scenario, list_scenarios, scenario_for

    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    source = next(BUILTIN_DIR.glob("*.yaml"))
    mine = tmp_path / "mine.yaml"
    text = source.read_text(encoding="utf-8")
    code = text.split("code:", 1)[1].split()[0].strip("'\"")
    mine.write_text(text.replace(f"code: {code}", "code: shared-drill", 1), encoding="utf-8")
    with session_scope(engine) as s:
        trainer = s.scalars(select(User).where(User.role == "trainer").order_by(User.id)).first()
        out = create_scenario(ToolContext(user=trainer, session=s, language="en", home=home_a), mine)
        assert out["code"] == "shared-drill" and out["replaced"] is False
    with session_scope(engine) as s:
        rep = get_user(s, "zhangwei")
        ctx_b = ToolContext(user=rep, session=s, language="en", home=home_b)
        assert "shared-drill" in {row["code"] for row in list_scenarios(ctx_b)["scenarios"]}
        assert scenario_for(ctx_b, "shared-drill").code == "shared-drill"
    shutil.copyfile(mine, tmp_path / "v2.yaml")
    (tmp_path / "v2.yaml").write_text(mine.read_text(encoding="utf-8") + "\n# v2\n", encoding="utf-8")
    with session_scope(engine) as s:
        trainer = s.merge(trainer)
        assert create_scenario(ToolContext(user=trainer, session=s, language="en", home=home_a), tmp_path / "v2.yaml")["replaced"]
    with session_scope(engine) as s:
        scenario_for(ToolContext(user=get_user(s, "zhangwei"), session=s, language="en", home=home_b), "shared-drill")
    assert (home_b / "scenarios" / "shared-drill.yaml").read_text(encoding="utf-8").endswith("# v2\n")


def test_storing_and_reading_a_large_blob_never_holds_the_file_in_memory(engine, tmp_path):
    """A 24 MiB recording goes in and comes out a piece at a time: Python's peak allocation stays
    within a few pieces, not the file's size."""
    import tracemalloc

    size = 24 * CHUNK_BYTES
    source = tmp_path / "long-call.wav"
    with source.open("wb") as out:
        for _ in range(24):
            out.write(os.urandom(CHUNK_BYTES))
    store = DatabaseBlobStore(engine)
    tracemalloc.start()
    try:
        store.put_file("uploads/long-call.wav", source)
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        for piece in store.read("uploads/long-call.wav"):
            digest.update(piece)
        _, peak_out = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
    assert peak_in < 6 * CHUNK_BYTES and peak_out < 6 * CHUNK_BYTES, (peak_in, peak_out, size)
