"""Service benchmark: the real server (`repcopilot serve`, its own process) on 127.0.0.1.

- WeCom callback ack latency (p50/p99) and requests/s with ``concurrency`` clients posting
  encrypted messages (each a new MsgId, as WeCom sends them), against ``GET /health`` under
  the same load in the same run — the server's floor for any request.
- Chat first-token latency with the offline planner over ``/api/chat`` (SSE), against the
  same questions answered in-process by the copilot (no HTTP) in the same run.
- Chat under load: ``POST /api/chat`` from 25 / 50 / 100 / 200 concurrent clients (the web chat's
  behaviour: a 503 is retried after its Retry-After), throughput and p50/p99, errors (anything
  but 200 in the end) and retries; ``GET /health`` probed by two more clients during the same
  load — the server's floor — and the ratio chat p50 / health p50 of the same run.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

from bench.loadgen import Request, percentile, run_load

# Tencent's published test app (../shared/wecom-test-vectors.md, vector A): keys only, no real corp
_TOKEN, _AES, _CORP = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "ww1436e0e65a779aee"
QUESTIONS = ["上个月华东区线索72小时跟进率是多少?", "win rate by team this year", "本季度各区域赢单率",
             "How do I answer 'your price is too high' for a hospital?", "线索638怎么样?", "what is our pipeline value"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _encrypted(i: int) -> tuple[dict[str, str], str]:
    from wechatpy.work.crypto import WeChatCrypto

    xml = (f"<xml><ToUserName><![CDATA[{_CORP}]]></ToUserName><FromUserName><![CDATA[bench{i % 50}]]></FromUserName>"
           f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content>"
           f"<MsgId>{8_000_000_000 + i}</MsgId><AgentID>1000002</AgentID></xml>")
    root = ET.fromstring(WeChatCrypto(_TOKEN, _AES, _CORP).encrypt_message(xml, str(100000 + i), "1700000000"))
    query = {"msg_signature": root.findtext("MsgSignature"), "timestamp": root.findtext("TimeStamp"), "nonce": root.findtext("Nonce")}
    return query, f"<xml><ToUserName><![CDATA[{_CORP}]]></ToUserName><Encrypt><![CDATA[{root.findtext('Encrypt')}]]></Encrypt></xml>"


CHAT_LEVELS = (25, 50, 100, 200)
CHAT_QUESTIONS = ["我的建议", "线索638怎么样?", "How do I answer 'your price is too high' for a hospital?", "my suggestions"]


async def _chat_under_load(port: int, token: str, clients: int) -> dict[str, Any]:
    """``clients`` concurrent chat clients (2 questions each, at least 100), while two more
    clients probe /health back to back; the figures of both."""
    import json

    from bench.loadgen import _read_response

    n = max(100, 2 * clients)
    chats = [Request("POST", "/api/chat", body=json.dumps({"message": CHAT_QUESTIONS[i % len(CHAT_QUESTIONS)]}).encode(),
                     content_type="application/json", headers=(("Authorization", f"Bearer {token}"),)) for i in range(n)]
    done = asyncio.Event()
    health_ms: list[float] = []

    async def probe() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = Request("GET", "/health").encode(f"127.0.0.1:{port}")
        try:
            while not done.is_set():
                t = time.perf_counter()
                writer.write(payload)
                await _read_response(reader)
                health_ms.append((time.perf_counter() - t) * 1000)
                await asyncio.sleep(0.01)
        finally:
            writer.close()

    async def load():
        try:
            return await run_load("127.0.0.1", port, chats, clients, retry_busy=True)
        finally:
            done.set()

    result, *_ = await asyncio.gather(load(), probe(), probe())
    chat_p50 = percentile(result.latencies_ms, 0.5)
    health_p50 = percentile(health_ms, 0.5) if health_ms else float("nan")
    return {"clients": clients, "chats": n, "chat_per_s": round(n / result.wall_s, 1), "errors": result.errors,
            "busy_retries": result.retries, "chat_p50_ms": round(chat_p50, 1),
            "chat_p99_ms": round(percentile(result.latencies_ms, 0.99), 1),
            "health_p50_ms": round(health_p50, 1), "health_p99_ms": round(percentile(health_ms, 0.99), 1) if health_ms else None,
            "chat_p50_over_health_p50": round(chat_p50 / health_p50, 1) if health_ms and health_p50 > 0 else None}


def bench_api(*, callbacks: int = 1000, concurrency: int = 50) -> dict[str, Any]:
    import os
    import subprocess
    import sys

    import httpx

    from api.auth import create_token
    from api.runtime import Runtime
    from core.settings import Settings
    from crm.access import get_user
    from crm.db import make_engine, session_scope, upgrade_schema
    from tools.demo_setup import build_demo

    with tempfile.TemporaryDirectory(prefix="repcopilot-api-") as tmp:
        home = Path(tmp)
        engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
        upgrade_schema(engine)
        build_demo(engine, seed=7, scale=1, as_of=date(2026, 11, 20))
        with session_scope(engine) as s:
            token = create_token(s, get_user(s, "chenjing"))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {
            "REPCOPILOT_HOME": str(home), "REPCOPILOT_WECOM_TOKEN": _TOKEN, "REPCOPILOT_WECOM_AES_KEY": _AES,
            "REPCOPILOT_WECOM_CORP_ID": _CORP}
        log = (home / "server.log").open("w+b")  # a file, not a pipe: a chatty server never blocks on it
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log, cwd=Path(__file__).resolve().parent.parent)
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(base + "/ready", timeout=5).status_code == 200:  # the store and models are open
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise RuntimeError(f"the server did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.2)
        try:
            messages = [_encrypted(i) for i in range(callbacks)]
            wecom = [Request("POST", "/wecom/callback", q, body.encode()) for q, body in messages]
            health = [Request("GET", "/health")] * callbacks
            asyncio.run(run_load("127.0.0.1", port, health[:200], concurrency))  # warm
            h = asyncio.run(run_load("127.0.0.1", port, health, concurrency))
            w = asyncio.run(run_load("127.0.0.1", port, wecom, concurrency))
            # WeCom's retries of the same MsgIds: acked, not re-run
            replays = asyncio.run(run_load("127.0.0.1", port, wecom[:100], concurrency)).latencies_ms
            health_lat, health_wall = h.latencies_ms, h.wall_s
            ack_lat, ack_wall, ack_errors = w.latencies_ms, w.wall_s, w.errors
            time.sleep(1.0)
            with engine.connect() as conn:
                from sqlalchemy import text

                stored = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE channel = 'wecom'")).scalar_one()

            # chat: time to the first streamed token over HTTP vs the same answer in-process
            runtime = Runtime(Settings(home=home))
            with session_scope(engine) as s:
                user_id = get_user(s, "chenjing").id
            first_token, in_process = [], []
            with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
                for q in QUESTIONS * 3:
                    t = time.perf_counter()
                    with client.stream("POST", "/api/chat", json={"message": q, "stream": True}) as r:
                        for line in r.iter_lines():
                            if line.startswith("event: token"):
                                first_token.append((time.perf_counter() - t) * 1000)
                                break
                    t = time.perf_counter()
                    runtime.ask(user_id, q, thread_id=f"bench-{time.time_ns()}")
                    in_process.append((time.perf_counter() - t) * 1000)
            runtime.close()
            chat_load = [asyncio.run(_chat_under_load(port, token, clients)) for clients in CHAT_LEVELS]
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            engine.dispose()
    return {
        "concurrency": concurrency, "callbacks": callbacks,
        "wecom_ack_p50_ms": round(percentile(ack_lat, 0.5), 1), "wecom_ack_p99_ms": round(percentile(ack_lat, 0.99), 1),
        "wecom_requests_per_s": round(callbacks / ack_wall, 0), "wecom_errors": ack_errors,
        "wecom_retries_ack_p99_ms": round(percentile(replays, 0.99), 1),
        "wecom_messages_stored": stored,  # each MsgId once, retries included
        "health_p50_ms": round(percentile(health_lat, 0.5), 1), "health_p99_ms": round(percentile(health_lat, 0.99), 1),
        "health_requests_per_s": round(callbacks / health_wall, 0),
        "chat_first_token_p50_ms": round(statistics.median(first_token), 1),
        "chat_first_token_p95_ms": round(percentile(first_token, 0.95), 1),
        "chat_in_process_p50_ms": round(statistics.median(in_process), 1),
        "chat_under_load": chat_load,
    }
