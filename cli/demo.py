"""``repcopilot init`` and ``repcopilot demo …``: the schema, the demo company and a look at it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.db import session_scope, upgrade_schema
from crm.demo import DEFAULT_SEED, demo_info, entity_counts
from crm.models import Team, User

demo_app = typer.Typer(help="Look at the demo company.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def init_command(
    demo: Annotated[bool, typer.Option("--demo", help="also build the demo company")] = False,
    scale: Annotated[int, typer.Option(min=1, help="demo volume multiplier (transactions)")] = 1,
    seed: Annotated[int, typer.Option(help="demo random seed")] = DEFAULT_SEED,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="demo 'today' as YYYY-MM-DD (default: today, UTC)")
    ] = None,
) -> None:
    """Create or upgrade the schema; with --demo build the demo company. Safe to re-run."""
    as_of_date = _parse_date(as_of) if as_of else None
    engine = STATE.engine(require_schema=False)
    revision = upgrade_schema(engine)
    console.print(f"schema at revision {revision} · {engine.url.render_as_string(hide_password=True)}")
    if not demo:
        return
    from tools.demo_setup import set_up_demo

    with console.status("building the demo company …") as status:
        report = set_up_demo(engine, seed=seed, scale=scale, as_of=as_of_date, on_progress=lambda m: status.update(m))
    if report.built:
        console.print(
            f"built the demo company (seed {report.seed}, scale {report.scale}, as of {report.as_of}) "
            f"in {report.seconds:.1f} s — {report.rows_inserted:,} rows at {report.rows_per_s:,.0f} rows/s"
        )
    else:
        console.print(f"the demo company (seed {report.seed}, scale {report.scale}, as of {report.as_of}) is already there")
    _print_counts(report.counts)
    _index_demo_knowledge(engine)
    console.print(
        "\nTry (prefix with .venv/bin/ if the venv is not active):\n"
        "  repcopilot demo users\n"
        "  repcopilot leads list --as zhangwei                                  # a rep: own leads\n"
        "  repcopilot ask --as chenjing \"上个月华东区线索72小时跟进率是多少?\"\n"
        "  repcopilot ask --as davidchen \"Debrief my last call\"\n"
        "  repcopilot kpi \"Win rate by industry this quarter vs last quarter\" --as wangjianhua --chart win.png\n"
        "  repcopilot kb search \"医院客户说价格太贵怎么回答\" --as zhangwei\n"
        "  repcopilot chat --as zhangwei"
    )


@demo_app.command("stats")
def demo_stats(as_json: JsonFlag = False) -> None:
    """Row count of every entity."""
    with session_scope(STATE.engine()) as session:
        counts = entity_counts(session)
        info = demo_info(session)
    if as_json:
        print_json(counts)
        return
    if info:
        console.print(f"demo company: seed {info['seed']}, scale {info['scale']}, as of {info['as_of']}")
    _print_counts(counts)


@demo_app.command("users")
def demo_users(as_json: JsonFlag = False) -> None:
    """Everyone who can log in, with role, team, region and language."""
    with session_scope(STATE.engine()) as session:
        rows = []
        for user, team in session.execute(select(User, Team).outerjoin(Team, User.team_id == Team.id).order_by(User.id)):
            rows.append({
                "login": user.login,
                "name": user.name,
                "role": user.role,
                "team": team.name if team else None,
                "region": team.region.name_zh if team else None,
                "language": user.language,
            })
    if as_json:
        print_json(rows)
        return
    table = Table("login", "name", "role", "team", "region", "language")
    for r in rows:
        table.add_row(r["login"], r["name"], r["role"], r["team"] or "—", r["region"] or "—", r["language"])
    console.print(table)


def _index_demo_knowledge(engine) -> None:
    """The demo playbooks and calls into the knowledge base (unchanged ones are skipped)."""
    from tools.demo_setup import index_demo_knowledge
    from tools.knowledge import open_store

    with console.status("indexing the demo playbooks and calls into the knowledge base …"):
        store = open_store(STATE.settings, STATE.home)
        if store.embedder_mismatch() is not None:  # indexed with another embedder: re-embed it first
            console.print(store.reindex().summary())
        indexed = index_demo_knowledge(store, engine)  # calls: keyword-searchable now, vectors by `kb sync`
        docs, calls = indexed.playbooks, indexed.calls
    console.print(f"knowledge base: playbooks {docs.summary()}; calls {calls.summary()}")
    if pending := store.keywords.pending_count():
        console.print(f"  {pending} call-transcript chunks are searchable by keyword; `repcopilot kb sync` adds their "
                      f"vectors for meaning search (about {pending // 15 + 1} s) / 通话片段已可按关键词检索，"
                      "运行 `repcopilot kb sync` 补上语义向量")


def _print_counts(counts: dict[str, int]) -> None:
    table = Table("entity", "rows")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--as-of {value!r} is not a date; write it as YYYY-MM-DD") from None
