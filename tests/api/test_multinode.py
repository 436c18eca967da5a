"""Several nodes sharing only PostgreSQL and a Chroma server: two ``repcopilot serve`` processes
(A and B, each with its own HOME, no inline worker) and ``repcopilot worker`` processes (a third
HOME). Any node answers any request: a call uploaded on A is ingested by the worker, found by
``kb search`` and debriefed on B; a chart drawn on A is fetched from B; a scenario created with
A's HOME is practised on B with turns alternating A/B in order; a WeCom message to A retried to
B is answered once; a worker killed mid-job is replaced and nothing is lost or duplicated.

Real components throughout (PostgreSQL, ``chroma run``, uvicorn, the CLI); the embedder is the
deterministic hash one; one call is a Teams transcript, one a recording synthesized with
espeak-ng and transcribed by the worker (skipped without espeak-ng/sox). Skipped with the
reason when PostgreSQL or the chroma command is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from crm.db import engine_for, make_engine, session_scope, upgrade_schema
from crm.models import Call, Contact, InboundMessage, Job, KnowledgeChunk, User
from speech.synth import build_call, tools_missing
from tests.api.test_wecom import A as WECOM
from tests.api.test_wecom import FakeWeComApi, _encrypted_text
from tests.chroma_server import chroma_command, chroma_server, free_port
from tests.conftest import _PG_SKIP, AS_OF, _fresh_pg_database
from tools.demo_setup import build_demo

ROOT = Path(__file__).resolve().parents[2]
VTT = ROOT / "tests" / "speech" / "data" / "teams-meeting.vtt"
LOGINS = ("zhangwei", "chenjing", "linfang")

pytestmark = pytest.mark.skipif(bool(_PG_SKIP) or chroma_command() is None,
                                reason=_PG_SKIP or "the chroma command (chromadb package) is not installed")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


class Cluster:
    def __init__(self, tmp: Path, db_url: str, chroma_url: str, wecom_api: str) -> None:
        self.tmp, self.db_url = tmp, db_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {
            "REPCOPILOT_DATABASE_URL": db_url, "REPCOPILOT_CHROMA_URL": chroma_url,
            "REPCOPILOT_EMBEDDING_MODEL": "hash", "REPCOPILOT_INLINE_WORKER": "false", "REPCOPILOT_LOG_FORMAT": "json",
            "REPCOPILOT_WECOM_TOKEN": WECOM["token"], "REPCOPILOT_WECOM_AES_KEY": WECOM["aes"],
            "REPCOPILOT_WECOM_CORP_ID": WECOM["corp"], "REPCOPILOT_WECOM_SECRET": "test-secret",
            "REPCOPILOT_WECOM_AGENT_ID": "1000002", "REPCOPILOT_WECOM_API_BASE": wecom_api,
            "PYTHONPATH": str(ROOT)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}

    def home(self, name: str) -> Path:
        path = self.tmp / f"home-{name}"
        path.mkdir(exist_ok=True)
        return path

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(_cli("--home", str(self.home(name.split("-")[0])), *args), env=self.env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def serve(self, name: str) -> str:
        port = free_port()
        self.start(name, "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"node {name} did not become ready: {(self.tmp / f'{name}.log').read_text()[-3000:]}")
            time.sleep(0.3)
        self.urls[name] = url
        return url

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess:
        out = subprocess.run(_cli("--home", str(self.home(name)), *args), env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nodes")
    db_url, drop = _fresh_pg_database()
    engine = make_engine(db_url)
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    from api.auth import create_token
    from crm.access import get_user

    with session_scope(engine) as s:
        tokens = {login: create_token(s, get_user(s, login)) for login in LOGINS}
        s.execute(update(User).where(User.login == "chenjing").values(wecom_userid="ChenJiaShun"))
    fake = FakeWeComApi()
    try:
        with chroma_server(tmp / "chroma") as chroma_url:
            nodes = Cluster(tmp, db_url, chroma_url, fake.base)
            try:
                nodes.serve("a")
                nodes.serve("b")
                nodes.start("worker-1", "worker", "--poll", "0.2")
                yield nodes, tokens, engine
            finally:
                nodes.stop_all()
    finally:
        fake.httpd.shutdown()
        engine.dispose()
        engine_for.cache_clear()
        drop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_job(url: str, token: str, job_id: int, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/jobs/{job_id}", headers=auth(token), timeout=30).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_a_call_uploaded_on_a_is_ingested_by_the_worker_found_on_b_and_debriefed_on_b(cluster):
    nodes, tokens, engine = cluster
    a, b = nodes.urls["a"], nodes.urls["b"]
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks for joining the multi-node review")
    r = httpx.post(f"{a}/api/calls", files={"file": ("meeting.vtt", data, "text/vtt")}, data={"rep_speaker": "Wei Zhang"},
                   headers=auth(tokens["zhangwei"]), timeout=60)
    assert r.status_code == 202, r.text
    job = _wait_job(b, tokens["zhangwei"], r.json()["id"])  # polled on the other node
    assert job["status"] == "done" and job["result"]["status"] == "ingested", job
    index_job = _wait_job(b, tokens["zhangwei"], job["result"]["index_job"])
    assert index_job["status"] == "done", index_job
    with session_scope(engine) as s:
        locked_by = s.get(Job, job["id"]).locked_by
    assert not any(nodes.home(n).joinpath("uploads").exists() and any(nodes.home(n).joinpath("uploads").rglob("*.vtt"))
                   for n in ("a", "b", "worker")), f"an upload was left in a HOME ({locked_by})"
    # B's HOME has no catalog: kb search run with B's HOME reads the shared one (PostgreSQL + Chroma)
    out = nodes.run("b", "kb", "search", "unplanned downtime procurement", "--as", "zhangwei", "--json")
    hits = json.loads(out.stdout)
    assert f"call:{job['result']['call_id']}" in {h["source"] for h in hits}, hits
    assert not (nodes.home("b") / "knowledge" / "catalog.sqlite").exists()
    debrief = httpx.post(f"{b}/api/chat", json={"message": f"debrief call {job['result']['call_id']}"},
                         headers=auth(tokens["zhangwei"]), timeout=120)
    assert debrief.status_code == 200, debrief.text
    body = debrief.json()
    assert [t["name"] for t in body["tools"]] == ["call_debrief"], body["tools"]
    assert str(job["result"]["call_id"]) in json.dumps(body, ensure_ascii=False)


def test_a_recorded_call_uploaded_on_a_is_transcribed_by_the_worker_and_its_audio_ranges_come_from_b(cluster, tmp_path):
    """Real audio (espeak-ng + sox, stereo): the worker, on its own HOME, reads the recording from the
    database blob store, transcribes it with faster-whisper; B serves byte ranges of it."""
    missing = tools_missing()
    if missing:
        pytest.skip(missing)
    nodes, tokens, engine = cluster
    a, b = nodes.urls["a"], nodes.urls["b"]
    lines = [("rep", "Thanks for taking the call. What slows your team down today?", 0.0),
             ("customer", "Our biggest problem is unplanned downtime on the packaging line.", 0.6),
             ("rep", "Why does the downtime hurt most at the end of the month?", 2.3),
             ("customer", "Because the orders pile up and we pay overtime.", 0.6)]
    wav, _truth = build_call(lines, "en", tmp_path, "multinode")
    data = wav.read_bytes()
    r = httpx.post(f"{a}/api/calls", files={"file": ("recorded.wav", data, "audio/wav")},
                   data={"language": "en", "rep_channel": "left"}, headers=auth(tokens["zhangwei"]), timeout=60)
    assert r.status_code == 202, r.text
    job = _wait_job(b, tokens["zhangwei"], r.json()["id"], timeout_s=600)
    assert job["status"] == "done" and job["result"]["status"] == "ingested", job
    call_id = job["result"]["call_id"]
    with session_scope(engine) as s:
        call = s.get(Call, call_id)
        texts = " ".join(t.text.lower() for t in call.turns)
        speakers = {t.speaker for t in call.turns}
        assert call.source_file.startswith("blob:uploads/"), call.source_file
    assert "packaging line" in texts and "overtime" in texts and speakers == {"rep", "customer"}, (texts, speakers)
    assert not any(nodes.home(n).joinpath("uploads").exists() and any(nodes.home(n).joinpath("uploads").rglob("*.wav"))
                   for n in ("a", "b", "worker")), "a recording was left in a HOME"
    got = httpx.get(f"{b}/api/calls/{call_id}/audio", headers=auth(tokens["zhangwei"]) | {"Range": "bytes=1000-1999"}, timeout=60)
    assert got.status_code == 206 and got.content == data[1000:2000], (got.status_code, got.headers)
    assert got.headers["content-range"] == f"bytes 1000-1999/{len(data)}"


def test_a_chart_drawn_on_a_is_fetched_from_b(cluster):
    nodes, tokens, _engine = cluster
    r = httpx.post(f"{nodes.urls['a']}/api/kpi", json={"question": "本季度各区域赢单率"}, headers=auth(tokens["chenjing"]),
                   timeout=120)
    assert r.status_code == 200 and r.json()["chart"], r.text
    on_b = httpx.get(nodes.urls["b"] + r.json()["chart"], headers=auth(tokens["chenjing"]), timeout=30)
    assert on_b.status_code == 200 and on_b.headers["content-type"] == "image/png" and on_b.content[:8] == b"\x89PNG\r\n\x1a\n"
    on_a = httpx.get(nodes.urls["a"] + r.json()["chart"], headers=auth(tokens["chenjing"]), timeout=30)
    assert on_a.content == on_b.content
    assert httpx.get(nodes.urls["b"] + r.json()["chart"], headers=auth(tokens["zhangwei"]), timeout=30).status_code == 404


def test_a_scenario_created_on_a_is_practised_on_b_with_turns_alternating_in_order(cluster):
    nodes, tokens, _engine = cluster
    source = (ROOT / "prompts" / "scenarios" / "dental-chain-expansion.yaml").read_text(encoding="utf-8")
    mine = nodes.tmp / "cluster-drill.yaml"
    mine.write_text(source.replace("code: dental-chain-expansion", "code: cluster-drill", 1), encoding="utf-8")
    nodes.run("a", "practice", "create", str(mine), "--as", "linfang")
    start = httpx.post(f"{nodes.urls['b']}/api/practice/sessions", json={"scenario": "cluster-drill"},
                       headers=auth(tokens["zhangwei"]), timeout=60)
    assert start.status_code == 201, start.text
    sid = start.json()["session_id"]
    said = [f"Question {i}: what matters most to you about expanding the chain this year?" for i in range(6)]
    for i, text in enumerate(said):
        node = nodes.urls["a" if i % 2 == 0 else "b"]
        r = httpx.post(f"{node}/api/practice/sessions/{sid}/turns", json={"text": text}, headers=auth(tokens["zhangwei"]),
                       timeout=120)
        assert r.status_code == 200, r.text
    view = httpx.get(f"{nodes.urls['a']}/api/practice/sessions/{sid}", headers=auth(tokens["zhangwei"]), timeout=30).json()
    assert [t["text"] for t in view["transcript"] if t["speaker"] == "rep"] == said
    assert [t["speaker"] for t in view["transcript"]] == ["customer"] + ["rep", "customer"] * len(said)


def test_a_wecom_message_to_a_retried_to_b_is_answered_once(cluster):
    nodes, _tokens, engine = cluster
    query, body = _encrypted_text("ChenJiaShun", "上个月线索72小时跟进率", "7100000001")
    for node in ("a", "b", "a"):  # WeCom's retries, landing on different nodes
        r = httpx.post(f"{nodes.urls[node]}/wecom/callback", params=query, content=body, timeout=30)
        assert r.status_code == 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(engine) as s:
            rows = list(s.scalars(select(InboundMessage).where(InboundMessage.platform_msg_id == "7100000001")))
        if rows and all(row.status != "queued" for row in rows):
            break
        time.sleep(0.2)
    assert len(rows) == 1 and rows[0].status == "answered", [(r.status, r.error) for r in rows]


def test_a_worker_killed_mid_job_is_replaced_and_nothing_is_lost_or_duplicated(cluster):
    nodes, tokens, engine = cluster
    nodes.procs["worker-1"].terminate()  # the first worker leaves; a job is run only by the one started below
    nodes.procs["worker-1"].wait(60)
    r = httpx.post(f"{nodes.urls['a']}/api/calls", files={"file": ("long-review.vtt", _long_vtt(6000), "text/vtt")},
                   data={"rep_speaker": "Wei Zhang"}, headers=auth(tokens["zhangwei"]), timeout=60)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    doomed = nodes.start("worker-2", "worker", "--poll", "0.1", "--lease", "3")
    deadline = time.monotonic() + 180
    while _job(engine, job_id).status == "queued":
        assert time.monotonic() < deadline and doomed.poll() is None, "worker 2 never took the job"
        time.sleep(0.02)
    assert _job(engine, job_id).status == "running", "the job ended before the worker could be killed; make the call longer"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(30)
    assert _job(engine, job_id).status == "running"  # what a dead worker leaves behind
    nodes.start("worker-3", "worker", "--poll", "0.2", "--lease", "3")
    job = _wait_job(nodes.urls["b"], tokens["zhangwei"], job_id, timeout_s=300)
    assert job["status"] == "done" and job["attempts"] == 2, job
    call_id = job["result"]["call_id"]
    index_jobs = _index_jobs(engine, call_id)
    assert index_jobs, "the call was never queued for indexing"
    for index_job in index_jobs:
        assert _wait_job(nodes.urls["a"], tokens["zhangwei"], index_job, timeout_s=300)["status"] == "done"
    with session_scope(engine) as s:
        digest = s.get(Call, call_id).content_hash
        assert s.scalar(select(func.count()).select_from(Call).where(Call.content_hash == digest)) == 1
        chunks = s.scalars(select(KnowledgeChunk.chunk_id).where(KnowledgeChunk.chunk_id.like(f"call{call_id}#%"))).all()
    assert chunks and len(chunks) == len(set(chunks))


def test_every_node_logged_json_lines_with_request_ids_and_no_token_or_phone_number(cluster):
    nodes, tokens, engine = cluster
    with session_scope(engine) as s:
        phones = [p for p in s.scalars(select(Contact.phone)) if p]
    for name in ("a", "b"):
        lines = [line for line in (nodes.tmp / f"{name}.log").read_text(encoding="utf-8").splitlines() if line.startswith("{")]
        for line in lines:
            record = json.loads(line)
            assert {"time", "level", "logger", "request_id", "message"} <= set(record)
        text = (nodes.tmp / f"{name}.log").read_text(encoding="utf-8")
        assert not any(token[3:] in text for token in tokens.values())
        assert phones and not any(phone in text for phone in phones)
    metrics = httpx.get(f"{nodes.urls['a']}/metrics", timeout=30).text
    assert "repcopilot_wecom_ack_seconds_count" in metrics and 'route="/api/calls"' in metrics


def _job(engine, job_id: int) -> Job:
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def _index_jobs(engine, call_id: int) -> list[int]:
    with session_scope(engine) as s:
        jobs = s.scalars(select(Job).where(Job.kind == "index_call")).all()
        return [j.id for j in jobs if j.payload.get("call_id") == call_id]


def _long_vtt(turns: int) -> bytes:
    """A long Teams transcript (``turns`` cues, alternating rep and customer): a job that runs for seconds."""
    lines = ["WEBVTT", ""]
    for i in range(turns):
        start = i * 3.0
        who, text = (("Wei Zhang", f"Why does downtime on line {i} cost your plant so much?") if i % 2 == 0 else
                     ("Anna Müller", f"Unplanned downtime on line {i} is our biggest headache; procurement pushes on cost."))
        lines += [f"cue-{i}", f"{_clock(start)} --> {_clock(start + 2.5)}", f"<v {who}>{text}</v>", ""]
    return "\n".join(lines).encode()


def _clock(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"
