"""``repcopilot kpi``: a KPI question in plain Chinese or English → number, definition, chart."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown

from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.access import get_user
from crm.db import session_scope


def kpi_command(
    question: Annotated[str, typer.Argument(help="e.g. 上个月华东区线索72小时跟进率是多少? / win rate by industry this quarter vs last")],
    as_login: Annotated[str, typer.Option("--as", help="login of the user asking (managers: their teams; reps: their own)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="write a PNG chart here (for breakdowns and trends)")] = None,
    today: Annotated[str | None, typer.Option("--today", help="resolve 'last month' etc. against this date (YYYY-MM-DD)")] = None,
) -> None:
    """Answer a KPI question from the governed metric registry — never a guessed number."""
    from tools.context import ToolContext
    from tools.kpi import answer_question

    now = _today(today)
    with session_scope(STATE.engine()) as session:
        user = get_user(session, as_login)
        language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in question) else "en"
        ctx = ToolContext(user=user, session=session, language=language, home=STATE.home, clock=lambda: now)
        answer = answer_question(ctx=ctx, question=question, chart_path=chart)
    if as_json:
        data = answer.to_json()
        print_json({k: data[k] for k in ("metric", "spec", "period", "value", "rows", "definition", "sql")}
                   | {"label": data["label"], "unit": data["unit"], "comparison": data["comparison"], "chart": data["chart"]})
        return
    console.print(Markdown(answer.render()))
    console.print(f"[dim]SQL: {answer.sql}[/dim]", highlight=False)


def _today(value: str | None) -> datetime:
    if value is None:
        return datetime.now()
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time()).replace(hour=12)
    except ValueError:
        raise UserInputError(f"--today {value!r} is not a date; write it as YYYY-MM-DD") from None
