"""Load on the real server (uvicorn on 127.0.0.1): a burst of 200 concurrent WeCom callbacks
is acknowledged within 1 s each, with no error, and every message is answered exactly once
— also when WeCom retries all of them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter

import pytest
import uvicorn
from sqlalchemy import func, select, update

from api.app import create_app
from api.loadgen import Request, run_load
from core.settings import Settings
from crm.db import make_engine, session_scope, upgrade_schema
from crm.demo import build_demo
from crm.models import InboundMessage, User
from tests.api.test_wecom import A, FakeWeComApi, _encrypted_text
from tests.conftest import AS_OF

BURST = 200


@pytest.fixture
def server(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:  # 20 enrolled reps; the other senders are not enrolled
        reps = s.scalars(select(User).where(User.role == "rep").order_by(User.id).limit(20)).all()
        for r in reps:
            s.execute(update(User).where(User.id == r.id).values(wecom_userid=f"wx-{r.login}"))
        enrolled = [f"wx-{r.login}" for r in reps]
    fake = FakeWeComApi()
    settings = Settings(home=tmp_path, wecom_token=A["token"], wecom_aes_key=A["aes"], wecom_corp_id=A["corp"],
                        wecom_secret="test-secret", wecom_agent_id="1000002", wecom_api_base=fake.base)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield port, engine, fake, enrolled
    srv.should_exit = True
    thread.join(30)
    fake.httpd.shutdown()
    engine.dispose()


def _wait_all_answered(engine, n: int, timeout_s: float = 120.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with session_scope(engine) as s:
            done = s.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.status != "queued"))
        if done >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"only {done} of {n} messages answered in {timeout_s} s")


def test_200_concurrent_callbacks_ack_within_a_second_and_each_is_answered_once(server):
    port, engine, fake, enrolled = server
    senders = enrolled * 2 + [f"stranger{i % 40}" for i in range(BURST - 2 * len(enrolled))]
    questions = ["本季度各区域赢单率", "win rate by team this year"]
    messages = [_encrypted_text(sender, questions[i % 2] if sender.startswith("wx-") else "你好", str(9_100_000 + i))
                for i, sender in enumerate(senders)]
    burst = [Request("POST", "/wecom/callback", q, body.encode()) for q, body in messages]

    first = asyncio.run(run_load("127.0.0.1", port, burst, concurrency=BURST))
    assert first.errors == 0, Counter(first.statuses)
    assert max(first.latencies_ms) < 1000, sorted(first.latencies_ms)[-5:]

    _wait_all_answered(engine, BURST)
    retry = asyncio.run(run_load("127.0.0.1", port, burst, concurrency=BURST))  # WeCom retries every one
    assert retry.errors == 0 and max(retry.latencies_ms) < 1000
    time.sleep(1.0)  # a wrongly re-run retry would have been answered by now

    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == BURST
        assert s.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "answered")) == BURST
    texts = [m for m in fake.sent if m["msgtype"] == "markdown"]
    assert len(texts) == BURST  # one reply per message: none lost, none doubled
    assert Counter(m["touser"] for m in texts) == Counter(senders)
    assert all("not enrolled" in m["markdown"]["content"] for m in texts if m["touser"].startswith("stranger"))
    assert not any("not enrolled" in m["markdown"]["content"] for m in texts if m["touser"].startswith("wx-"))
