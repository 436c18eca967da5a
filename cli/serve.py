"""``repcopilot serve`` and ``repcopilot users token``."""

from __future__ import annotations

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
    console.print(f"repcopilot on http://{host}:{port}  ·  web chat http://{host}:{port}/  ·  API docs http://{host}:{port}/docs")
    uvicorn.run(app, host=host, port=port, log_level="warning")
