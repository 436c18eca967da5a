"""``repcopilot migrate-to``: a single-node install onto PostgreSQL + a Chroma server."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.state import STATE, console


def migrate_command(
    database_url: Annotated[str, typer.Option("--database-url", help="the empty PostgreSQL database to move into")],
    chroma_url: Annotated[str | None, typer.Option("--chroma-url", help="the Chroma server the nodes will share")] = None,
) -> None:
    """Copy this HOME's database, queued uploads, charts, trainer scenarios and knowledge base into
    PostgreSQL (+ the Chroma server); this install is only read. Then start every node with
    REPCOPILOT_DATABASE_URL and REPCOPILOT_CHROMA_URL set to the same values."""
    from tools.migrate import migrate_to

    report = migrate_to(source=STATE.engine(), home=STATE.home, target_url=database_url, chroma_url=chroma_url,
                        embedding_model=STATE.settings.embedding_model)
    console.print(f"moved / 已迁移: {report.summary()}", highlight=False, soft_wrap=True)
    console.print("next: set REPCOPILOT_DATABASE_URL" + (" and REPCOPILOT_CHROMA_URL" if chroma_url else "") +
                  " on every node (see README, Running on several machines)", highlight=False, soft_wrap=True)
