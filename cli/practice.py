"""``repcopilot practice``: scenarios, practice dialogues and their scores, in the user's language."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.coaching import _context
from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.db import session_scope

practice_app = typer.Typer(help="Practice dialogues: the copilot plays the customer.", no_args_is_help=True)

AsLogin = Annotated[str, typer.Option("--as", help="login of the user (see `repcopilot demo users`)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]
Code = Annotated[str, typer.Argument(help="scenario code or name, e.g. hospital-price-objection or 医院采购价格异议")]


def _persona():
    from agent.practice import make_persona

    return make_persona(STATE.settings)


@practice_app.command("list")
def practice_list(as_login: Annotated[str | None, typer.Option("--as", help="login (for the language and trainer view)")] = None,
                  as_json: JsonFlag = False) -> None:
    """The scenarios: built-in (prompts/scenarios) and trainer-created (HOME/scenarios)."""
    from tools.practice.service import list_scenarios

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login) if as_login else _anon(session)
        view = list_scenarios(ctx)
    if as_json:
        print_json(view)
        return
    t = ctx.t
    table = Table(t("代码", "code"), t("标题", "title"), t("语言", "lang"), t("行业", "industry"), t("客户", "persona"),
                  t("痛点", "pains"), t("评分项", "rubric"), t("来源", "source"), title=t("练习场景", "Practice scenarios"))
    for s in view["scenarios"]:
        table.add_row(s["code"], s["title"], s["language"], s["industry"], s["persona"], str(s["pain_points"]),
                      str(s["rubric_checks"]), s["source"])
    console.print(table)
    for e in view["errors"]:
        console.print(f"[red]✗[/red] {e}", highlight=False)


def _anon(session):
    """Without --as: English, a trainer's view of the list (no data of any user is read)."""
    from crm.models import User
    from tools.context import ToolContext

    return ToolContext(user=User(login="-", name="-", name_en="-", role="trainer", language="en"), session=session,
                       language="en", home=STATE.home)


@practice_app.command("show")
def practice_show(code: Code, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """A scenario's brief; trainers and admins also see its hidden pain points, objections and rubric."""
    from tools.practice.service import show_scenario

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        view = show_scenario(ctx, code)
    if as_json:
        print_json(view)
        return
    t = ctx.t
    console.print(f"[bold]{view['title']}[/bold] ({view['code']}) · {view['persona']['name']} · {view['persona']['role']}")
    console.print(view["situation"])
    console.print(t("开场白:", "Opening: ") + view["opening"])
    for c in view["success_criteria"]:
        console.print(f"  · {c}")
    for p in view.get("pain_points", []):
        console.print(t("  [隐藏痛点] ", "  [hidden pain] ") + f"{p['id']}: {p['summary']} ← {'/'.join(p['revealed_by'])}")
    for r in view.get("rubric", []):
        console.print(t("  [评分] ", "  [rubric] ") + f"{r['id']}: {r['check']}")


@practice_app.command("validate")
def practice_validate(file: Annotated[Path, typer.Argument(help="a scenario YAML file")], as_json: JsonFlag = False) -> None:
    """Check a scenario file; every problem is printed with its field path and what to write instead."""
    from tools.practice.scenario import load_file

    s = load_file(file)
    if as_json:
        print_json({"valid": True, "code": s.code, "pain_points": len(s.pain_points), "rubric_checks": len(s.rubric)})
    else:
        console.print(f"{file}: OK — {s.code} ({len(s.pain_points)} pain points, {len(s.objections)} objections, "
                      f"{len(s.rubric)} rubric checks)", highlight=False)


@practice_app.command("create")
def practice_create(file: Annotated[Path, typer.Argument(help="a scenario YAML file")], as_login: AsLogin,
                    as_json: JsonFlag = False) -> None:
    """Validate a scenario and add it to HOME/scenarios (trainers and admins)."""
    from tools.practice.service import create_scenario

    with session_scope(STATE.engine()) as session:
        out = create_scenario(_context(session, as_login), file)
    print_json(out) if as_json else console.print(out["message"], highlight=False)


@practice_app.command("assign")
def practice_assign(code: Code, rep: Annotated[str, typer.Option("--rep", help="the rep")], as_login: AsLogin,
                    due: Annotated[str | None, typer.Option(help="due date YYYY-MM-DD (default: this Sunday)")] = None,
                    times: Annotated[int, typer.Option(help="sessions to practise")] = 1, as_json: JsonFlag = False) -> None:
    """Assign a scenario to a rep (through the drill that points at it); their sessions count for it."""
    from tools.practice.service import assign_scenario

    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        raise UserInputError(f"--due {due!r} is not a date; write it as YYYY-MM-DD") from None
    with session_scope(STATE.engine()) as session:
        out = assign_scenario(_context(session, as_login), code, rep, due_date, times)
    print_json(out) if as_json else console.print(out["message"], highlight=False)


def _print_result(result: dict, t) -> None:
    sc = result["scores"]
    console.print(t(f"[bold]得分 {sc['overall']}[/bold] · 需求挖掘 {sc['discovery']} · 评分项 {sc['rubric']} · 异议处理 "
                    f"{sc['objection_handling']} · "
                    f"痛点 {sc['pain_points_found']}/{sc['pain_points_hidden']}",
                    f"[bold]score {sc['overall']}[/bold] · discovery {sc['discovery']} · rubric {sc['rubric']} · objections "
                    f"{sc['objection_handling']} · "
                    f"pain points {sc['pain_points_found']}/{sc['pain_points_hidden']}"))
    m = sc["metrics"]
    console.print(t("通话指标: ", "call metrics: ") + ", ".join(f"{k}={v}" for k, v in m.items()
                                                          if k in ("why_question_count", "pain_point_pause_s", "question_rate_per_10min",
                                                                   "talk_ratio")))
    for v in result["rubric"]:
        mark = "[green]✓[/green]" if v["passed"] else "[red]✗[/red]"
        cite = f" (#{v['turn']} “{v['quote']}”)" if v["turn"] else ""
        console.print(f"  {mark} {v['check']}{cite}" + (f" — {v['reason']}" if v["reason"] else ""), highlight=False)
    report = result["report"] or {}
    if report.get("do_differently"):
        console.print(t("下次这样做:", "Next time:"))
        for a in report["do_differently"]:
            console.print(f"  · {a}", highlight=False)
    ex = report.get("exemplar")
    if ex:
        console.print(t("优秀销售的真实通话示范 ", "Exemplar from a top rep's call ") + f"({ex['citation']}):")
        for turn in ex.get("turns", []):
            console.print(f"    {turn['speaker']}: {turn['text']}", highlight=False)
        if "text" in ex:
            console.print(f"    {ex['text']}", highlight=False)
    for n in sc.get("notes", []):
        console.print(f"· {n}", highlight=False)


@practice_app.command("start")
def practice_start(code: Code, as_login: AsLogin) -> None:
    """Practise interactively: type what you say to the customer, one turn per line; `/end` ends."""
    from agent.practice import end_session, rep_turn, start_session

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        persona = _persona()
        view = start_session(ctx, code, persona=persona)
        session.commit()
        t = ctx.t
        console.print(f"[bold]{view['title']}[/bold] · {view['persona']} · {t('练习编号', 'session')} {view['session_id']}")
        console.print(view["situation"], highlight=False)
        console.print(t("(每行一句你要说的话;/end 结束)", "(one line per turn; /end to finish)"))
        console.print(f"[cyan]{t('客户', 'customer')}:[/cyan] {view['opening']}", highlight=False)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            if line == "/end":
                break
            turn = rep_turn(ctx, view["session_id"], line, persona=persona, whisper_model=STATE.settings.whisper_model)
            session.commit()
            console.print(f"[dim]({turn['rep']['kind']})[/dim] [cyan]{t('客户', 'customer')}:[/cyan] {turn['customer']['text']}",
                          highlight=False)
            if turn["ended"]:
                break
        result = end_session(ctx, view["session_id"])
    _print_result(result, t)


@practice_app.command("say")
def practice_say(session_id: Annotated[int, typer.Argument(help="the session id")], as_login: AsLogin,
                 text: Annotated[str | None, typer.Option("--text", help="what you say")] = None,
                 audio: Annotated[Path | None, typer.Option("--audio",
                                                            help="a recording of your turn (starts when the customer stops)")] = None,
                 as_json: JsonFlag = False) -> None:
    """One rep turn of a session — typed, or recorded (pause and duration measured by the speech pipeline)."""
    from agent.practice import rep_turn

    if (text is None) == (audio is None):
        raise UserInputError("give exactly one of --text \"…\" or --audio FILE")
    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        view = rep_turn(ctx, session_id, text, audio=audio, persona=_persona(), whisper_model=STATE.settings.whisper_model)
    if as_json:
        print_json(view)
        return
    console.print(f"({view['rep']['kind']}, pause {view['rep']['pause_s']}) {view['rep']['text']}", highlight=False)
    console.print(f"customer: {view['customer']['text']}", highlight=False)


@practice_app.command("end")
def practice_end(session_id: Annotated[int, typer.Argument(help="the session id")], as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """End a session (or show an ended one): scores, rubric verdicts with the turns that show them, report."""
    from agent.practice import end_session

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        result = end_session(ctx, session_id)
    print_json(result) if as_json else _print_result(result, ctx.t)


@practice_app.command("run")
def practice_run(code: Code, as_login: AsLogin,
                 script: Annotated[Path | None, typer.Option("--script",
                                                             help="rep turns, one per line; "
                                                                  "[2.3s] at the start = the pause before it")] = None,
                 audio_dir: Annotated[Path | None, typer.Option("--audio-dir",
                                                                help="recorded rep turns 01.wav, 02.wav … instead of a script")] = None,
                 as_json: JsonFlag = False) -> None:
    """A whole session from a script (evaluation): {"transcript", "scores", "rubric", "pain_points_found", "report"}."""
    from agent.practice import run_script

    if (script is None) == (audio_dir is None):
        raise UserInputError("give exactly one of --script FILE or --audio-dir FOLDER")
    lines: list[str] = []
    if script is not None:
        if not script.is_file():
            raise UserInputError(f"{script}: no such file; give a text file with one rep turn per line")
        lines = script.read_text(encoding="utf-8").splitlines()
    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        result = run_script(ctx, code, lines, persona=_persona(), audio_dir=audio_dir, whisper_model=STATE.settings.whisper_model)
    if as_json:
        print_json(result)
        return
    for turn in result["transcript"]:
        who = ctx.t("销售", "rep") if turn["speaker"] == "rep" else ctx.t("客户", "customer")
        console.print(f"#{turn['idx']} {who}{' (' + turn['kind'] + ')' if turn.get('kind') else ''}: {turn['text']}", highlight=False)
    _print_result(result, ctx.t)


@practice_app.command("sessions")
def practice_sessions(as_login: AsLogin, rep: Annotated[str | None, typer.Option("--rep")] = None,
                      scenario: Annotated[str | None, typer.Option("--scenario")] = None, as_json: JsonFlag = False) -> None:
    """Practice sessions you may see (a rep: own; a manager: team; a trainer or admin: all)."""
    from tools.practice.service import list_sessions

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        rows = list_sessions(ctx, rep, scenario)
    if as_json:
        print_json(rows)
        return
    t = ctx.t
    table = Table("id", t("销售", "rep"), t("场景", "scenario"), t("开始", "started"), t("得分", "score"), t("挖掘", "discovery"),
                  t("评分项", "rubric"))
    for r in rows:
        table.add_row(str(r["id"]), r["rep"], r["scenario"], r["started_at"], str(r["overall"] or "—"), str(r["discovery"] or "—"),
                      str(r["rubric"] or "—"))
    console.print(table)


@practice_app.command("report")
def practice_report(as_login: AsLogin, rep: Annotated[str | None, typer.Option("--rep")] = None,
                    scenario: Annotated[str | None, typer.Option("--scenario")] = None, as_json: JsonFlag = False) -> None:
    """The trainer's view: every ended session by rep and scenario, first → last score and the trend."""
    from tools.practice.service import trainer_report

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        view = trainer_report(ctx, rep, scenario)
    if as_json:
        print_json(view)
        return
    t = ctx.t
    table = Table(t("销售", "rep"), t("场景", "scenario"), t("次数", "sessions"), t("首次", "first"), t("最近", "last"),
                  t("最好", "best"), t("趋势", "trend"), title=t(f"练习报告({view['sessions']} 次)",
                                                                 f"Practice report ({view['sessions']} sessions)"))
    for r in view["rows"]:
        table.add_row(r["rep"], r["scenario"], str(r["sessions"]), str(r["first"]), str(r["last"]), str(r["best"]),
                      f"{r['trend']:+}")
    console.print(table)
