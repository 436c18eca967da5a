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
