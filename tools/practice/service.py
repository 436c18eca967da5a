"""Practice as a service: scenarios for trainers (list, show, validate, create, assign), session
rows with access rules, the rep's report (advice + an exemplar from a top rep's real call) and
the trainer's report (every session by rep and scenario, with trends).

Access: a rep practises and sees their own sessions; a manager sees their team's; a trainer or
admin sees all and creates and assigns scenarios. Hidden pain points and the rubric are shown to
trainers and admins only — a rep who read them could not practise finding them.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.errors import NotFoundError, PermissionDenied
from core.lang import pick
from crm.models import Call, CallTurn, Drill, DrillAssignment, PracticeScenarioRecord, PracticeSession, User
from crm.roles import Role
from speech.text import is_pain_point, is_why_question
from tools.context import ToolContext, utc_now
from tools.practice.dialogue import advice
from tools.practice.scenario import Scenario, catalogue, get_scenario, home_dir, load_file, sync_scenarios

AUTHORS = (Role.TRAINER, Role.ADMIN)


def _require_author(ctx: ToolContext, what_zh: str, what_en: str) -> None:
    if ctx.user.role not in AUTHORS:
        raise PermissionDenied(ctx.t(f"只有培训师和管理员可以{what_zh};你可以用 `repcopilot practice list` 查看场景。",
                                     f"Only trainers and admins {what_en}; see the scenarios with `repcopilot practice list`."))


def scenario_for(ctx: ToolContext, code: str) -> Scenario:
    sync_scenarios(ctx.session, ctx.home)
    return get_scenario(code, ctx.home, ctx.language)


def list_scenarios(ctx: ToolContext) -> dict[str, Any]:
    """Built-in and trainer-created scenarios; trainer files that do not validate are listed as errors."""
    sync_scenarios(ctx.session, ctx.home)
    cat = catalogue(ctx.home)
    return {"scenarios": [s.summary(ctx.language, cat.sources[c]) for c, s in sorted(cat.scenarios.items())],
            "errors": cat.errors if ctx.user.role in AUTHORS else []}


def show_scenario(ctx: ToolContext, code: str) -> dict[str, Any]:
    """The brief a rep reads; trainers and admins also see the hidden pain points, objections and rubric."""
    s = scenario_for(ctx, code)
    view = s.summary(ctx.language, catalogue(ctx.home).sources.get(s.code, "builtin")) | {
        "situation": s.situation.pick(ctx.language), "persona": s.persona.model_dump(), "opening": s.opening,
        "success_criteria": s.success_criteria}
    if ctx.user.role in AUTHORS:
        view |= {"budget": s.budget, "decision_process": s.decision_process,
                 "pain_points": [p.model_dump() for p in s.pain_points], "objections": [o.model_dump() for o in s.objections],
                 "rubric": [{"id": c.id, "check": c.check.pick(ctx.language), "evidence": c.evidence.model_dump(exclude_defaults=True)}
                            for c in s.rubric]}
    return view


def create_scenario(ctx: ToolContext, path: Path) -> dict[str, Any]:
    """Validate a trainer's file and copy it to HOME/scenarios/CODE.yaml (replacing an older version)."""
    _require_author(ctx, "创建场景", "create scenarios")
    s = load_file(path)
    folder = home_dir(ctx.home)
    if folder is None:
        raise NotFoundError("no data home is set; run with --home PATH")
    text = Path(path).read_text(encoding="utf-8")  # load_file checked that it is UTF-8
    record = ctx.session.get(PracticeScenarioRecord, s.code, with_for_update=True)
    replaced = record is not None or (folder / f"{s.code}.yaml").exists()
    if record is None:  # in the database, so every node has it; HOME/scenarios is this node's copy
        record = PracticeScenarioRecord(code=s.code, yaml_text=text, created_by_id=ctx.user.id, updated_at=utc_now())
        ctx.session.add(record)
    record.yaml_text, record.created_by_id, record.updated_at = text, ctx.user.id, utc_now()
    ctx.session.flush()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{s.code}.yaml"
    shutil.copyfile(path, target)
    return {"code": s.code, "path": str(target), "replaced": replaced,
            "message": ctx.t(f"场景 {s.code} 已{'更新' if replaced else '创建'}:{target}",
                             f"Scenario {s.code} {'updated' if replaced else 'created'}: {target}")}


def drill_for(ctx: ToolContext, s: Scenario) -> Drill:
    """The drill that points at this scenario, created (``practice-CODE``) when there is none."""
    drill = ctx.session.scalar(select(Drill).where(Drill.scenario_code == s.code).order_by(Drill.id))
    if drill is None:
        drill = Drill(code=f"practice-{s.code}"[:64], dimension=s.skill, title_zh=f"练习:{s.title.zh}", title_en=f"Practice: {s.title.en}",
                      description_zh=s.situation.zh, description_en=s.situation.en, scenario_code=s.code)
        ctx.session.add(drill)
        ctx.session.flush()
    return drill


def assign_scenario(ctx: ToolContext, code: str, rep_login: str, due: date | None = None, times: int = 1) -> dict[str, Any]:
    """Assign a scenario to a rep: the drill that points at it is assigned (tools/drills.py rules:
    trainers and admins any rep, managers their team's). The caller commits."""
    from tools.drills import assign_drill

    s = scenario_for(ctx, code)
    if ctx.user.role not in (Role.TRAINER, Role.MANAGER, Role.ADMIN):
        raise PermissionDenied(ctx.t("只有培训师和经理可以布置练习。", "Only trainers and managers assign practice."))
    drill = drill_for(ctx, s)
    result = assign_drill(ctx=ctx, drill_code=drill.code, rep_login=rep_login, due=due, times=times).to_json()
    return result | {"scenario": s.code, "scenario_title": ctx.t(s.title.zh, s.title.en), "drill": drill.code}


def open_assignment(ctx: ToolContext, code: str) -> DrillAssignment | None:
    """The rep's open assignment of a drill that points at this scenario (earliest due first)."""
    return ctx.session.scalar(
        select(DrillAssignment).join(Drill, Drill.id == DrillAssignment.drill_id)
        .where(DrillAssignment.user_id == ctx.user.id, Drill.scenario_code == code, DrillAssignment.completed_at.is_(None))
        .order_by(DrillAssignment.due_date, DrillAssignment.id))


def load_session(ctx: ToolContext, session_id: int, *, write: bool = False) -> PracticeSession:
    # a turn reads and rewrites the transcript: lock the row for it (PostgreSQL), so two turns sent
    # at once are applied one after the other instead of one overwriting the other
    row = ctx.session.get(PracticeSession, session_id, with_for_update=write or None)
    if row is None:
        raise NotFoundError(ctx.t(f"没有编号为 {session_id} 的练习;用 `repcopilot practice sessions` 查看。",
                                  f"there is no practice session {session_id}; list yours with `repcopilot practice sessions`."))
    if row.user_id == ctx.user.id:
        return row
    if write:
        raise PermissionDenied(ctx.t(f"练习 {session_id} 不是你的;只有练习者本人可以继续对话。",
                                     f"practice session {session_id} is not yours; only the rep who started it can continue it."))
    if ctx.user.role in AUTHORS or (ctx.user.role == Role.MANAGER and row.user_id in ctx.scope.owner_ids):
        return row
    raise PermissionDenied(ctx.t(f"练习 {session_id} 不是你的;销售只能查看自己的练习。",
                                 f"practice session {session_id} is not yours; a rep sees only their own sessions."))


def visible_sessions(ctx: ToolContext, rep_login: str | None = None, scenario: str | None = None, *,
                     ended_since: datetime | None = None):
    """Sessions the asker may see (a rep: own; a manager: team; trainer/admin: all), with their reps; with
    ``ended_since``, only those ended since then."""
    stmt = select(PracticeSession, User).join(User, User.id == PracticeSession.user_id)
    if ended_since is not None:
        stmt = stmt.where(PracticeSession.ended_at >= ended_since)
    if ctx.user.role == Role.REP:
        stmt = stmt.where(PracticeSession.user_id == ctx.user.id)
    elif ctx.user.role == Role.MANAGER:
        stmt = stmt.where(PracticeSession.user_id.in_(ctx.scope.owner_ids))
    if rep_login:
        stmt = stmt.where(User.login == rep_login)
    if scenario:
        stmt = stmt.where(PracticeSession.scenario_code == scenario)
    return list(ctx.session.execute(stmt.order_by(PracticeSession.started_at, PracticeSession.id)))


def session_summary(row: PracticeSession, user: User) -> dict[str, Any]:
    sc = row.scores or {}
    return {"id": row.id, "rep": user.login, "scenario": row.scenario_code, "persona": row.persona,
            "started_at": row.started_at.isoformat(sep=" ", timespec="seconds"),
            "ended_at": row.ended_at.isoformat(sep=" ", timespec="seconds") if row.ended_at else None,
            "turns": len(row.transcript or []), "overall": sc.get("overall"), "discovery": sc.get("discovery"),
            "rubric": sc.get("rubric"), "drill_assignment_id": row.drill_assignment_id}


def list_sessions(ctx: ToolContext, rep_login: str | None = None, scenario: str | None = None) -> list[dict[str, Any]]:
    return [session_summary(r, u) for r, u in visible_sessions(ctx, rep_login, scenario)]


def trainer_report(ctx: ToolContext, rep_login: str | None = None, scenario: str | None = None) -> dict[str, Any]:
    """Every ended session the asker may see, by rep and scenario: count, first / last / best
    overall score and the trend (last − first), plus averages per rep and per scenario."""
    rows = [(r, u) for r, u in visible_sessions(ctx, rep_login, scenario) if r.ended_at and r.scores]
    groups: dict[tuple[str, str], list[PracticeSession]] = {}
    for r, u in rows:
        groups.setdefault((u.login, r.scenario_code), []).append(r)
    table = []
    for (login, code), sessions in sorted(groups.items()):
        scores = [s.scores["overall"] for s in sessions]
        table.append({"rep": login, "scenario": code, "sessions": len(sessions), "first": scores[0], "last": scores[-1],
                      "best": max(scores), "trend": round(scores[-1] - scores[0], 1),
                      "discovery_last": sessions[-1].scores["discovery"], "rubric_last": sessions[-1].scores["rubric"],
                      "last_at": sessions[-1].ended_at.isoformat(sep=" ", timespec="seconds")})

    def mean_by(key: str) -> dict[str, float]:
        acc: dict[str, list[float]] = {}
        for r, u in rows:
            acc.setdefault(u.login if key == "rep" else r.scenario_code, []).append(r.scores["overall"])
        return {k: round(sum(v) / len(v), 1) for k, v in sorted(acc.items())}

    return {"sessions": len(rows), "rows": table, "by_rep": mean_by("rep"), "by_scenario": mean_by("scenario")}


def team_practice(ctx: ToolContext, since: datetime) -> dict[str, Any]:
    """Every rep the asker coaches (a manager: the team; a trainer or an admin: every rep) with their
    practice since ``since``: finished sessions, average and best overall score, the last one; the
    reps who have not practised listed too. Best average first. A rep is refused (own results only)."""
    if ctx.user.role == Role.REP:
        raise PermissionDenied(ctx.t("团队的练习情况只对经理、培训师和管理员开放;你可以问“我的练习成绩”。",
                                     "The team's practice is for managers, trainers and admins; ask \"my practice results\"."))
    reps = select(User).where(User.role == Role.REP, User.left_at.is_(None)).order_by(User.id)
    if ctx.user.role == Role.MANAGER:
        reps = reps.where(User.id.in_(ctx.scope.owner_ids))
    done: dict[int, list[PracticeSession]] = {}
    for r, u in visible_sessions(ctx, ended_since=since):
        if r.scores:
            done.setdefault(u.id, []).append(r)
    rows = []
    for u in ctx.session.scalars(reps):
        scores = [x.scores["overall"] for x in done.get(u.id, [])]
        rows.append({"rep": u.login, "user": u, "sessions": len(scores),
                     "average": round(sum(scores) / len(scores), 1) if scores else None, "best": max(scores) if scores else None,
                     "last_at": done[u.id][-1].ended_at.isoformat(sep=" ", timespec="seconds") if scores else None})
    rows.sort(key=lambda r: (r["average"] is None, -(r["average"] or 0), r["rep"]))
    return {"since": since.date().isoformat(), "rows": rows}


# -- the rep's report ---------------------------------------------------------------------------
def exemplar(ctx: ToolContext, s: Scenario) -> dict[str, Any] | None:
    """An excerpt of a top rep's real call where a why-question follows a customer's pain point:
    from the knowledge store (transcripts the asker may retrieve) when one is open, else from the
    exemplar calls in the database (the rep's team first)."""
    return knowledge_exemplar(ctx, s) or call_exemplar(ctx, s)


def knowledge_exemplar(ctx: ToolContext, s: Scenario) -> dict[str, Any] | None:
    """The first retrievable transcript passage (of the scenario's title and a why-question query)
    that has a why-question in it; None without a knowledge store."""
    if ctx.knowledge is None:
        return None
    query = pick(s.language, "为什么 痛点 追问", "why pain point follow-up question")
    try:
        hits = ctx.knowledge.search(f"{s.title.pick(s.language)} {query}", k=5, kinds=("transcript",),
                                    visibility=_visibility(ctx))
    except Exception:  # noqa: BLE001 — an unusable index falls back to the database below
        hits = []
    for h in hits:
        if any(is_why_question(line, s.language) for line in h.text.splitlines()):
            return {"source": "knowledge", "citation": h.citation, "text": h.text}
    return None


def call_exemplar(ctx: ToolContext, s: Scenario) -> dict[str, Any] | None:
    """The first exemplar call in the scenario's language (the rep's team first) where a
    why-question follows a pain point: the pain point, the question and the customer's answer."""
    stmt = (select(Call).where(Call.is_exemplar.is_(True), Call.language == s.language)
            .join(User, User.id == Call.rep_id).order_by((User.team_id == ctx.user.team_id).desc(), Call.id))
    for call in ctx.session.scalars(stmt.limit(40)):
        turns = list(ctx.session.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.idx)))
        excerpt = why_after_pain(turns, s.language)
        if excerpt:
            a, b = excerpt[0], excerpt[1]
            rep = ctx.session.get(User, call.rep_id)
            return {"source": "calls", "call_id": call.id, "rep": rep.name if rep else None, "at_s": a.start_s,
                    "pause_s": round(b.start_s - a.end_s, 2),
                    "turns": [{"speaker": t.speaker, "start_s": t.start_s, "text": t.text} for t in excerpt],
                    "citation": f"call #{call.id} @ {a.start_s:.0f}s"}
    return None


def why_after_pain(turns: list, language: str) -> list | None:
    """The first customer pain point answered by a rep why-question, with the turn after it (if
    any): [pain point, why-question, answer]; None when the call has no such moment."""
    for a, b, c in zip(turns, turns[1:], turns[2:] + [None], strict=False):
        if a.speaker == "customer" and b.speaker == "rep" and is_pain_point(a.text, language) and is_why_question(b.text, language):
            return [a, b] + ([c] if c is not None else [])
    return None


def _visibility(ctx: ToolContext):
    from tools.knowledge import visibility_for

    return visibility_for(ctx.session, ctx.user)


def rep_report(ctx: ToolContext, s: Scenario, scores: dict[str, Any]) -> dict[str, Any]:
    """What to do differently next time, and a top rep's exemplar to copy."""
    return {"scenario": s.code, "title": s.label(ctx.language), "overall": scores["overall"],
            "discovery": scores["discovery"], "rubric": scores["rubric"],
            "objection_handling": scores["objection_handling"],
            "pain_points": f"{scores['pain_points_found']}/{scores['pain_points_hidden']}",
            "do_differently": advice(s, scores, ctx.language), "exemplar": exemplar(ctx, s),
            "notes": scores["notes"]}


def count_for_assignment(ctx: ToolContext, assignment_id: int) -> int:
    return ctx.session.scalar(select(func.count()).select_from(PracticeSession).where(
        PracticeSession.drill_assignment_id == assignment_id, PracticeSession.ended_at.is_not(None))) or 0
