"""A real Chroma server (``chroma run`` from the chromadb package) on 127.0.0.1, for tests of
several nodes sharing one knowledge base."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chroma_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("chroma")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("chroma")
    return [found] if found else None


@contextmanager
def chroma_server(path: Path, timeout_s: float = 120) -> Iterator[str]:
    """``chroma run --path PATH`` on a free port; its URL, until the block ends (then stopped)."""
    command = chroma_command()
    if command is None:
        raise RuntimeError("the chroma command (chromadb package) is not installed")
    port = free_port()
    log = (path.parent / f"chroma-{port}.log").open("wb")
    proc = subprocess.Popen([*command, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chroma run did not start: see {log.name}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
