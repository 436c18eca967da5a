"""``repcopilot ask`` and ``repcopilot chat``: the copilot in the terminal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markdown import Markdown

from cli.state import STATE, console, print_json
from crm.access import get_user
from crm.db import session_factory


@contextmanager
def copilot_session(login: str) -> Iterator[tuple]:
    """A Copilot plus a ToolContext for ``login``, with the DB session, checkpointer and knowledge store."""
    from agent.service import Copilot, make_planner, open_checkpointer
    from tools.context import ToolContext

    settings = STATE.settings
    engine = STATE.engine()
    home = STATE.home
    with session_factory(engine)() as session, open_checkpointer(settings, home) as saver:
        user = get_user(session, login)
        knowledge = None
        try:
            from tools.knowledge import open_store

            knowledge = open_store(settings, home)
        except ImportError:  # the knowledge room is optional for structured questions
            knowledge = None
        ctx = ToolContext(user=user, session=session, language=user.language if user.language in ("zh", "en") else "zh",
                          home=home, knowledge=knowledge, anonymized=settings.anonymized_aggregate_mode)
        copilot = Copilot(planner=make_planner(settings), checkpointer=saver)
        yield copilot, ctx
        session.commit()


def ask_command(
    question: Annotated[str, typer.Argument(help="the question, in Chinese or English")],
    as_login: Annotated[str, typer.Option("--as", help="login of the user asking")],
    thread: Annotated[str | None, typer.Option("--thread", help="conversation id: follow-up questions share it")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Ask one question; the answer comes with the evidence behind it."""
    with copilot_session(as_login) as (copilot, ctx):
        answer = copilot.ask(ctx, question, thread_id=f"cli:{as_login}:{thread}" if thread else None)
    if as_json:
        print_json(answer.to_json())
        return
    _print_answer(answer)


def _stream_answer(copilot, ctx, question: str, thread_id: str) -> None:
    """With an LLM the answer is printed as its tokens arrive; the offline planner's answer
    arrives whole and is rendered as Markdown."""
    from agent.planners import OfflinePlanner

    if isinstance(copilot.planner, OfflinePlanner):
        _print_answer(copilot.ask(ctx, question, thread_id=thread_id))
        return
    answer = None
    for kind, item in copilot.stream(ctx, question, thread_id=thread_id):
        if kind == "token":
            console.out(item, end="", highlight=False)
        else:
            answer = item
    console.print()
    _print_answer(answer, body=False)


def _print_answer(answer, body: bool = True) -> None:
    if body:
        console.print(Markdown(answer.answer))
    for image in answer.images:
        console.print(f"chart: {image}", highlight=False)
    if answer.evidence:
        console.print("[dim]evidence:[/dim]")
        for e in answer.evidence[:8]:
            when = f" {e['time']}" if e.get("time") else ""
            console.print(f"[dim]  · {e['kind']} {e['id']}{when} — {e['text']}[/dim]", highlight=False)
    if answer.confidence is not None:
        console.print(f"[dim]confidence {answer.confidence:.2f} · {answer.latency_ms:.0f} ms[/dim]")


def chat_command(
    as_login: Annotated[str, typer.Option("--as", help="login of the user chatting")],
    thread: Annotated[str | None, typer.Option("--thread", help="resume a conversation by id")] = None,
) -> None:
    """An interactive chat; follow-up questions keep their context. Ctrl-D or 'exit' to leave."""
    thread_id = f"cli:{as_login}:{thread or uuid.uuid4().hex[:8]}"
    with copilot_session(as_login) as (copilot, ctx):
        console.print(f"repcopilot · {ctx.user.name} ({ctx.user.role}) · thread {thread_id.split(':')[-1]} · "
                      "ask in Chinese or English; 'exit' to leave")
        while True:
            try:
                question = console.input("[bold]> [/bold]").strip()
            except EOFError:
                break
            if question.lower() in ("exit", "quit", "退出"):
                break
            if not question:
                continue
            _stream_answer(copilot, ctx, question, thread_id)
            ctx.session.commit()
