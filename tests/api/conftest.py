"""Shared set-up for the service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from api.auth import create_token
from crm.access import get_user
from crm.db import make_engine, session_scope, upgrade_schema
from tests.conftest import AS_OF
from tools.demo_setup import build_demo


def demo_home_with_tokens(home: Path, logins: tuple[str, ...]) -> dict[str, str]:
    """Build the demo company (SQLite) in ``home``; an API token for each login."""
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:
        tokens = {login: create_token(s, get_user(s, login)) for login in logins}
    engine.dispose()
    return tokens


@contextmanager
def serve(app) -> Iterator[int]:
    """``app`` on the real server (uvicorn on 127.0.0.1, a free port) in a thread; the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(60)
