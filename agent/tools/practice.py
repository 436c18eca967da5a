"""practice and practice_turn: start (or assign) a practice dialogue, and its turns in the chat."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from agent.practice import end_session, rep_turn, start_session
from agent.tools.base import ToolOutput, ToolSpec
from core.errors import PermissionDenied, RepcopilotError
from crm.models import PracticeSession
from crm.policy import may_assign_drills
from tools.capability import resolve_rep
from tools.context import ToolContext
from tools.drills import assign_drill, drill_named
from tools.evidence import Evidence
from tools.practice.scenario import find_scenario, scenario_phrase
from tools.practice.service import assign_scenario, list_scenarios, trainer_report
from tools.text import person_heading, person_name


class PracticeArgs(BaseModel):
    scenario: str | None = Field(None, description="the scenario to practise: its code or the user's words for it, e.g. "
                                                    "'医院采购价格异议', 'hospital price objection', 'manufacturing CFO with no budget'; "
                                                    "leave it out to list the scenarios")
    assign_to: str | None = Field(None, description="managers and trainers: assign the scenario to this rep (name or login) "
                                                    "instead of starting a session")
    due: str | None = Field(None, description="with assign_to: the due date, YYYY-MM-DD")
    times: int | None = Field(None, ge=1, le=20, description="with assign_to: how many sessions")
    report_of: str | None = Field(None, description="the practice results (scores by scenario) of this rep (name or login) "
                                                    "instead of starting a session; 'team' (or 'team:week', 'team:month') for every "
                                                    "rep the asker coaches: sessions, average and best score, who has not practised")


def practice_howto(ctx: ToolContext, session_id: int) -> list[str]:
    """How a rep continues a practice session: right here in the chat, or the CLI and the HTTP API."""
    login = ctx.user.login
    return [ctx.t("直接在这里回复就是对客户说的话;说“结束练习”结束并评分。其他方式(每次说一句):",
                  "Reply here: each message is what you say to the customer; say “end practice” to end it and get the score. "
                  "Or continue (one turn at a time):"),
            f"- CLI: `repcopilot practice say {session_id} --as {login} --text \"…\"`"
            + ctx.t("(或 `--audio 录音.wav`)", " (or `--audio turn.wav`)"),
            f"- Web/API: `POST /api/practice/sessions/{session_id}/turns` " + ctx.t('{"text": "…"},或上传录音(multipart 字段 file)',
                                                                                   '{"text": "…"}, or a recording as multipart field file'),
            ctx.t(f"结束并查看评分:`repcopilot practice end {session_id} --as {login}` 或 `POST /api/practice/sessions/{session_id}/end`。",
                  f"End it and get the scores: `repcopilot practice end {session_id} --as {login}` "
                  f"or `POST /api/practice/sessions/{session_id}/end`.")]


def practice_follow_up(ctx: ToolContext, session_id: int) -> str:
    """The chat's answer to a message that is no question for the copilot while a practice session
    is open in the thread: the chat does not play the customer; it says where the session goes on."""
    row = ctx.session.get(PracticeSession, session_id)
    if row is None or row.user_id != ctx.user.id:
        return ctx.t("这个对话里没有进行中的练习;说“开始练习 医院采购价格异议”开始一个。",
                     "There is no practice session open in this chat; say “start practice hospital price objection” to begin one.")
    if row.ended_at is not None:
        overall = (row.scores or {}).get("overall")
        return ctx.t(f"练习 {session_id} 已经结束(总分 {overall});查看报告:`repcopilot practice end {session_id} --as {ctx.user.login}`。"
                     "说“开始练习 …”再练一个。",
                     f"Practice session {session_id} has ended (overall {overall}); see the report with "
                     f"`repcopilot practice end {session_id} --as {ctx.user.login}`. Say “start practice …” for another one.")
    transcript = row.transcript or []
    last = next((t.get("text") for t in reversed(transcript) if t.get("speaker") == "customer"), "")
    head = ctx.t(f"练习 {session_id}({row.scenario_code},已进行 {len(transcript)} 句)还在进行中。客户刚才说:“{last}”",
                 f"Practice session {session_id} ({row.scenario_code}, {len(transcript)} turns so far) is still open. "
                 f"The customer just said: “{last}”")
    return "\n".join([head, *practice_howto(ctx, session_id)])


def _scenario_choices(ctx: ToolContext, phrase: str | None) -> ToolOutput:
    view = list_scenarios(ctx)
    head = (ctx.t(f"没有找到与“{phrase}”对应的练习场景。", f"No practice scenario matches “{phrase}”.") if phrase else "")
    lines = [head + ctx.t("可以练习这些场景:", "You can practise these scenarios:")]
    for s in view["scenarios"]:
        lines.append(f"- {s['title']}({s['code']},{s['persona']})" if ctx.language == "zh"
                     else f"- {s['title']} ({s['code']}, {s['persona']})")
    example = view["scenarios"][0]["title"] if view["scenarios"] else "hospital-price-objection"
    lines.append(ctx.t(f"说“开始练习 {example}”就能开始。", f"Say “start practice {example}” to begin."))
    return ToolOutput(text="\n".join(lines), data={"scenarios": [s["code"] for s in view["scenarios"]]},
                      evidence=[Evidence("scenario", s["code"], None, s["title"]) for s in view["scenarios"]], confidence=0.5)


def _practice(*, ctx: ToolContext, scenario: str | None, assign_to: str | None = None, due: str | None = None,
              times: int | None = None, report_of: str | None = None) -> ToolOutput:
    if report_of in ("team", "team:week", "team:month"):
        return _team_practice(ctx, report_of.partition(":")[2] or None)
    if report_of:
        return _practice_results(ctx, report_of)
    raw = (scenario or "").strip()
    phrase = scenario_phrase(raw)
    code = (find_scenario(raw, ctx.home) if raw else None) or (find_scenario(phrase, ctx.home) if phrase else None)
    if assign_to is not None or (may_assign_drills(ctx.user) and (due or times)):
        return _assignments(ctx, code, phrase, assign_to, due, times)
    if code is None:
        return _scenario_choices(ctx, phrase or None)
    view = start_session(ctx, code)
    sid = view["session_id"]
    lines = [ctx.t(f"**练习开始:{view['title']}**(练习编号 {sid})", f"**Practice started: {view['title']}** (session {sid})"),
             ctx.t(f"客户:{view['persona']}", f"Customer: {view['persona']}"),
             ctx.t(f"情境:{view['situation']}", f"Situation: {view['situation']}"),
             ctx.t(f"客户开场:“{view['opening']}”", f"The customer opens: “{view['opening']}”"),
             *practice_howto(ctx, sid)]
    if view.get("drill_assignment_id"):
        lines.append(ctx.t(f"这次练习计入你的练习任务 #{view['drill_assignment_id']}。",
                           f"This session counts toward your assigned drill #{view['drill_assignment_id']}."))
    return ToolOutput(text="\n".join(lines), data=view,
                      evidence=[Evidence("practice_session", str(sid), ctx.now().isoformat(timespec="seconds"), view["title"]),
                                Evidence("scenario", code, None, view["opening"])],
                      confidence=0.9, focus={"practice_session_id": sid, "practice_scenario": code})


def _assignments(ctx: ToolContext, code: str | None, phrase: str, assign_to: str | None, due: str | None,
                 times: int | None) -> ToolOutput:
    """One rep's assignment, or the same for each of several ("给林雨桐和朱艳都布置…": ``assign_to`` "a,b")."""
    reps = [r.strip() for r in (assign_to or "").split(",") if r.strip()] or [None]
    if len(reps) > 1:
        return _each(lambda rep: _assign_practice(ctx, code, phrase, rep, due, times), reps)
    return _assign_practice(ctx, code, phrase, reps[0], due, times)


def _each(assign, reps: list[str]) -> ToolOutput:
    """One answer for several assignments: every line and piece of evidence; a rep refused or not found
    stops there, and the answer still says what was assigned before it."""
    done: list[ToolOutput] = []
    for rep in reps:
        try:
            done.append(assign(rep))
        except RepcopilotError as exc:
            done.append(ToolOutput(text=str(exc), error="permission" if isinstance(exc, PermissionDenied) else "input"))
        if done[-1].error:
            break
    return ToolOutput(text="\n".join(o.text for o in done), data={"assignments": [o.data for o in done]},
                      evidence=[e for o in done for e in o.evidence], confidence=min(o.confidence or 0.0 for o in done),
                      error=done[-1].error, focus=done[-1].focus)


def _assign_practice(ctx: ToolContext, code: str | None, phrase: str, rep: str | None, due: str | None,
                     times: int | None) -> ToolOutput:
    """A manager or trainer assigns a scenario from the chat: the drill that points at it, with a due
    date and a count (tools/practice/service.py rules: trainers and admins any rep, managers their team)."""
    if not may_assign_drills(ctx.user):
        raise PermissionDenied(ctx.t("只有经理和培训师可以布置练习;你可以说“开始练习 …”自己练。",
                                     "Only managers and trainers assign practice; say “start practice …” to practise yourself."))
    if not rep:
        return ToolOutput(text=ctx.t("要布置给哪位销售?例如“给胡明安排政府招标的模拟练习,这周做完”。",
                                     "Which rep? E.g. “assign Emily the SaaS renewal role-play twice by Friday”."), error="input")
    who = resolve_rep(ctx, rep)  # a rep outside the asker's team is refused before anything is asked about the scenario
    drill = drill_named(ctx, phrase)  # "痛点后停顿练习": the drill by its name, before a scenario sharing a word with it
    if drill is not None and drill.scenario_code == code:
        drill = None  # the drill of the scenario named: assigned as that scenario, said by its name
    elif drill is None and code is None:
        drill = _drill_meant(ctx, who, phrase)
    if isinstance(drill, ToolOutput):
        return drill
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        return ToolOutput(text=ctx.t("截止日期格式应为 YYYY-MM-DD。", "The due date must be written YYYY-MM-DD."), error="input")
    if drill is not None:
        return _assigned(ctx, who, assign_drill(ctx=ctx, drill_code=drill.code, rep_login=who.login, due=due_date,
                                                times=times or 1).to_json(), "")
    out = assign_scenario(ctx, code, who.login, due_date, times or 1)
    return _assigned(ctx, who, out, ctx.t(f"(场景:{out['scenario_title']})", f" (scenario: {out['scenario_title']})"))


#: a drill named by what it is for, not by its title: "对应的", "合适的", "the matching one"
FITTING = re.compile(r"\s*((对应|相应|合适|适合|匹配|针对性?)(的|他的|她的)?|那个|这个|"
                     r"(the )?(matching|right|fitting|corresponding|relevant)( one)?|that|this|one|个|一个|练|drill|练习|[\s,，。.]+)*\s*",
                     re.I)


def _drill_meant(ctx: ToolContext, who, phrase: str):
    """The catalogue drill the phrase names ("痛点后停顿的练习"), or the one the rep's largest gap calls for
    ("给她布置个对应的drill"); else what to say: the scenarios to choose from, or that no drill fits."""
    drill = drill_named(ctx, phrase)
    if drill is None and FITTING.fullmatch(phrase or ""):
        drill = _fitting_drill(ctx, who)
        if drill is None:
            return ToolOutput(text=ctx.t(f"{who.name}各维度都已达到前四分之一水平,没有对应的练习可布置;请说出练习名称。",
                                         f"{person_name(who, 'en')} is at or above the top quartile everywhere: no drill fits; "
                                         "name the drill to assign."), error="input")
    return drill if drill is not None else _scenario_choices(ctx, phrase or None)


def _fitting_drill(ctx: ToolContext, who):
    """The drill of the rep's largest gap this week (``list_drills``' first task), or None."""
    from crm.models import Drill
    from tools.drills import list_drills

    tasks = list_drills(ctx=ctx, rep_login=who.login, with_links=False).tasks
    return ctx.session.scalar(select(Drill).where(Drill.code == tasks[0]["code"])) if tasks else None


def _assigned(ctx: ToolContext, who, out: dict[str, Any], scene: str) -> ToolOutput:
    """The assignment just made (or the open one it repeats), in words."""
    a = out["assignment"]
    if out["created"]:
        text = ctx.t(f"已给{who.name}布置练习「{a['title']}」{scene}× {a['times']},"
                     f"截止 {a['due_date']}(练习任务 #{a['id']})。",
                     f"Assigned “{a['title']}”{scene} × {a['times']} to {person_heading(who, 'en')}, "
                     f"due {a['due_date']} (assignment #{a['id']}).")
    else:
        text = ctx.t(f"{who.name}已有截止 {a['due_date']} 的「{a['title']}」练习(#{a['id']}),未重复布置。",
                     f"{person_name(who, 'en')} already has “{a['title']}” due {a['due_date']} (#{a['id']}); nothing added.")
    return ToolOutput(text=text, data=out, confidence=0.9,
                      evidence=[Evidence("drill_assignment", str(a["id"]), a["assigned_at"], text)],
                      # "一样的也给杨勇来一份" / "same for Emily": the same assignment for another rep
                      focus={"assigned": {"scenario": a["title"], "due": a["due_date"], "times": a["times"], "rep": who.login}})


def _practice_results(ctx: ToolContext, rep: str) -> ToolOutput:
    """A rep's finished practice sessions by scenario (first, last, best score, trend): the rep their
    own, a manager their team's, a trainer or an admin anyone's; anyone else refused."""
    who = ctx.user if rep == ctx.user.login else resolve_rep(ctx, rep)  # a rep: own; a manager: the team's; trainer, admin: any
    report = trainer_report(ctx, who.login)
    name = who.name if ctx.language == "zh" else person_name(who, "en")
    if not report["rows"]:
        return ToolOutput(text=ctx.t(f"{name}还没有完成的模拟练习。说“开始练习 …”开始一次。",
                                     f"{name} has no finished practice sessions yet. Say “start practice …” to begin one."),
                          data=report, confidence=0.9, focus={"rep": who.login})  # "给他布置一个" next is for this rep
    lines = [ctx.t(f"**{name}的模拟练习成绩**({report['sessions']} 次)", f"**{name} — practice results** ({report['sessions']} sessions)")]
    for r in report["rows"]:
        lines.append(ctx.t(f"- {r['scenario']}:{r['sessions']} 次 · 最近 {r['last']} · 最好 {r['best']} · "
                           f"变化 {r['trend']:+} · {r['last_at'][:10]}",
                           f"- {r['scenario']}: {r['sessions']} sessions · last {r['last']} · best {r['best']} · "
                           f"change {r['trend']:+} · {r['last_at'][:10]}"))
    evidence = [Evidence("practice_report", who.login, r["last_at"], f"{r['scenario']} {r['last']}") for r in report["rows"]]
    return ToolOutput(text="\n".join(lines), data=report, confidence=0.9, evidence=evidence, focus={"rep": who.login})


def _team_practice(ctx: ToolContext, period: str | None) -> ToolOutput:
    """"who has the best practice scores this week", "哪些人这个月还没练过": every rep coached, best average
    first, the ones without a finished session since the period's start listed apart."""
    from datetime import datetime, timedelta

    from tools.practice.service import team_practice

    today = ctx.now().date()
    start = {"week": today - timedelta(days=today.weekday()), "month": today.replace(day=1)}.get(period or "", today - timedelta(days=30))
    report = team_practice(ctx, datetime.combine(start, datetime.min.time()))
    name = (lambda u: u.name if ctx.language == "zh" else person_name(u, "en"))  # noqa: E731
    done = [r for r in report["rows"] if r["sessions"]]
    lines = [ctx.t(f"**{start} 以来的模拟练习**({len(done)}/{len(report['rows'])} 人练过,按平均分排序)",
                   f"**Practice since {start}** ({len(done)} of {len(report['rows'])} reps practised, best average first)")]
    lines += [ctx.t(f"- {name(r['user'])}({r['rep']}):{r['sessions']} 次 · 平均 {r['average']} · 最好 {r['best']} · "
                    f"最近 {r['last_at'][:10]}",
                    f"- {name(r['user'])} ({r['rep']}): {r['sessions']} sessions · average {r['average']} · best {r['best']} · "
                    f"last {r['last_at'][:10]}") for r in done]
    idle = [r for r in report["rows"] if not r["sessions"]]
    if idle:
        names = ("、" if ctx.language == "zh" else ", ").join(name(r["user"]) for r in idle)
        lines.append(ctx.t(f"还没练过({len(idle)} 人):{names}", f"Not practised yet ({len(idle)}): {names}"))
    data = {"since": report["since"], "reps": [{k: v for k, v in r.items() if k != "user"} for r in report["rows"]]}
    return ToolOutput(text="\n".join(lines), data=data, confidence=0.9,
                      focus={"ranked_reps": [r["rep"] for r in done]})


class PracticeTurnArgs(BaseModel):
    session_id: int = Field(description="the open practice session of this conversation")
    text: str | None = Field(None, description="what the rep says to the customer, word for word")
    end: bool = Field(False, description="true to end the session and get the scores and the report")


def practice_report_text(ctx: ToolContext, result: dict[str, Any]) -> str:
    """A finished session for the chat: scores, each rubric verdict with its turn, what to do next time."""
    sc = result["scores"]
    lines = [ctx.t(f"**练习结束 · 总分 {sc['overall']}** · 需求挖掘 {sc['discovery']} · 评分项 {sc['rubric']} · "
                   f"痛点 {sc['pain_points_found']}/{sc['pain_points_hidden']}",
                   f"**Practice ended · overall {sc['overall']}** · discovery {sc['discovery']} · rubric {sc['rubric']} · "
                   f"pain points {sc['pain_points_found']}/{sc['pain_points_hidden']}")]
    for v in result.get("rubric") or []:
        cite = f"(#{v['turn']} “{v['quote']}”)" if v.get("turn") else f" — {v.get('reason') or ''}"
        lines.append(f"- {'✓' if v['passed'] else '✗'} {v['check']} {cite}".rstrip())
    todo = (result.get("report") or {}).get("do_differently") or []
    if todo:
        lines.append(ctx.t("下次这样做:", "Next time:"))
        lines += [f"- {a}" for a in todo[:5]]
    return "\n".join(lines)


def _practice_turn(*, ctx: ToolContext, session_id: int, text: str | None, end: bool) -> ToolOutput:
    """One turn of an open practice session in the chat (the copilot plays the customer), or its end."""
    if end:
        result = end_session(ctx, session_id)
        return ToolOutput(text=practice_report_text(ctx, result), data=result, confidence=0.9,
                          evidence=[Evidence("practice_session", str(session_id), None, str(result["scores"]["overall"]))],
                          focus={"practice_session_id": None})
    if not (text or "").strip():
        return ToolOutput(text=ctx.t("请说出你要对客户说的话。", "Say what you want to tell the customer."), error="input")
    out = rep_turn(ctx, session_id, text=text)
    lines = [ctx.t(f"客户:“{out['customer']['text']}”", f"Customer: “{out['customer']['text']}”")]
    focus: dict[str, Any] = {"practice_session_id": session_id}
    if out.get("ended"):
        lines.append(practice_report_text(ctx, out))
        focus = {"practice_session_id": None}
    else:
        run = out.get("running") or {}
        lines.append(ctx.t(f"(第 {run.get('rep_turns')} 句 · 已挖掘痛点 {run.get('pain_points_found')}/{run.get('pain_points_hidden')} · "
                           "说“结束练习”结束并评分)",
                           f"(turn {run.get('rep_turns')} · pain points uncovered {run.get('pain_points_found')}/"
                           f"{run.get('pain_points_hidden')} · say “end practice” to end and score)"))
    return ToolOutput(text="\n".join(lines), data=out, confidence=0.9, focus=focus,
                      evidence=[Evidence("practice_turn", f"{session_id}:{out['rep']['idx']}", None, out["rep"]["kind"])])


TURN_SPEC = ToolSpec(
    "practice_turn",
    "While a practice session is open in this conversation, every user message is what the rep says to the customer: "
    "pass it word for word as text with the session id; the customer's reply comes back. end=true ends the session "
    "('结束练习', 'end practice') and returns the scores, the rubric verdicts and what to do next time.",
    PracticeTurnArgs, _practice_turn)


SPEC = ToolSpec(
    "practice",
    "Start a practice dialogue in which the copilot plays the customer of a scenario (hospital price objection, "
    "manufacturing CFO with no budget, government tender policy, SaaS renewal price rise …). Give the scenario as a "
    "code or in the user's words; it returns the scenario title, the customer's opening line and the session id; "
    "from then on each message in this conversation is a turn for practice_turn. Without a "
    "matching scenario it lists the scenarios to choose from. Use for '开始练习 医院采购价格异议', '我想练习一下价格异议', "
    "'start practice hospital price objection'; not for 'what should I practise this week' (coaching_drills).",
    PracticeArgs, _practice)
