"""``repcopilot serve`` and ``repcopilot users token``."""

from __future__ import annotations

import gc
import threading
from typing import Annotated

import typer

from cli.state import STATE, console
from crm.access import get_user
from crm.db import session_scope

users_app = typer.Typer(help="Users: API tokens.", no_args_is_help=True)


@users_app.command("token")
def users_token(
    login: Annotated[str, typer.Argument(help="the user the token acts as")],
    label: Annotated[str | None, typer.Option(help="a note to recognise the token by")] = None,
) -> None:
    """Create an API token for a user. It is shown once; only its hash is stored."""
    from api.auth import create_token

    with session_scope(STATE.engine()) as session:
        token = create_token(session, get_user(session, login), label)
    console.print(token, highlight=False)


LOGIN_LABEL = "serve --login"


def _login_link(login: str, host: str, port: int) -> str:
    """A fresh token for ``login`` (the previous one made this way is revoked) as a web chat link."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from api.auth import create_token
    from crm.models import ApiToken

    with session_scope(STATE.engine()) as session:
        user = get_user(session, login)
        session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.label == LOGIN_LABEL,
                                               ApiToken.revoked_at.is_(None))
                        .values(revoked_at=datetime.now(UTC).replace(tzinfo=None)))
        token = create_token(session, user, LOGIN_LABEL)
        who = f"{user.name} ({user.login}, {user.role})"
    return f"log in as {who}: http://{host}:{port}/#token={token}"


def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    login: Annotated[list[str] | None, typer.Option(
        "--login", help="print a web chat login link for this user (a new token; the last one made so is revoked)")] = None,
) -> None:
    """Start the HTTP API, the WeCom callback, the Teams endpoint and the web chat."""
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    configure_logging(STATE.settings.log_format)  # JSON with REPCOPILOT_LOG_FORMAT=json; redacted either way
    STATE.engine()  # fails early, in one line, when the database is not set up
    links = [_login_link(name, host, port) for name in login or []]
    app = create_app(STATE.settings)
    # The start-up objects (models, compiled graph, ORM registry) live as long as the process:
    # out of the collector's sight, a full collection no longer stalls every request in flight
    # (~150 ms stalls under load before).
    gc.collect()
    gc.freeze()
    from tools.kpi.service import warm_chart_renderer

    threading.Thread(target=warm_chart_renderer, name="warm-charts", daemon=True).start()
    console.print(f"repcopilot on http://{host}:{port}  ·  web chat http://{host}:{port}/  ·  API docs http://{host}:{port}/docs",
                  highlight=False, soft_wrap=True)
    for link in links:
        console.print(link, highlight=False, soft_wrap=True)
    console.print("Ctrl-C stops the server.", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="run the queued jobs, then exit")] = False,
    poll: Annotated[float, typer.Option(help="seconds between looks at the queue")] = 1.0,
    lease: Annotated[float, typer.Option(min=1.0, help="seconds without a heartbeat after which a running job's worker "
                                                        "counts as dead and the job is queued again")] = 120.0,
) -> None:
    """Run the background job worker (call transcription) as its own process, against the
    same database as the server; start the server with REPCOPILOT_INLINE_WORKER=false then."""
    import signal

    from api.observability import configure_logging
    from tools.jobs import JobWorker

    configure_logging(STATE.settings.log_format)
    engine = STATE.engine()
    worker = JobWorker(engine, home=STATE.home, settings=STATE.settings, poll_s=poll, lease_s=lease)
    if once:
        console.print(f"{worker.run_pending()} job(s) run")
        return
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    console.print(f"worker {worker.name} waiting for jobs (Ctrl-C stops it; a job in progress is picked up again after a restart)")
    try:
        worker.loop()
    except KeyboardInterrupt:
        worker.stop(timeout=0)
