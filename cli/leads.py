"""``repcopilot leads list`` and ``leads snapshot-intent``: leads as a given user may see them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.access import get_user, visible_leads
from crm.db import session_scope
from crm.models import Lead, User

leads_app = typer.Typer(help="Leads, as a given user may see them.", no_args_is_help=True)
AsLogin = Annotated[str, typer.Option("--as", help="login of the user asking (see `repcopilot demo users`)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


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
