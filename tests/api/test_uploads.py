"""Call upload → a job → the worker: accepted uploads are always processed or reported
failed; refused uploads leave nothing behind; a retried upload is the same job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.settings import Settings
from crm.db import make_engine, session_scope
from crm.models import Call, Job, User
from tests.api.conftest import demo_home_with_tokens
from tools.jobs import JobWorker, enqueue

VTT = Path(__file__).resolve().parents[1] / "speech" / "data" / "teams-meeting.vtt"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("upload-home")
    tokens = demo_home_with_tokens(home, ("zhangwei", "lina", "chenjing", "huanglei"))
    app = create_app(Settings(home=home, max_upload_mb=1))
    with TestClient(app) as client:
        yield client, tokens, home


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _wait_job(client, token: str, job_id: int, timeout_s: float = 60) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=auth(token)).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")


def _uploads(home: Path) -> list[Path]:
    folder = home / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_an_uploaded_transcript_becomes_the_reps_call_through_a_job(served):
    client, tokens, home = served
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks for joining us")  # a file of this test's own
    r = client.post("/api/calls", files={"file": ("meeting.vtt", data, "text/vtt")},
                    data={"rep_speaker": "Wei Zhang"}, headers=auth(tokens["zhangwei"]))
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "done") and r.json()["status_url"] == f"/api/jobs/{r.json()['id']}"
    job = _wait_job(client, tokens["zhangwei"], r.json()["id"])
    assert job["status"] == "done" and job["result"]["status"] == "ingested", job
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as s:
        call = s.get(Call, job["result"]["call_id"])
        assert s.get(User, call.rep_id).login == "zhangwei" and call.duration_s > 20
    engine.dispose()
    # someone else's job is not theirs to see: the same 404 as a job that does not exist
    assert client.get(f"/api/jobs/{job['id']}", headers=auth(tokens["lina"])).status_code == 404
    assert client.get(f"/api/jobs/{job['id']}", headers=auth(tokens["huanglei"])).status_code == 404  # another team's manager
    assert client.get(f"/api/jobs/{job['id']}", headers=auth(tokens["chenjing"])).json()["status"] == "done"  # own manager


def test_an_ingested_upload_is_indexed_into_the_knowledge_base_by_a_follow_up_job(served):
    client, tokens, home = served
    data = VTT.read_bytes().replace(b"Honestly, our biggest headache", b"Frankly, our biggest headache")
    r = client.post("/api/calls", files={"file": ("k.vtt", data)}, data={"rep_speaker": "Wei Zhang"},
                    headers=auth(tokens["zhangwei"]))
    job = _wait_job(client, tokens["zhangwei"], r.json()["id"])
    index = _wait_job(client, tokens["zhangwei"], job["result"]["index_job"], timeout_s=120)
    assert index["status"] == "done" and index["result"]["call_id"] == job["result"]["call_id"], index
    from crm.access import get_user
    from tools.knowledge import open_store, visibility_for

    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as s:
        visibility = visibility_for(s, get_user(s, "zhangwei"))
    engine.dispose()
    hits = open_store(Settings(home=home), home).search("Frankly our biggest headache is unplanned downtime",
                                                       visibility=visibility, k=5)
    assert any(str(job["result"]["call_id"]) == str(h.metadata.get("call_id")) for h in hits), hits


def test_uploading_the_same_file_again_returns_the_first_job_and_stores_one_call(served):
    client, tokens, home = served
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thank you for joining")
    first = client.post("/api/calls", files={"file": ("a.vtt", data)}, data={"rep_speaker": "Wei Zhang"},
                        headers=auth(tokens["zhangwei"]))
    again = client.post("/api/calls", files={"file": ("b.vtt", data)}, data={"rep_speaker": "Wei Zhang"},
                        headers=auth(tokens["zhangwei"]))
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    _wait_job(client, tokens["zhangwei"], first.json()["id"])
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as s:
        import hashlib

        assert s.scalar(select(func.count()).select_from(Call).where(
            Call.content_hash == hashlib.sha256(data).hexdigest())) == 1
    engine.dispose()


def test_a_duplicate_upload_leaves_no_file_behind_whether_refused_at_once_or_skipped_by_the_worker(served):
    client, tokens, home = served
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks a lot for joining")
    first = client.post("/api/calls", files={"file": ("first.vtt", data)}, data={"rep_speaker": "Wei Zhang"},
                        headers=auth(tokens["zhangwei"]))
    assert _wait_job(client, tokens["zhangwei"], first.json()["id"])["result"]["status"] == "ingested"
    kept = _uploads(home)
    again = client.post("/api/calls", files={"file": ("again.vtt", data)}, data={"rep_speaker": "Wei Zhang"},
                        headers=auth(tokens["zhangwei"]))
    assert again.status_code == 200 and again.json()["duplicate"] is True and _uploads(home) == kept
    # the rep's manager files the same call: a new job, whose worker finds the call already stored
    by_manager = client.post("/api/calls", files={"file": ("manager.vtt", data)},
                             data={"rep": "zhangwei", "rep_speaker": "Wei Zhang"}, headers=auth(tokens["chenjing"]))
    assert by_manager.status_code == 202, by_manager.text
    job = _wait_job(client, tokens["chenjing"], by_manager.json()["id"])
    assert job["result"]["status"] == "skipped", job
    assert _uploads(home) == kept


@pytest.mark.parametrize(("name", "body", "status", "says"), [
    ("notes.docx", b"PK\x03\x04 not a call", 415, "unsupported file type '.docx'"),
    ("call.wav", b"RIFF....WAVEjunk that is no audio", 415, "convert it to WAV"),
    ("call.mp3", b"", 422, "is empty"),
    ("big.wav", b"\0" * (1024 * 1024 + 10), 413, "REPCOPILOT_MAX_UPLOAD_MB"),
])
def test_a_refused_upload_says_what_to_do_and_leaves_no_file_and_no_job(served, name, body, status, says):
    client, tokens, home = served
    jobs_before = len(client.get("/api/jobs", headers=auth(tokens["lina"])).json())
    files_before = _uploads(home)
    r = client.post("/api/calls", files={"file": (name, body)}, headers=auth(tokens["lina"]))
    assert r.status_code == status and says in r.json()["detail"], r.text
    assert _uploads(home) == files_before
    assert len(client.get("/api/jobs", headers=auth(tokens["lina"])).json()) == jobs_before
    assert client.get("/health").status_code == 200  # and the server keeps serving


def test_uploads_need_a_token_and_a_rep_you_may_upload_for(served):
    client, tokens, _ = served
    files = {"file": ("m.vtt", VTT.read_bytes())}
    assert client.post("/api/calls", files=files).status_code == 401
    # a rep cannot file a call as a colleague; a manager of another team cannot either
    assert client.post("/api/calls", files=files, data={"rep": "lina"}, headers=auth(tokens["zhangwei"])).status_code == 404
    assert client.post("/api/calls", files=files, data={"rep": "lina"}, headers=auth(tokens["huanglei"])).status_code == 404
    assert client.post("/api/calls", files=files, data={"language": "fr"}, headers=auth(tokens["lina"])).status_code == 422


# --- the worker on its own, on both backends -------------------------------------------------------------


def _settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, whisper_model="tiny.en")


def _rep(engine) -> int:
    with session_scope(engine) as s:
        rep = s.scalar(select(User).where(User.login == "zhangwei"))
        if rep is None:
            rep = User(login="zhangwei", name="张伟", name_en="Wei Zhang", role="rep", language="zh", hire_date=date(2024, 1, 1))
            s.add(rep)
            s.flush()
        return rep.id


def _vtt_job(engine, tmp_path, name: str = "c.vtt") -> int:
    path = tmp_path / name
    path.write_bytes(VTT.read_bytes() + f"\nNOTE {name}\n".encode())
    rep_id = _rep(engine)
    with session_scope(engine) as s:
        return enqueue(s, "ingest_call", {"path": str(path), "rep_id": rep_id, "rep_speaker": "Wei Zhang"}, user_id=rep_id).id


def test_a_job_whose_worker_died_is_run_again_after_its_lease_expires(engine, tmp_path):
    job_id = _vtt_job(engine, tmp_path, name=f"died-{time.time_ns()}.vtt")
    with session_scope(engine) as s:  # a worker took it, then the process was killed
        job = s.get(Job, job_id)
        job.status, job.locked_by, job.attempts = "running", "dead-host:1", 1
        job.updated_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    worker = JobWorker(engine, home=tmp_path, settings=_settings(tmp_path), lease_s=60)
    assert worker.run_pending() == 2  # the recovered job, then the indexing job it queued
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("done", 2, None) and job.result["call_id"]
        assert s.get(Job, job.result["index_job"]).status == "done"


def test_a_job_that_keeps_killing_its_worker_ends_failed_with_the_reason(engine, tmp_path):
    job_id = _vtt_job(engine, tmp_path, name=f"poison-{time.time_ns()}.vtt")
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        job.status, job.locked_by, job.attempts = "running", "dead-host:1", 3
        job.updated_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    JobWorker(engine, home=tmp_path, settings=_settings(tmp_path), lease_s=60).run_pending()
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "stopped 3 times" in job.error and "upload the file again" in job.error


def test_a_file_that_fails_to_ingest_fails_its_job_with_the_pipeline_message(engine, tmp_path):
    bad = tmp_path / f"bad-{time.time_ns()}.vtt"
    bad.write_text("this is not WEBVTT", encoding="utf-8")
    rep_id = _rep(engine)
    with session_scope(engine) as s:
        job_id = enqueue(s, "ingest_call", {"path": str(bad), "rep_id": rep_id}, user_id=rep_id).id
    JobWorker(engine, home=tmp_path, settings=_settings(tmp_path)).run_pending()
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and job.error and job.result is None


def test_two_workers_never_run_the_same_job(engine, tmp_path):
    ids = [_vtt_job(engine, tmp_path, name=f"two-{i}-{time.time_ns()}.vtt") for i in range(6)]
    a = JobWorker(engine, home=tmp_path, settings=_settings(tmp_path), name="a")
    b = JobWorker(engine, home=tmp_path, settings=_settings(tmp_path), name="b")
    claimed: list[int] = []
    while (got := [j for j in (a.claim(), b.claim()) if j is not None]):
        claimed += got
    assert sorted(claimed) == sorted(ids)  # each claimed exactly once, none left queued


def test_the_worker_runs_as_its_own_process_against_the_same_database(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    demo_home_with_tokens(home, ())
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    job_id = _vtt_job(engine, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {"REPCOPILOT_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "cli.main", "worker", "--once"], env=env, capture_output=True,
                         text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and "2 job(s) run" in out.stdout, out.stderr  # the upload and its indexing
    with session_scope(engine) as s:
        assert s.get(Job, job_id).status == "done"
    engine.dispose()
