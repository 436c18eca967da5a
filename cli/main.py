"""The ``repcopilot`` command."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from cli.agent import ask_command, chat_command
from cli.bench import bench_command
from cli.calls import calls_app
from cli.coaching import drills_app, profile_app, successor_command, team_app
from cli.evals import eval_command
from cli.kb import kb_app
from cli.kpi import kpi_command
from cli.leads_intel import alerts_app, feedback_command, review_app, route_app, routing_app, signals_app
from cli.migrate import migrate_command
from cli.practice import practice_app
from cli.serve import serve_command, users_app, worker_command
from cli.state import STATE, console, err_console, print_json
from cli.suggestions import journey_command, suggestion_app, suggestions_command
from core.errors import RepcopilotError, UserInputError
from crm.access import get_user, visible_leads
from crm.db import session_scope, upgrade_schema
from crm.demo import DEFAULT_SEED, demo_info, entity_counts
from crm.models import Lead, Team, User

app = typer.Typer(
    name="repcopilot",
    help="The sales copilot: CRM demo company, calls, knowledge, KPIs and the agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
demo_app = typer.Typer(help="Look at the demo company.", no_args_is_help=True)
leads_app = typer.Typer(help="Leads, as a given user may see them.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(leads_app, name="leads")
app.add_typer(calls_app, name="calls")
app.add_typer(kb_app, name="kb")
app.add_typer(users_app, name="users")
app.add_typer(suggestion_app, name="suggestion")
app.add_typer(practice_app, name="practice")
for _name, _sub in (("profile", profile_app), ("drills", drills_app), ("team", team_app)):
    app.add_typer(_sub, name=_name)
app.command("suggestions", help="The AI suggestions shown to a user (a manager: the team's).")(suggestions_command)
leads_app.command("journey", help="An account's journey over every touchpoint, by stage.")(journey_command)
app.command("bench", help="Run benchmarks: a table of figures, or JSON with --json.")(bench_command)
app.command("ask", help="Ask the copilot one question (answer + evidence).")(ask_command)
app.command("chat", help="Chat with the copilot; follow-ups keep their context.")(chat_command)
app.command("kpi", help="A KPI question in plain language → number, definition, chart.")(kpi_command)
app.command("eval", help="Run evaluation suites and report quality per language.")(eval_command)
app.command("serve", help="Start the HTTP API and channel endpoints.")(serve_command)
app.command("worker", help="Run the background job worker (transcription, indexing) as its own process.")(worker_command)
app.command("migrate-to", help="Move this single-node install onto PostgreSQL + a Chroma server (several nodes).")(migrate_command)
app.command("successor", help="Rank internal successors for a leaving rep's accounts, with a handover guide.")(successor_command)
for _name, _sub in (("route", route_app), ("review-queue", review_app), ("routing", routing_app), ("signals", signals_app),
                   ("alerts", alerts_app)):
    app.add_typer(_sub, name=_name)
app.command("feedback",
            help="Mark a lead routed to you invalid / competitor / wrong fit (attribution + a proposed weights change).")(feedback_command)

AsLogin = Annotated[str, typer.Option("--as", help="login of the user asking (see `repcopilot demo users`)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@app.callback()
def root(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="data folder (default: $REPCOPILOT_HOME or ./var)", show_default=False),
    ] = None,
) -> None:
    STATE.home_override = home
    STATE._settings = None


@app.command()
def init(
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


@leads_app.command("list")
def leads_list(
    as_login: AsLogin,
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option(min=0, help="show at most this many in the table (0 = all)")] = 50,
) -> None:
    """The leads this user may see: a rep their own, a manager their team's, an admin all."""
    with session_scope(STATE.engine()) as session:
        user = get_user(session, as_login)
        stmt = visible_leads(session, user).order_by(Lead.created_at.desc(), Lead.id.desc())
        leads = list(session.scalars(stmt))
        owners = {u.id: u for u in session.scalars(select(User))}
        rows = [{
            "id": lead.id,
            "name": lead.name,
            "account": lead.account.name,
            "owner": owners[lead.owner_id].login if lead.owner_id else None,
            "status": lead.status,
            "value_cny": lead.value_cny,
        } for lead in leads]
    if as_json:
        print_json(rows)
        return
    shown = rows if limit == 0 else rows[:limit]
    table = Table("id", "lead", "owner", "status", "value (CNY)", title=f"{len(rows)} leads visible to {as_login}")
    for r in shown:
        table.add_row(str(r["id"]), r["name"], r["owner"] or "(unassigned)", r["status"], f"{r['value_cny']:,}")
    console.print(table)
    if len(shown) < len(rows):
        console.print(f"… {len(rows) - len(shown)} more (use --limit 0 or --json)")


@leads_app.command("snapshot-intent")
def leads_snapshot_intent(
    dates: Annotated[list[str] | None, typer.Option("--date", help="snapshot date YYYY-MM-DD (repeatable; default: today, UTC)")] = None,
    since: Annotated[str | None, typer.Option(help="also every first of the month from this date YYYY-MM-DD up to the last --date")] = None,
) -> None:
    """Store every open lead's intent score as of each date (00:00 UTC) — what the KPI
    "average intent score" averages. Run it daily or monthly from a scheduler; re-running a date
    replaces that date's scores."""
    from datetime import UTC, date, datetime

    from tools.intent_snapshots import month_starts, snapshot_intent_scores

    try:
        wanted = sorted({date.fromisoformat(d) for d in dates}) if dates else [datetime.now(UTC).date()]
        if since:
            wanted = sorted(set(wanted) | set(month_starts(date.fromisoformat(since), wanted[-1])))
    except ValueError as exc:
        raise UserInputError(f"dates are YYYY-MM-DD ({exc})") from None
    n = snapshot_intent_scores(STATE.engine(), as_of_dates=wanted)
    console.print(f"stored {n} intent scores for {len(wanted)} date(s): {wanted[0]} … {wanted[-1]}")


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


def main() -> None:
    try:
        app()
    except RepcopilotError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
