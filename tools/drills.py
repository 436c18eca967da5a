"""Coaching drills: a weekly task list per rep derived from their capability gaps, assignments
(trainers, managers and admins assign; due date and repetitions stored), completion with a
baseline, and progress (the drill's metric on calls after completion vs that baseline).

- The weekly list: for each gap (furthest below the top quartile first) the drill of that
  dimension whose metric ranks the rep lowest; repetitions = ceil(gap / 10) points, 1–3.
- Completing stores ``DrillAssignment.baseline``: the rep's dimension score and the mean of
  each of the dimension's call metrics over every call up to completion.
- Progress: the mean of the drill's metric (``drill_metrics`` in ``tools/scenarios.yaml``)
  over calls after completion, against the baseline value. A drill whose dimension is not
  measured from calls (the demo's tender-policy drill) says so.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import AuditLog, Call, CallMetric, CallTurn, CapabilityProfile, Drill, DrillAssignment, User
from crm.policy import may_assign_drills
from speech.text import is_objection, is_open_question, is_pain_point, is_question, is_why_question
from tools.capability import (
    DIMENSIONS,
    CallRow,
    InputSpec,
    ProfileView,
    call_clock,
    call_value,
    dimension_label,
    ensure_profiles,
    load_calls,
    load_scenarios,
    moment_text,
    rep_profile,
    visible_rep,
)
from tools.context import ToolContext

MAX_TIMES = 3
POINTS_PER_REPETITION = 10.0
SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "prompts" / "scenarios"  # practice scenarios (tools/practice.py)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def repetitions_for(gap: float) -> int:
    """One repetition per started 10 points below the top quartile, 1–3."""
    return max(1, min(MAX_TIMES, math.ceil(gap / POINTS_PER_REPETITION)))


def _spec(metric: str | None) -> InputSpec | None:
    """The profile input read from ``metric`` (its own name first: talk_ratio, not customer talk share)."""
    specs = [s for ss in DIMENSIONS.values() for s in ss if metric is not None and s.metric == metric]
    return next((s for s in specs if s.name == metric), specs[0] if specs else None)


def weekly_tasks(gaps: list[dict[str, Any]], dimensions: dict[str, Any], drills: list[dict[str, Any]],
                 drill_metrics: dict[str, str]) -> list[dict[str, Any]]:
    """Pure: one drill per gap (furthest gap first) — the drill of that dimension whose metric the
    rep ranks lowest on — with how many repetitions this week. ``drills`` are ``{code, dimension}``
    dicts (more keys are carried through)."""
    tasks = []
    for g in gaps:
        candidates = [d for d in drills if d["dimension"] == g["dimension"]]
        if not candidates:
            continue
        inputs = dimensions[g["dimension"]]["inputs"]

        def rank(d: dict[str, Any], inputs: dict[str, Any] = inputs) -> float:
            spec = _spec(drill_metrics.get(d["code"]))
            r = inputs.get(spec.name, {}).get("rank") if spec else None
            return 101.0 if r is None else r

        best = min(candidates, key=lambda d: (rank(d), d["code"]))
        tasks.append(dict(best, times=repetitions_for(g["gap"]), gap=g["gap"], metric=drill_metrics.get(best["code"])))
    return tasks


def metric_means(calls: list[CallRow], dimension: str) -> dict[str, Any]:
    """Mean of each of the dimension's call inputs over ``calls`` (None when no call has it)."""
    out: dict[str, Any] = {}
    for spec in DIMENSIONS.get(dimension, ()):
        if spec.metric is None:
            continue
        values = [v for c in calls if (v := call_value(spec, c)) is not None]
        out[spec.name] = {"value": round(statistics.fmean(values), 3) if values else None, "calls": len(values)}
    return out


def progress(baseline: dict[str, Any] | None, after: list[CallRow], metric_input: str | None) -> dict[str, Any]:
    """Pure: the drill's metric on calls after completion vs the baseline value."""
    if not baseline or not baseline.get("measured") or metric_input is None:
        return {"status": "not_measured"}
    spec = next((s for specs in DIMENSIONS.values() for s in specs if s.name == metric_input), None)
    base = (baseline.get("inputs") or {}).get(metric_input, {}).get("value")
    values = [v for c in after if (v := call_value(spec, c)) is not None] if spec else []
    if not values:
        return {"status": "no_calls_since", "metric": metric_input, "baseline": base, "current": None, "calls_since": 0}
    current = round(statistics.fmean(values), 3)
    change = None if base is None else round(current - base, 3)
    improved = None if change is None else (change > 0 if spec.higher_is_better else change < 0)
    return {"status": "measured", "metric": metric_input, "baseline": base, "current": current, "change": change,
            "improved": improved, "calls_since": len(values)}


# -- service functions -------------------------------------------------------------------------
@dataclass
class AssignmentView:
    id: int
    drill: str
    title: str
    dimension: str
    rep: str
    assigned_by: str | None
    assigned_at: str
    due_date: str
    times: int
    status: str  # open / overdue / done
    completed_at: str | None
    baseline: dict[str, Any] | None
    progress: dict[str, Any] | None
    practice: dict[str, Any] | None = None  # the linked practice scenario and the command that starts it
    exemplar: dict[str, Any] | None = None  # the exemplar recording excerpt that shows the drill

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DrillPlan:
    rep: str
    week_start: str
    week_end: str
    tasks: list[dict[str, Any]]  # suggested from gaps
    assignments: list[AssignmentView]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"rep": self.rep, "week_start": self.week_start, "week_end": self.week_end, "tasks": self.tasks,
                "assignments": [a.to_json() for a in self.assignments], "notes": self.notes}


class _DrillLinks:
    """Per drill code, once per listing: the linked practice scenario and the exemplar excerpt."""

    def __init__(self, ctx: ToolContext, rep_login: str) -> None:
        self.ctx, self.rep_login = ctx, rep_login
        self.drills = {d.code: d for d in ctx.session.scalars(select(Drill))}
        self._practice: dict[str, dict[str, Any] | None] = {}
        self._exemplar: dict[str, dict[str, Any] | None] = {}

    def practice(self, code: str) -> dict[str, Any] | None:
        if code not in self._practice:
            d = self.drills.get(code)
            self._practice[code] = practice_scenario(d.scenario_code if d else None, code, self.rep_login)
        return self._practice[code]

    def exemplar(self, code: str) -> dict[str, Any] | None:
        if code not in self._exemplar:
            self._exemplar[code] = exemplar_for(self.ctx, code)
        return self._exemplar[code]


def _drill_dict(ctx: ToolContext, d: Drill) -> dict[str, Any]:
    return {"code": d.code, "dimension": d.dimension, "title": ctx.t(d.title_zh, d.title_en),
            "description": ctx.t(d.description_zh, d.description_en)}


def _metric_input(drill_code: str) -> str | None:
    """The profile input a drill's metric feeds (customer talk share reads talk_ratio as 1 − x)."""
    metric = load_scenarios()[2].get(drill_code)
    spec = _spec(metric)
    return spec.name if spec else None


def _assignment_view(ctx: ToolContext, a: DrillAssignment, drill: Drill, rep: User, by: User | None) -> AssignmentView:
    today = ctx.now().date()
    status = "done" if a.completed_at else ("overdue" if a.due_date < today else "open")
    prog = None
    if a.completed_at:
        after = load_calls(ctx.session, [rep.id], since=a.completed_at).get(rep.id, [])
        prog = progress(a.baseline, after, _metric_input(drill.code))
    return AssignmentView(a.id, drill.code, ctx.t(drill.title_zh, drill.title_en), drill.dimension, rep.login,
                          by.login if by else None, a.assigned_at.isoformat(sep=" ", timespec="seconds"),
                          a.due_date.isoformat(), a.repetitions, status,
                          a.completed_at.isoformat(sep=" ", timespec="seconds") if a.completed_at else None, a.baseline, prog)


def list_drills(*, ctx: ToolContext, rep_login: str | None = None, with_links: bool = True,
                view: ProfileView | None = None) -> DrillPlan:
    """This week's drill tasks from the rep's gaps, and the rep's assignments with progress; with
    ``with_links`` each drill also carries its exemplar excerpt and linked practice scenario. A team
    view passes each rep's ``view`` from ``team_overview`` (read once for the team, not once a rep)."""
    rep = visible_rep(ctx, rep_login)
    view = view if view is not None and view.login == rep.login else rep_profile(ctx=ctx, rep_login=rep.login)
    drills = [_drill_dict(ctx, d) for d in ctx.session.scalars(select(Drill).order_by(Drill.id))]
    tasks = weekly_tasks(view.gaps, view.dimensions, drills, load_scenarios()[2])
    monday, sunday = week_of(ctx.now().date())
    links = _DrillLinks(ctx, rep.login)
    for t in tasks:
        t["text"] = ctx.t(f"本周完成 {t['times']} 次「{t['title']}」练习(距前四分之一差 {t['gap']} 分)",
                          f"{t['times']} × “{t['title']}” drill{'s' if t['times'] > 1 else ''} this week "
                          f"({t['gap']} points below the top quartile)")
        t["due_date"] = sunday.isoformat()
        if with_links:
            t["practice"], t["exemplar"] = links.practice(t["code"]), links.exemplar(t["code"])
    notes = list(view.notes)
    if not view.gaps and all(d["score"] is not None for d in view.dimensions.values()):
        notes.append(ctx.t("各维度都已达到前四分之一水平,本周没有建议的练习。",
                           "Every dimension is at or above the top quartile — no drills suggested this week."))
    users = {u.id: u for u in ctx.session.scalars(select(User))}
    rows = ctx.session.execute(select(DrillAssignment, Drill).join(Drill, Drill.id == DrillAssignment.drill_id)
                               .where(DrillAssignment.user_id == rep.id)
                               .order_by(DrillAssignment.due_date.desc(), DrillAssignment.id.desc()))
    assignments = []
    for a, d in rows:
        v = _assignment_view(ctx, a, d, rep, users.get(a.assigned_by_id))
        if with_links:
            v.practice, v.exemplar = links.practice(d.code), links.exemplar(d.code)
        assignments.append(v)
    return DrillPlan(rep.login, monday.isoformat(), sunday.isoformat(), tasks, assignments, notes)


@dataclass
class AssignResult:
    assignment: AssignmentView
    created: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"assignment": self.assignment.to_json(), "created": self.created, "message": self.message}


DRILL_FILLER = re.compile(r"的?(练习|训练|drills?|practice|陪练)|布置|安排", re.IGNORECASE)


def drill_named(ctx: ToolContext, phrase: str) -> Drill | None:
    """The catalogue drill a phrase names ("痛点后停顿", "why ladder", "开放式提问的drill"): the one
    whose code and titles hold at least 60 % of the phrase's words (Chinese: character
    bigrams; fillers such as 的练习 / drill removed), clearly ahead of the next; None otherwise."""
    want = _words(DRILL_FILLER.sub(" ", phrase or ""))
    if not want:
        return None
    scored = []
    for d in ctx.session.scalars(select(Drill).order_by(Drill.id)):
        have = _words(" ".join([d.code.replace("-", " "), d.title_zh, d.title_en]))
        scored.append((len(want & have) / len(want), d))
    scored.sort(key=lambda x: -x[0])
    if not scored or scored[0][0] < 0.6 or (len(scored) > 1 and scored[1][0] >= scored[0][0]):
        return None
    return scored[0][1]


def _words(text: str) -> set[str]:
    """Latin words and Chinese character bigrams (a lone Chinese character — "五" of 下周五 — is no word)."""
    low = text.lower()
    latin = set(re.findall(r"[a-z]{2,}", low)) - {"the", "a", "an", "to", "for", "of"}
    bigrams = {run[i:i + 2] for run in re.findall(r"[\u4e00-\u9fff]+", low) for i in range(len(run) - 1)}
    return latin | bigrams


def assign_drill(*, ctx: ToolContext, drill_code: str, rep_login: str, due: date | None = None, times: int = 1) -> AssignResult:
    """Assign a drill to a rep (trainer or admin: any rep; manager: their team's). Assigning the
    same drill with the same due date again returns the open assignment. The caller commits."""
    if not may_assign_drills(ctx.user):
        raise PermissionDenied(ctx.t("只有培训师和经理可以布置练习;你可以用 `repcopilot drills list` 查看自己的练习。",
                                     "Only trainers and managers assign drills; see yours with `repcopilot drills list`."))
    rep = visible_rep(ctx, rep_login)
    drill = ctx.session.scalar(select(Drill).where(Drill.code == drill_code))
    if drill is None:
        codes = ", ".join(ctx.session.scalars(select(Drill.code).order_by(Drill.id)))
        raise NotFoundError(ctx.t(f"没有代码为 {drill_code!r} 的练习;可选:{codes}",
                                  f"no drill with code {drill_code!r}; choose from {codes}"))
    if not 1 <= times <= 20:
        raise UserInputError(ctx.t("--times 取 1 到 20 之间的整数。", "--times takes a whole number from 1 to 20."))
    now = ctx.now()
    due = due or week_of(now.date())[1]
    if due < now.date():
        raise UserInputError(ctx.t(f"截止日期 {due} 已经过去;请给一个今天({now.date()})或以后的日期。",
                                   f"the due date {due} is in the past; give today ({now.date()}) or later."))
    existing = ctx.session.scalar(select(DrillAssignment).where(
        DrillAssignment.user_id == rep.id, DrillAssignment.drill_id == drill.id, DrillAssignment.due_date == due,
        DrillAssignment.completed_at.is_(None)))
    title = ctx.t(drill.title_zh, drill.title_en)
    if existing is not None:
        view = _assignment_view(ctx, existing, drill, rep,
                                ctx.session.get(User, existing.assigned_by_id) if existing.assigned_by_id else None)
        return AssignResult(view, False, ctx.t(f"{rep.login} 已有截止 {due} 的「{title}」练习(编号 {existing.id}),未重复布置。",
                                               f"{rep.login} already has “{title}” due {due} (assignment {existing.id}); nothing added."))
    a = DrillAssignment(drill_id=drill.id, user_id=rep.id, assigned_by_id=ctx.user.id, assigned_at=now, due_date=due,
                        repetitions=times, completed_at=None, baseline=None)
    ctx.session.add(a)
    ctx.session.flush()
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="drill.assign", target=f"drill_assignment:{a.id}",
                             detail={"drill": drill.code, "rep_id": rep.id, "due_date": due.isoformat(), "times": times}))
    ctx.session.flush()
    return AssignResult(_assignment_view(ctx, a, drill, rep, ctx.user), True,
                        ctx.t(f"已给 {rep.login} 布置「{title}」× {times},截止 {due}(编号 {a.id})。",
                              f"Assigned “{title}” × {times} to {rep.login}, due {due} (assignment {a.id})."))


def complete_assignment(*, ctx: ToolContext, assignment_id: int) -> AssignResult:
    """Mark an assignment done (the rep, their manager, a trainer or an admin) and store the rep's
    baseline for the drill's dimension. Completing again changes nothing. The caller commits."""
    a = ctx.session.get(DrillAssignment, assignment_id)
    if a is None:
        raise NotFoundError(ctx.t(f"没有编号为 {assignment_id} 的练习任务;用 `repcopilot drills list` 查看编号。",
                                  f"there is no drill assignment {assignment_id}; see the ids with `repcopilot drills list`."))
    rep = ctx.session.get(User, a.user_id)
    drill = ctx.session.get(Drill, a.drill_id)
    if ctx.user.id != rep.id:
        try:
            visible_rep(ctx, rep.login)
        except PermissionDenied:
            raise PermissionDenied(ctx.t(f"练习任务 {assignment_id} 不是你的;只有本人、其经理或培训师可以标记完成。",
                                         f"drill assignment {assignment_id} is not yours; only the rep, their manager or a trainer may "
                                         "complete it.")) from None
    title = ctx.t(drill.title_zh, drill.title_en)
    by = ctx.session.get(User, a.assigned_by_id) if a.assigned_by_id else None
    if a.completed_at is not None:
        return AssignResult(_assignment_view(ctx, a, drill, rep, by), False,
                            ctx.t(f"练习任务 {assignment_id}「{title}」已于 {a.completed_at:%Y-%m-%d} 完成,无需重复。",
                                  f"drill assignment {assignment_id} (“{title}”) was already completed on {a.completed_at:%Y-%m-%d}; "
                                  "nothing changed."))
    now = ctx.now()
    a.baseline = baseline_for(ctx, rep, drill.dimension, now)
    a.completed_at = now
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="drill.complete", target=f"drill_assignment:{a.id}",
                             detail={"drill": drill.code, "rep_id": rep.id, "on_behalf_of_rep": ctx.user.id != rep.id}))
    ctx.session.flush()
    return AssignResult(_assignment_view(ctx, a, drill, rep, by), True,
                        ctx.t(f"练习任务 {assignment_id}「{title}」已完成;已记录基线,之后的通话会与之对比。",
                              f"Drill assignment {assignment_id} (“{title}”) completed; "
                              "baseline stored — later calls are compared with it."))


def baseline_for(ctx: ToolContext, rep: User, dimension: str, now: datetime) -> dict[str, Any]:
    """The rep's dimension score and metric means over every call up to ``now``."""
    if dimension not in DIMENSIONS:
        return {"dimension": dimension, "measured": False, "at": now.isoformat(sep=" ", timespec="seconds"),
                "note": f"{dimension} is not measured from calls"}
    ensure_profiles(ctx.session, now=now)
    profile = ctx.session.scalar(select(CapabilityProfile).where(CapabilityProfile.user_id == rep.id))
    calls = load_calls(ctx.session, [rep.id], until=now).get(rep.id, [])
    return {"dimension": dimension, "measured": True, "at": now.isoformat(sep=" ", timespec="seconds"),
            "label": dimension_label(ctx, dimension),
            "score": profile.dimensions[dimension]["score"] if profile else None,
            "inputs": metric_means(calls, dimension)}


# -- practice scenarios and exemplar moments ----------------------------------------------------
def _scenario_doc(path: Path) -> dict[str, Any] | None:
    """A scenario file's contents, or None when it is unreadable or not a mapping (a broken
    scenario file is the practice tool's to report, not the drill list's)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


def find_scenario(folder: Path, scenario_code: str | None, drill_code: str) -> tuple[str, dict[str, Any]] | None:
    """``(code, doc)`` of the scenario file whose code is ``scenario_code``; without one, the
    first (by file name) that names ``drill_code`` in ``drills``."""
    found: tuple[str, dict[str, Any]] | None = None
    for path in sorted(folder.glob("*.y*ml")):
        doc = _scenario_doc(path)
        if doc is None:
            continue
        code = str(doc.get("code") or path.stem)
        drills = doc.get("drills") or ([doc["drill"]] if doc.get("drill") else [])
        if scenario_code and code == scenario_code:
            return code, doc
        if found is None and not scenario_code and drill_code in drills:
            found = (code, doc)
    return found


def _scenario_link(code: str, doc: dict[str, Any], rep_login: str) -> dict[str, Any]:
    title = doc.get("title") if isinstance(doc.get("title"), dict) else {}
    return {"code": code, "title_zh": title.get("zh") or doc.get("title_zh") or code,
            "title_en": title.get("en") or doc.get("title_en") or code,
            "command": f"repcopilot practice start {code} --as {rep_login}"}


def practice_scenario(scenario_code: str | None, drill_code: str, rep_login: str, *,
                      folder: Path | None = None) -> dict[str, Any] | None:
    """The practice scenario a drill links to, with the command that starts it — only when its
    file exists in ``prompts/scenarios/``: ``CODE.yaml`` (or a file whose ``code`` is CODE) for
    the drill's ``scenario_code``, else a scenario that names the drill in ``drills``. None when
    there is no such file (the practice work may not have shipped it yet)."""
    folder = SCENARIOS_DIR if folder is None else folder
    if not folder.is_dir():
        return None
    found = find_scenario(folder, scenario_code, drill_code)
    return _scenario_link(*found, rep_login) if found else None


POLICY = re.compile(r"集采|政策|国产替代|招标|投标|policy|tender|regulat|procurement rule", re.I)
Pair = tuple[Any, Any]  # (customer turn, the rep's reply)


def _pause(p: Pair) -> float:
    return p[1].start_s - p[0].end_s


@dataclass
class _Exchanges:
    """A call's customer → rep exchanges, and those after a pain point or an objection."""
    pairs: list[Pair]
    pains: list[Pair]
    objections: list[Pair]
    language: str
    strict: bool


def _longest_pause_question(x: _Exchanges) -> Pair | None:
    return max((p for p in x.pains if is_question(p[1].text, x.language)), key=_pause, default=None)


def _why_after_pain(x: _Exchanges) -> Pair | None:
    return next((p for p in x.pains if is_why_question(p[1].text, x.language)), None) or \
        next((p for p in x.pairs if is_why_question(p[1].text, x.language)), None)


def _open_question(x: _Exchanges) -> Pair | None:
    return next((p for p in x.pairs if is_open_question(p[1].text, x.language)), None)


def _calm_reply(x: _Exchanges) -> Pair | None:
    calm = [p for p in (x.objections if x.strict else x.objections or x.pairs) if _pause(p) >= 0.5]
    return max(calm, key=_pause, default=None)


def _short_pitch(x: _Exchanges) -> Pair | None:
    pitches = [p for p in x.pains if not is_question(p[1].text, x.language)] if x.strict else x.pains
    return min(pitches, key=lambda p: (p[1].end_s - p[1].start_s, p[0].start_s), default=None)


def _policy_answered(x: _Exchanges) -> Pair | None:
    return next((p for p in x.pairs if POLICY.search(p[0].text) or POLICY.search(p[1].text)), None)


EXEMPLAR_EXCHANGES = {
    "pain_point_pause_s": _longest_pause_question,
    "why_question_share": _why_after_pain,
    "question_rate_per_10min": _open_question,
    "patience_s": _calm_reply,
    "interruptions": _calm_reply,
    "longest_monologue_s": _short_pitch,
    "talk_ratio": _short_pitch,
    None: _policy_answered,
}


def exemplar_moment(turns: list[Any], metric: str | None, language: str, *, strict: bool = True) -> dict[str, Any] | None:
    """Inside an exemplar call, the exchange that shows what a drill trains: the longest pause
    after a pain point (pain-pause), a "why" after a pain point (why-ladder), an open question, a
    calm reply to an objection (patience / no interruption), a short pitch tied to the pain just
    heard, a policy question answered (tender-policy). ``strict`` asks for the exact situation (an
    objection for the objection drills, a pitch after a pain point for solution fit); without it a
    nearby one will do."""
    choose = EXEMPLAR_EXCHANGES.get(metric)
    if choose is None:
        return None
    pairs = [(a, b) for a, b in pairwise(turns) if a.speaker == "customer" and b.speaker == "rep"]
    exchanges = _Exchanges(pairs, [p for p in pairs if is_pain_point(p[0].text, language)],
                           [p for p in pairs if is_objection(p[0].text, language)], language, strict)
    chosen = choose(exchanges)
    if chosen is None:
        return None
    a, b = chosen
    return {"start_s": a.start_s, "end_s": b.end_s, "pause_s": round(_pause(chosen), 2), "customer": a.text, "rep": b.text}


def exemplar_for(ctx: ToolContext, drill_code: str) -> dict[str, Any] | None:
    """The exemplar recording excerpt for a drill: among the calls marked exemplar (top reps'),
    in the user's language when there is one, the call best on the drill's metric that holds an
    exchange showing it; ``{call_id, rep, date, time, text, …}`` or None."""
    metric = load_scenarios()[2].get(drill_code)
    spec = _spec(metric)
    calls = list(ctx.session.execute(select(Call.id, Call.language, Call.started_at, User.name, User.name_en)
                                     .join(User, User.id == Call.rep_id).where(Call.is_exemplar.is_(True))))
    if not calls:
        return None
    values: dict[int, float] = {}
    if metric:
        values = {cid: v for cid, v in ctx.session.execute(select(CallMetric.call_id, CallMetric.value).where(
            CallMetric.name == metric, CallMetric.call_id.in_([c.id for c in calls]))) if v is not None}
    better = (lambda v: -v) if (spec is None or spec.higher_is_better) else (lambda v: v)

    def order(c) -> tuple:
        v = values.get(c.id)
        return (c.language != ctx.language, v is None, better(v) if v is not None else 0.0, c.id)

    ranked = sorted(calls, key=order)[:12]
    turns_of = {c.id: list(ctx.session.scalars(select(CallTurn).where(CallTurn.call_id == c.id).order_by(CallTurn.idx)))
                for c in ranked}
    for strict, c in [(True, c) for c in ranked] + [(False, c) for c in ranked]:
        m = exemplar_moment(turns_of[c.id], metric, c.language, strict=strict)
        if m is None:
            continue
        return {"call_id": c.id, "rep": c.name if ctx.language == "zh" else c.name_en, "date": c.started_at.date().isoformat(),
                "time": f"{call_clock(m['start_s'])}–{call_clock(m['end_s'])}", "metric": metric,
                "value": None if c.id not in values else round(values[c.id], 3), "text": moment_text(m, ctx.language)}
    return None
