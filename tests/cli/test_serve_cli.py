"""`repcopilot serve --login` (what `make run` calls): the server starts and prints a web chat
login link that works; the next start's link replaces it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_read_link(home: str, port: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--home", home, "serve", "--port", str(port),
                             "--login", "zhangwei"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=ROOT)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Ctrl-C" in line or proc.poll() is not None:
            break
    text = "".join(lines)
    match = re.search(rf"http://127\.0\.0\.1:{port}/#token=(rc_\S+)", text)
    assert match and "张伟 (zhangwei, rep)" in text, text
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, match.group(1)


def test_serve_prints_a_login_link_that_works_and_a_restart_revokes_the_previous_one(demo_home):
    port = _free_port()
    proc, first = _serve_and_read_link(demo_home, port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"Authorization": f"Bearer {first}"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    proc, second = _serve_and_read_link(demo_home, port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"Authorization": f"Bearer {first}"}).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_in_production_refuses_placeholder_and_misshapen_secrets_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {
        "REPCOPILOT_ENVIRONMENT": "production", "REPCOPILOT_WECOM_SECRET": "your-wecom-secret",
        "REPCOPILOT_WECOM_AES_KEY": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhU",  # 42 characters, one short
        "REPCOPILOT_TEAMS_APP_PASSWORD": "password"}
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--home", str(tmp_path), "serve", "--port", str(_free_port())],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    out = proc.stderr + proc.stdout
    for name in ("REPCOPILOT_WECOM_SECRET", "REPCOPILOT_WECOM_AES_KEY", "REPCOPILOT_TEAMS_APP_PASSWORD"):
        assert name in out, out
    assert "43 letters and digits" in out


def test_serve_is_ready_only_once_the_knowledge_store_and_models_are_open(demo_home):
    """`/ready` answers 200 only after the start-up opened the store and models; before that 503."""
    port = _free_port()
    proc, token = _serve_and_read_link(demo_home, port)
    try:
        statuses = []
        for _ in range(600):
            r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.headers["Retry-After"] == "1"
            time.sleep(0.2)
        assert statuses[-1] == 200 and r.json()["status"] == "ready"
        chat = httpx.post(f"http://127.0.0.1:{port}/api/chat", json={"message": "How do I answer 'your price is too high'?"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert chat.status_code == 200 and chat.json()["answer"]
    finally:
        proc.terminate()
        proc.wait(30)
