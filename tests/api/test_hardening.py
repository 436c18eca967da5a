"""The probe findings of issue 17, each closed: atomic per-uploader upload dedupe, early 401/413
before and while a body is read, bounded ids, production secrets checked by shape, validation
errors that do not echo large inputs, audio checked at upload, inbox bookkeeping that survives a
failed write, the knowledge store opened once, tokens of people who left refused, no server paths
in answers, account access on upload, and back-pressure (503 + Retry-After) instead of timeouts."""

from __future__ import annotations

import hashlib
import io
import select
import socket
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select as sql_select
from sqlalchemy import update

from api.app import create_app
from api.inbox import Inbox
from core.settings import Settings
from crm.db import make_engine, session_scope
from crm.models import Account, InboundMessage, Job, Lead, User
from tests.api.conftest import demo_home_with_tokens, serve
from tools.jobs import JobWorker

VTT = Path(__file__).resolve().parents[1] / "speech" / "data" / "teams-meeting.vtt"
LOGINS = ("zhangwei", "lina", "chenjing", "liuyang")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("hardening-home")
    return home, demo_home_with_tokens(home, LOGINS)


@pytest.fixture(scope="module")
def server(home):
    """The real server (uvicorn) without the inline worker: jobs stay queued until a test runs them."""
    path, tokens = home
    settings = Settings(home=path, inline_worker=False, max_upload_mb=1, embedding_model="hash")
    app = create_app(settings)
    with serve(app) as port:
        yield f"http://127.0.0.1:{port}", port, tokens, app.state.runtime


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _engine(path: Path):
    return make_engine(f"sqlite:///{path / 'repcopilot.db'}")


# -- uploads -----------------------------------------------------------------------------------

def held_agent(runtime):
    """A stand-in for ``runtime.copilot.ask`` that signals ``inside`` when a run enters the agent
    and holds it there until ``release`` is set: (release, inside, held_ask)."""
    release, inside = threading.Event(), threading.Semaphore(0)
    real_ask = runtime.copilot.ask

    def held_ask(*args, **kwargs):
        inside.release()
        release.wait(60)
        return real_ask(*args, **kwargs)
    return release, inside, held_ask


def test_fifty_simultaneous_uploads_of_one_file_queue_exactly_one_job(server):
    base, _, tokens, runtime = server
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks for joining, fifty times")

    def upload(_i: int) -> httpx.Response:
        return httpx.post(base + "/api/calls", files={"file": ("meeting.vtt", data, "text/vtt")},
                          data={"rep_speaker": "Wei Zhang"}, headers=auth(tokens["zhangwei"]), timeout=120)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(upload, range(50)))
    assert sorted(r.status_code for r in responses) == [200] * 49 + [202], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1  # every duplicate names the one job
    with runtime.session_factory() as s:
        zhangwei = s.scalar(sql_select(User.id).where(User.login == "zhangwei"))
        jobs = s.scalars(sql_select(Job).where(Job.kind == "ingest_call", Job.user_id == zhangwei)).all()
        assert sum(1 for j in jobs if j.payload["content_hash"] == hashlib.sha256(data).hexdigest()) == 1


def test_identical_bytes_from_two_reps_give_each_their_own_call_and_reveal_nothing(server, home):
    base, _, tokens, runtime = server
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks for joining, both of you")
    worker = JobWorker(runtime.engine, home=runtime.home, settings=runtime.settings)
    results = {}
    for login in ("zhangwei", "lina"):
        r = httpx.post(base + "/api/calls", files={"file": ("m.vtt", data, "text/vtt")}, data={"rep_speaker": "Wei Zhang"},
                       headers=auth(tokens[login]), timeout=60)
        assert r.status_code == 202, r.text  # not the other rep's job: a job of their own
        worker.run_pending()
        results[login] = httpx.get(base + f"/api/jobs/{r.json()['id']}", headers=auth(tokens[login])).json()
    first, second = results["zhangwei"]["result"], results["lina"]["result"]
    assert first["status"] == second["status"] == "ingested", results
    assert first["call_id"] != second["call_id"] and f"call {first['call_id']}" not in str(results["lina"])


def _account_ids(path: Path) -> tuple[int, int]:
    """(an account zhangwei has a lead on, an account only other reps' leads are on)."""
    engine = _engine(path)
    with session_scope(engine) as s:
        ids = dict(s.execute(sql_select(User.login, User.id).where(User.login.in_(LOGINS))).all())
        own = s.scalar(sql_select(Lead.account_id).where(Lead.owner_id == ids["zhangwei"]).order_by(Lead.id))
        mine = sql_select(Lead.account_id).where(Lead.owner_id == ids["zhangwei"])
        other = s.scalar(sql_select(Account.id).where(Account.id.not_in(mine),
                                                     (Account.owner_id.is_(None)) | (Account.owner_id != ids["zhangwei"]))
                         .order_by(Account.id))
    engine.dispose()
    return own, other


def test_a_call_can_be_filed_only_under_an_account_the_uploader_may_see(server, home):
    base, _, tokens, _ = server
    own, other = _account_ids(home[0])
    data = VTT.read_bytes().replace(b"Thanks for joining", b"Thanks for joining, account check")
    files = {"file": ("m.vtt", data, "text/vtt")}
    theirs = httpx.post(base + "/api/calls", files=files, data={"account_id": str(other)}, headers=auth(tokens["zhangwei"]))
    missing = httpx.post(base + "/api/calls", files=files, data={"account_id": "999999"}, headers=auth(tokens["zhangwei"]))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(str(other), "N") == missing.json()["detail"].replace("999999", "N")
    mine = httpx.post(base + "/api/calls", files=files, data={"account_id": str(own)}, headers=auth(tokens["zhangwei"]))
    assert mine.status_code == 202, mine.text


def test_a_wav_with_a_header_and_no_samples_is_refused_at_upload_with_415(server):
    base, _, tokens, _ = server
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    r = httpx.post(base + "/api/calls", files={"file": ("empty.wav", buf.getvalue(), "audio/wav")}, headers=auth(tokens["zhangwei"]))
    assert r.status_code == 415 and "no audio samples" in r.json()["detail"], r.text


# -- bodies: authentication first, limits before and while reading -----------------------------

def _send_head(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(20)
    sock.sendall(head.encode())
    return sock


@pytest.mark.parametrize("length", ["Content-Length: 900000", "Transfer-Encoding: chunked"])
def test_a_tokenless_upload_gets_401_before_its_body_is_sent(server, length):
    _, port, _, _ = server
    sock = _send_head(port, "POST /api/calls HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                            f"{length}\r\n\r\n")  # a body announced (within the limit), not one byte of it sent
    with sock:
        assert sock.recv(4096).startswith(b"HTTP/1.1 401")


def test_an_oversized_content_length_gets_413_before_the_body_is_sent(server):
    _, port, tokens, _ = server
    sock = _send_head(port, f"POST /api/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['zhangwei']}\r\n"
                            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 104857600\r\n\r\n")
    with sock:
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


def _stream_until_answered(port: int, head: str, prefix: bytes, limit_bytes: int) -> tuple[bytes, int, bool]:
    """Send a chunked body that never ends, 16 KB at a time, until the server answers or
    ``limit_bytes`` went out: (the answer, bytes sent, whether it came while the body was streaming)."""
    sock = _send_head(port, head)
    sent, answered = 0, False
    chunk = b"x" * 16384
    with sock:
        sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
        while sent < limit_bytes:
            if select.select([sock], [], [], 0.005)[0]:
                answered = True
                break
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:  # the server closed its side after answering
                answered = True
                break
            sent += len(chunk)
        sock.settimeout(20)
        return sock.recv(4096), sent, answered


MULTIPART_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.vtt"\r\nContent-Type: text/vtt\r\n\r\n'


@pytest.mark.parametrize("path, headers, prefix, limit", [
    ("/wecom/callback?msg_signature=s&timestamp=1&nonce=n", "", b"<xml>", 64 * 1024),
    ("/api/calls", "Content-Type: multipart/form-data; boundary=b\r\nAuthorization: Bearer {token}\r\n", MULTIPART_HEAD,
     1024 * 1024),
])
def test_a_streamed_body_over_the_limit_is_refused_while_it_streams(server, path, headers, prefix, limit):
    """No Content-Length, a body that never ends: the 413 comes while it streams (before, the whole
    body was read into memory or a spool file first — and this one never ends)."""
    _, port, tokens, _ = server
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{headers.format(token=tokens['zhangwei'])}\r\n"
    answer, sent, answered = _stream_until_answered(port, head, prefix, 8 * limit)
    assert answered and answer.startswith(b"HTTP/1.1 413"), (answer[:100], sent)


def test_malformed_json_without_a_token_is_401_not_422(server):
    base, _, _, _ = server
    r = httpx.post(base + "/api/chat", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_a_5_mb_message_is_413_and_a_long_invalid_one_is_not_echoed(server):
    base, _, tokens, _ = server
    huge = httpx.post(base + "/api/chat", json={"message": "x" * 5_000_000}, headers=auth(tokens["zhangwei"]))
    assert huge.status_code == 413
    long = httpx.post(base + "/api/chat", json={"message": "y" * 600_000}, headers=auth(tokens["zhangwei"]))
    assert long.status_code == 422 and len(long.content) < 2000 and "yyyy" not in long.text
    assert long.json()["detail"][0]["loc"] == ["body", "message"]  # still says where the problem is
    short = httpx.post(base + "/api/chat", json={"message": 5}, headers=auth(tokens["zhangwei"]))
    assert short.status_code == 422 and short.json()["detail"][0]["input"] == 5  # short inputs still shown


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/suggestions/{id}/adopt"), ("GET", "/api/alerts/{id}/explain"), ("POST", "/api/alerts/{id}/adopt"),
    ("GET", "/api/jobs/{id}"), ("GET", "/api/practice/sessions/{id}"), ("POST", "/api/practice/sessions/{id}/end"),
])
def test_ids_beyond_64_bits_are_422(server, method, path):
    base, _, tokens, _ = server
    for bad in ("99999999999999999999999", "-1", "0"):
        r = httpx.request(method, base + path.format(id=bad), headers=auth(tokens["zhangwei"]))
        assert r.status_code == 422, (bad, r.status_code, r.text[:200])


def test_a_huge_limit_is_422_not_500(server):
    base, _, tokens, _ = server
    assert httpx.get(base + "/api/suggestions?limit=99999999999999999999", headers=auth(tokens["zhangwei"])).status_code == 422


# -- who may call ------------------------------------------------------------------------------

def test_a_token_stops_working_once_its_user_has_left(server, home):
    base, _, tokens, _ = server
    assert httpx.get(base + "/api/jobs", headers=auth(tokens["liuyang"])).status_code == 200
    engine = _engine(home[0])
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "liuyang").values(left_at=date.today() - timedelta(days=1)))
    engine.dispose()
    assert httpx.get(base + "/api/jobs", headers=auth(tokens["liuyang"])).status_code == 401
    assert httpx.post(base + "/api/chat", json={"message": "我的建议"}, headers=auth(tokens["liuyang"])).status_code == 401


def test_no_answer_carries_a_server_path(server):
    base, _, tokens, runtime = server
    kpi = httpx.post(base + "/api/kpi", json={"question": "本季度各区域赢单率"}, headers=auth(tokens["chenjing"]), timeout=60)
    assert kpi.status_code == 200 and kpi.json()["chart"]
    assert str(runtime.home) not in kpi.text and kpi.json()["chart"] in kpi.json()["text"]
    chat = httpx.post(base + "/api/chat", json={"message": "本季度各区域赢单率"}, headers=auth(tokens["chenjing"]), timeout=60)
    assert chat.status_code == 200 and str(runtime.home) not in chat.text


# -- production settings -----------------------------------------------------------------------

GOOD = {"wecom_secret": "Zq3kR8vLm2Np5Tx7Wc9Yb4Hd6Jf1Gs0Ae3Ku8Io2Pl", "wecom_token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "wecom_aes_key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "teams_app_password": "Kp8~Qw3.Zr7_Xn2-Lm5Vb9Tc4"}


@pytest.mark.parametrize("name, value", [
    ("wecom_secret", "your-wecom-secret"), ("wecom_aes_key", GOOD["wecom_aes_key"][:42]), ("teams_app_password", "password"),
    ("wecom_aes_key", "x" * 43), ("wecom_token", "token with spaces"), ("wecom_secret", "<secret>"),
    ("teams_app_password", "abc"), ("llm_api_key", "changeme"),
])
def test_production_refuses_placeholder_or_misshapen_secrets(name, value):
    with pytest.raises(ValidationError) as err:
        Settings(environment="production", **(GOOD | {name: value}))
    assert f"REPCOPILOT_{name.upper()}" in str(err.value)


def test_production_starts_with_real_looking_secrets_and_development_with_anything():
    assert Settings(environment="production", **GOOD).wecom_aes_key == GOOD["wecom_aes_key"]
    assert Settings(wecom_secret="your-wecom-secret").wecom_secret == "your-wecom-secret"


# -- the inbox and the start-up ----------------------------------------------------------------

def test_an_answered_message_is_recorded_even_when_the_first_write_fails(home, monkeypatch):
    engine = _engine(home[0])
    inbox = Inbox(engine)
    try:
        inbound = inbox.accept(channel="wecom", platform_msg_id=f"flaky-{time.time_ns()}", conversation_id="wecom:u",
                               platform_user_id="u", kind="text", text="hi").result(10)
        real = inbox._write_batch
        failures = iter([True, True])

        def flaky(batch):
            if next(failures, False):
                raise RuntimeError("QueuePool limit of size 5 overflow 10 reached")  # what the probe saw
            return real(batch)

        monkeypatch.setattr(inbox, "_write_batch", flaky)
        assert inbox.finish(inbound, status="answered", answer="ok").result(30) == inbound
        with session_scope(engine) as s:
            assert s.get(InboundMessage, inbound).status == "answered"
    finally:
        inbox.close()
        engine.dispose()


def test_the_knowledge_store_is_opened_once_however_many_first_questions_arrive(home, monkeypatch):
    import tools.knowledge
    from api.runtime import Runtime

    opened = []
    real = tools.knowledge.open_store

    def slow_open(settings, path):
        opened.append(path)
        time.sleep(0.3)  # the window in which concurrent first questions used to open it again
        return real(settings, path)

    monkeypatch.setattr(tools.knowledge, "open_store", slow_open)
    runtime = Runtime(Settings(home=home[0], inline_worker=False, embedding_model="hash"))
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            stores = list(pool.map(lambda _: runtime.knowledge, range(6)))
        assert len(opened) == 1 and all(s is stores[0] for s in stores)
    finally:
        runtime.close()


def test_ready_is_503_until_the_start_up_has_opened_the_store_and_models(home, monkeypatch):
    from fastapi.testclient import TestClient

    from api.runtime import Runtime

    release = threading.Event()
    real = Runtime.warm_up

    def held_warm_up(self):
        release.wait(60)
        real(self)

    monkeypatch.setattr(Runtime, "warm_up", held_warm_up)
    app = create_app(Settings(home=home[0], inline_worker=False, embedding_model="hash"))
    with TestClient(app) as client:
        starting = client.get("/ready")
        assert starting.status_code == 503 and starting.headers["Retry-After"] == "1"
        release.set()
        assert app.state.runtime.ready.wait(120)
        assert client.get("/ready").json() == {"status": "ready"}


# -- capacity ----------------------------------------------------------------------------------

def test_the_pool_is_sized_from_the_worker_threads(server):
    *_, runtime = server
    assert runtime.engine.pool.size() == runtime.settings.db_pool_size == runtime.settings.worker_threads + 8


def test_beyond_the_agent_slots_chat_kpi_and_practice_get_503_with_retry_after_and_no_connection_is_held(home):
    path, tokens = home
    settings = Settings(home=path, inline_worker=False, embedding_model="hash", max_agent_runs=2, busy_retry_after_s=2,
                        agent_queue=0)
    app = create_app(settings)
    runtime = app.state.runtime
    release, inside, held_ask = held_agent(runtime)

    with serve(app) as port:
        base = f"http://127.0.0.1:{port}"
        runtime.ready.wait(120)
        session = httpx.post(base + "/api/practice/sessions", json={"scenario": "hospital-price-objection"},
                             headers=auth(tokens["lina"]), timeout=60).json()["session_id"]
        runtime.copilot.ask = held_ask
        with ThreadPoolExecutor(max_workers=2) as pool:
            running = [pool.submit(httpx.post, base + "/api/chat", json={"message": "我的建议"},
                                   headers=auth(tokens["zhangwei"]), timeout=120) for _ in range(2)]
            assert inside.acquire(timeout=60)  # one run is inside the agent, the other waits for its turn
            while runtime.agent_gate.running < 2:
                time.sleep(0.01)
            # the run inside the agent holds one connection; the one waiting for its turn and the
            # finished authentications hold none
            assert runtime.engine.pool.checkedout() == 1
            refused = [httpx.post(base + "/api/chat", json={"message": "我的建议"}, headers=auth(tokens["lina"])),
                       httpx.post(base + "/api/kpi", json={"question": "本季度各区域赢单率"}, headers=auth(tokens["chenjing"])),
                       httpx.post(base + f"/api/practice/sessions/{session}/turns", json={"text": "您好"},
                                  headers=auth(tokens["lina"]))]
            assert [r.status_code for r in refused] == [503, 503, 503], [r.text for r in refused]
            assert all(r.headers["Retry-After"] == "2" and "busy" in r.json()["detail"] for r in refused)
            release.set()
            assert [f.result().status_code for f in running] == [200, 200]
        assert runtime.agent_gate.running == 0
        after = httpx.post(base + "/api/kpi", json={"question": "本季度各区域赢单率"}, headers=auth(tokens["chenjing"]), timeout=60)
        assert after.status_code == 200


def test_a_request_waits_in_the_bounded_waiting_room_for_a_slot_and_the_one_beyond_it_gets_503(home):
    """One slot, a waiting room of one: the second request waits (no thread, no connection) and is
    answered when the first is done; the third finds the room full and gets 503 at once."""
    path, tokens = home
    app = create_app(Settings(home=path, inline_worker=False, embedding_model="hash", max_agent_runs=1, agent_queue=1,
                              agent_queue_wait_s=60))
    runtime = app.state.runtime
    release, inside, held_ask = held_agent(runtime)

    with serve(app) as port:
        base = f"http://127.0.0.1:{port}"
        runtime.copilot.ask = held_ask
        chat = {"json": {"message": "我的建议"}, "headers": auth(tokens["zhangwei"]), "timeout": 120}
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(httpx.post, base + "/api/chat", **chat)
            assert inside.acquire(timeout=60)
            second = pool.submit(httpx.post, base + "/api/chat", **chat)
            while runtime.agent_gate.waiting < 1:
                time.sleep(0.01)
            assert runtime.engine.pool.checkedout() == 1  # only the run inside the agent holds a connection
            third = httpx.post(base + "/api/chat", **chat)
            assert third.status_code == 503 and third.headers["Retry-After"] == "1"
            release.set()
            assert first.result().status_code == second.result().status_code == 200
        assert runtime.agent_gate.running == 0 and runtime.agent_gate.waiting == 0


def test_the_gate_hands_a_freed_slot_to_the_first_waiter_and_a_timed_out_waiter_leaves():
    import asyncio

    from api.capacity import AgentGate

    async def scenario() -> list:
        gate = AgentGate(1, queue=2, wait_s=0.2)
        assert await gate.acquire()
        timed_out = await gate.acquire()  # nobody releases: the wait ends, the room is left
        after_timeout = (gate.running, gate.waiting)
        waiter = asyncio.create_task(gate.acquire())
        while gate.waiting < 1:
            await asyncio.sleep(0)
        gate.release()  # handed straight to the waiter: still one running
        handed = await waiter
        gate.release()
        return [timed_out, after_timeout, handed, gate.running, gate.waiting, gate.refused]

    assert asyncio.run(scenario()) == [False, (1, 0), True, 0, 0, 1]
