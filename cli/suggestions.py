"""``repcopilot suggestions`` / ``repcopilot suggestion adopt|dismiss ID``: the AI suggestions
a user was shown, and recording what they did with one (the adoption-rate KPI's input)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.state import STATE, console, print_json
from crm.access import get_user
from crm.db import session_scope

AsLogin = Annotated[str, typer.Option("--as", help="login of the user (a rep: own suggestions; a manager: the team's)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]

suggestion_app = typer.Typer(help="Adopt or dismiss one AI suggestion.", no_args_is_help=True)


def _context(session, login: str, language: str | None = None):
    from tools.context import ToolContext

    user = get_user(session, login)
    lang = language or (user.language if user.language in ("zh", "en") else "zh")
    return ToolContext(user=user, session=session, language=lang, home=STATE.home,
                       anonymized=STATE.settings.anonymized_aggregate_mode)


def suggestions_command(
    as_login: AsLogin,
    status: Annotated[str | None, typer.Option(help="shown | adopted | dismissed | expired (default: all)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="at most this many, newest first")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The AI suggestions shown to this user (a manager: to the team), newest first."""
    from tools.suggestions import list_suggestions

    with session_scope(STATE.engine()) as session:
        rows = list_suggestions(ctx=_context(session, as_login), status=status, limit=limit)
        data = [r.to_json() for r in rows]
    if as_json:
        print_json(data)
        return
    table = Table("id", "date", "owner", "lead", "suggestion", "status", title=f"{len(data)} suggestions for {as_login}")
    for r in data:
        table.add_row(str(r["id"]), r["created_at"][:10], r["owner_login"] or "", f"#{r['lead_id']}" if r["lead_id"] else "",
                      r["text"], r["status"])
    console.print(table)
    if data:
        console.print("Record a decision: repcopilot suggestion adopt ID --as LOGIN  (or dismiss)")


def _decide(decision: str, suggestion_id: int, as_login: str, as_json: bool) -> None:
    from tools.suggestions import decide_suggestion

    with session_scope(STATE.engine()) as session:
        result = decide_suggestion(ctx=_context(session, as_login), suggestion_id=suggestion_id, decision=decision)
        data = result.to_json()
    if as_json:
        print_json(data)
    else:
        console.print(data["message"])


@suggestion_app.command("adopt")
def adopt(suggestion_id: Annotated[int, typer.Argument(help="the suggestion's id")], as_login: AsLogin,
          as_json: JsonFlag = False) -> None:
    """Record that you acted on the suggestion. Repeating it changes nothing."""
    _decide("adopted", suggestion_id, as_login, as_json)


@suggestion_app.command("dismiss")
def dismiss(suggestion_id: Annotated[int, typer.Argument(help="the suggestion's id")], as_login: AsLogin,
            as_json: JsonFlag = False) -> None:
    """Record that you did not act on the suggestion. Repeating it changes nothing."""
    _decide("dismissed", suggestion_id, as_login, as_json)


def journey_command(
    account_or_lead: Annotated[str, typer.Argument(help="an account name (zh or en), 'lead 123' or an account id with --account")],
    as_login: AsLogin,
    account: Annotated[bool, typer.Option("--account", help="the argument is an account id")] = False,
    start: Annotated[str | None, typer.Option(help="from this day (YYYY-MM-DD, inclusive)")] = None,
    end: Annotated[str | None, typer.Option(help="until this day (YYYY-MM-DD, exclusive)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """An account's journey: touchpoints, leads, calls, opportunities and stage changes by stage."""
    from rich.markdown import Markdown

    from agent.tools import run_tool
    from core.errors import NotFoundError, PermissionDenied, UserInputError

    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in account_or_lead) else "en"
    args: dict = {"query": account_or_lead, "period_start": start, "period_end": end}
    if account:
        if not account_or_lead.isdigit():
            raise UserInputError("--account takes the account's number, e.g. `repcopilot leads journey 42 --account`")
        args["account_id"] = int(account_or_lead)
    with session_scope(STATE.engine()) as session:
        out = run_tool("journey_timeline", args, _context(session, as_login, language))
    if out.error:
        raise {"permission": PermissionDenied, "not_found": NotFoundError}.get(out.error, UserInputError)(out.text)
    if as_json:
        print_json(out.data or {"text": out.text})
        return
    console.print(Markdown(out.text))
