"""The ``repcopilot`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.agent import ask_command, chat_command
from cli.bench import bench_command
from cli.calls import calls_app
from cli.coaching import drills_app, profile_app, successor_command, team_app
from cli.demo import demo_app, init_command
from cli.evals import eval_command
from cli.kb import kb_app
from cli.kpi import kpi_command
from cli.leads import leads_app
from cli.leads_intel import alerts_app, feedback_command, review_app, route_app, routing_app, signals_app
from cli.migrate import migrate_command
from cli.practice import practice_app
from cli.serve import serve_command, users_app, worker_command
from cli.state import STATE, err_console
from cli.suggestions import journey_command, suggestion_app, suggestions_command
from core.errors import RepcopilotError

app = typer.Typer(
    name="repcopilot",
    help="The sales copilot: CRM demo company, calls, knowledge, KPIs and the agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init", help="Create or upgrade the schema; with --demo build the demo company. Safe to re-run.")(init_command)
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



@app.callback()
def root(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="data folder (default: $REPCOPILOT_HOME or ./var)", show_default=False),
    ] = None,
) -> None:
    STATE.home_override = home
    STATE._settings = None


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
