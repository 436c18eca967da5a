"""``repcopilot serve`` and ``repcopilot users token``."""

from __future__ import annotations

import gc
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


def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """Start the HTTP API, the WeCom callback and the web chat."""
    import uvicorn

    from api.app import create_app

    STATE.engine()  # fails early, in one line, when the database is not set up
    app = create_app(STATE.settings)
    # The start-up objects (models, compiled graph, ORM registry) live as long as the process:
    # out of the collector's sight, a full collection no longer stalls every request in flight
    # (~150 ms stalls under load before).
    gc.collect()
    gc.freeze()
    console.print(f"repcopilot on http://{host}:{port}  ·  web chat http://{host}:{port}/  ·  API docs http://{host}:{port}/docs")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="run the queued jobs, then exit")] = False,
    poll: Annotated[float, typer.Option(help="seconds between looks at the queue")] = 1.0,
) -> None:
    """Run the background job worker (call transcription) as its own process, against the
    same database as the server; start the server with REPCOPILOT_INLINE_WORKER=false then."""
    import signal

    from tools.jobs import JobWorker

    engine = STATE.engine()
    worker = JobWorker(engine, home=STATE.home, settings=STATE.settings, poll_s=poll)
    if once:
        console.print(f"{worker.run_pending()} job(s) run")
        return
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    console.print(f"worker {worker.name} waiting for jobs (Ctrl-C stops it; a job in progress is picked up again after a restart)")
    try:
        worker.loop()
    except KeyboardInterrupt:
        worker.stop(timeout=0)
