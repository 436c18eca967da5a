"""Rep capability profiles: dimension scores from call metrics and deals, outcomes, gaps with
the calls that show them, and fit for a selling scenario (weights in ``tools/scenarios.yaml``).

Dimensions and what they rest on (every input is the rep's mean over their calls, or a share
over their opportunities):

- **needs discovery** — why-question share, pain-point pause, question rate, customer talk
  share (1 − talk ratio), longest customer story; all higher = better.
- **solution matching** — longest monologue and talk ratio (lower = better: the pitch is tied
  to what the customer said, not a lecture), and the won share of closed opportunities that
  reached *proposal*.
- **objection handling** — patience (pause before answering, higher = better), interruptions
  (lower = better) and late-stage progression: of the moves out of *proposal* or *negotiation*
  (where price and budget objections come up), the share that went forward rather than to
  *closed_lost*.

Scoring: each input is a percentile rank (0–100, ties count half) among all reps who have at
least ``MIN_CALLS`` calls with metrics, turned so that higher is always better; a dimension's
score is the mean of its available input ranks. It is shown next to the team's mean and the
top-quartile line (75th percentile of all reps' scores). Fewer than ``MIN_CALLS`` calls → no
score, and the profile says so.

Profiles are stored in ``capability_profiles`` (one row per rep, upserted) and recomputed
whenever the data they rest on changed (calls, call metrics, opportunities, stage changes,
team membership, the day): ``ensure_profiles`` compares a fingerprint kept in ``meta``.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConfigError, NotFoundError, PermissionDenied, UserInputError
from crm.db import get_meta, set_meta
from crm.models import Call, CallMetric, CallTurn, CapabilityProfile, Opportunity, StageChange, User
from crm.roles import Role
from speech.text import is_pain_point, is_question, is_why_question
from tools.context import ToolContext

MIN_CALLS = 3
NEW_HIRE_DAYS = 365
TOP_QUARTILE = 0.75
EVIDENCE_CALLS = 3
FINGERPRINT_KEY = "capability_profiles_source"
SCENARIOS_PATH = Path(__file__).with_name("scenarios.yaml")


@dataclass(frozen=True)
class InputSpec:
    """One input of a dimension: a call metric (mean over calls) or a deal share."""

    name: str
    label_zh: str
    label_en: str
    higher_is_better: bool
    metric: str | None = None  # the call metric it is read from; None → a deal share
    one_minus: bool = False  # the input is 1 − metric (customer talk share from talk ratio)


DIMENSIONS: dict[str, tuple[InputSpec, ...]] = {
    "needs_discovery": (
        InputSpec("why_question_share", "“为什么”提问占比", "why-question share", True, "why_question_share"),
        InputSpec("pain_point_pause_s", "痛点后停顿(秒)", "pain-point pause (s)", True, "pain_point_pause_s"),
        InputSpec("question_rate_per_10min", "每10分钟提问数", "questions per 10 min", True, "question_rate_per_10min"),
        InputSpec("customer_talk_share", "客户说话占比", "customer talk share", True, "talk_ratio", one_minus=True),
        InputSpec("longest_customer_story_s", "客户最长陈述(秒)", "longest customer story (s)", True, "longest_customer_story_s"),
    ),
    "solution_matching": (
        InputSpec("longest_monologue_s", "最长独白(秒)", "longest monologue (s)", False, "longest_monologue_s"),
        InputSpec("talk_ratio", "销售说话占比", "talk ratio", False, "talk_ratio"),
        InputSpec("proposal_win_share", "进入方案报价后赢单占比", "won share after proposal", True),
    ),
    "objection_handling": (
        InputSpec("patience_s", "耐心停顿(秒)", "patience (s)", True, "patience_s"),
        InputSpec("interruptions", "打断次数", "interruptions", False, "interruptions"),
        InputSpec("late_stage_progression", "报价/谈判阶段推进占比", "late-stage progression", True),
    ),
}
CALL_METRICS = sorted({s.metric for specs in DIMENSIONS.values() for s in specs if s.metric})


# -- pure scoring ------------------------------------------------------------------------------
def percentile_rank(value: float, population: Iterable[float]) -> float:
    """Share of the population below ``value`` (ties count half), 0–100."""
    pop = list(population)
    if not pop:
        raise ValueError("percentile_rank of an empty population")
    below = sum(1 for p in pop if p < value)
    equal = sum(1 for p in pop if p == value)
    return 100.0 * (below + 0.5 * equal) / len(pop)


def quantile(values: Iterable[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default): q=0.75 of [1, 2, 3, 4, 5] is 4."""
    xs = sorted(values)
    if not xs:
        raise ValueError("quantile of no values")
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class CallRow:
    call_id: int
    started_at: datetime
    metrics: dict[str, float | None]


@dataclass
class DealStats:
    """What the deal inputs and outcomes rest on, for one rep."""

    proposal_closed: int = 0  # closed opportunities that had reached proposal
    proposal_won: int = 0
    late_moves: int = 0  # transitions out of proposal or negotiation
    late_forward: int = 0  # … that did not go to closed_lost

    def value(self, name: str) -> float | None:
        if name == "proposal_win_share":
            return self.proposal_won / self.proposal_closed if self.proposal_closed else None
        if name == "late_stage_progression":
            return self.late_forward / self.late_moves if self.late_moves else None
        raise KeyError(name)

    def count(self, name: str) -> int:
        return self.proposal_closed if name == "proposal_win_share" else self.late_moves


def input_value(spec: InputSpec, calls: list[CallRow], deals: DealStats) -> tuple[float | None, int]:
    """The rep's value of one input and how many calls (or opportunities / stage moves) it rests on."""
    if spec.metric is None:
        return deals.value(spec.name), deals.count(spec.name)
    values = [c.metrics[spec.metric] for c in calls if c.metrics.get(spec.metric) is not None]
    if not values:
        return None, 0
    mean = statistics.fmean(values)
    return (1.0 - mean if spec.one_minus else mean), len(values)


def call_value(spec: InputSpec, call: CallRow) -> float | None:
    v = call.metrics.get(spec.metric) if spec.metric else None
    if v is None:
        return None
    return 1.0 - v if spec.one_minus else v


def dimension_calls(dimension: str, calls: list[CallRow]) -> int:
    """Calls with at least one of the dimension's call metrics."""
    names = [s.metric for s in DIMENSIONS[dimension] if s.metric]
    return sum(1 for c in calls if any(c.metrics.get(n) is not None for n in names))


InputLines = dict[str, tuple[dict[int | None, float], float]]  # input → (mean per team, top-quartile line)


def rank_inputs(specs: list[InputSpec], values: Mapping[int, Mapping[str, tuple[float | None, int]]], eligible: list[int],
                teams: Mapping[int, int | None]) -> tuple[dict[int, dict[str, float]], InputLines]:
    """Among the eligible reps, each input's percentile rank per rep (higher is better after
    the sign flip) and the input's team means and top-quartile line."""
    ranks: dict[int, dict[str, float]] = {rep: {} for rep in teams}
    lines: InputLines = {}
    for s in specs:
        pop = {rep: values[rep][s.name][0] for rep in eligible if values[rep][s.name][0] is not None}
        if not pop:
            continue
        signed = {rep: v if s.higher_is_better else -v for rep, v in pop.items()}
        for rep, v in signed.items():
            ranks[rep][s.name] = percentile_rank(v, signed.values())
        by_team: dict[int | None, list[float]] = defaultdict(list)
        for rep, v in pop.items():
            by_team[teams[rep]].append(v)
        top = quantile(pop.values(), TOP_QUARTILE if s.higher_is_better else 1 - TOP_QUARTILE)
        lines[s.name] = ({t: statistics.fmean(vs) for t, vs in by_team.items()}, top)
    return ranks, lines


def _rep_inputs(specs: list[InputSpec], values: Mapping[str, tuple[float | None, int]], ranks: Mapping[str, float],
                lines: InputLines, team: int | None) -> dict[str, dict[str, Any]]:
    inputs = {}
    for s in specs:
        v, n = values[s.name]
        team_avg, top = lines.get(s.name, ({}, None))
        inputs[s.name] = {
            "value": _r(v), "n": n, "rank": _r(ranks.get(s.name), 1),
            "team_avg": _r(team_avg.get(team)), "top_quartile": _r(top),
            "higher_is_better": s.higher_is_better, "source": "calls" if s.metric else "opportunities",
        }
    return inputs


def _diff(a: float | None, b: float | None) -> float | None:
    return _r(a - b, 1) if a is not None and b is not None else None


def dimension_entry(score: float | None, n_calls: int, min_calls: int, team_avg_score: float | None,
                    top_line: float | None, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One rep's entry for one dimension (see score_reps)."""
    return {
        "score": _r(score, 1),
        "status": "ok" if score is not None else ("too_few_calls" if n_calls < min_calls else "no_data"),
        "calls_used": n_calls,
        "min_calls": min_calls,
        "team_avg": _r(team_avg_score, 1),
        "top_quartile": _r(top_line, 1),
        "vs_team": _diff(score, team_avg_score),
        "vs_top_quartile": _diff(score, top_line),
        "inputs": inputs,
    }


def _team_means(scores: Mapping[int, float], teams: Mapping[int, int | None]) -> dict[int | None, float]:
    team_scores: dict[int | None, list[float]] = defaultdict(list)
    for rep, sc in scores.items():
        team_scores[teams[rep]].append(sc)
    return {team: statistics.fmean(v) for team, v in team_scores.items() if v}


def score_reps(calls: Mapping[int, list[CallRow]], deals: Mapping[int, DealStats], teams: Mapping[int, int | None],
               *, min_calls: int = MIN_CALLS) -> dict[int, dict[str, dict[str, Any]]]:
    """``{rep_id: {dimension: {...}}}`` for every rep in ``teams``. Pure: hand-made rows in,
    exact scores out. A dimension entry holds ``score`` (None with ``status`` "too_few_calls"),
    ``calls_used``, ``team_avg``, ``top_quartile``, ``vs_team``, ``vs_top_quartile`` and
    ``inputs`` (value, n, rank, team_avg, top_quartile per input)."""
    out: dict[int, dict[str, dict[str, Any]]] = {rep: {} for rep in teams}
    for dim, specs in DIMENSIONS.items():
        n_calls = {rep: dimension_calls(dim, calls.get(rep, [])) for rep in teams}
        eligible = [rep for rep in teams if n_calls[rep] >= min_calls]
        values = {rep: {s.name: input_value(s, calls.get(rep, []), deals.get(rep, DealStats())) for s in specs} for rep in teams}
        ranks, lines = rank_inputs(specs, values, eligible, teams)
        scores = {rep: statistics.fmean(ranks[rep].values()) for rep in eligible if ranks[rep]}
        team_means = _team_means(scores, teams)
        top_line = quantile(scores.values(), TOP_QUARTILE) if scores else None
        for rep in teams:
            inputs = _rep_inputs(specs, values[rep], ranks[rep], lines, teams[rep])
            out[rep][dim] = dimension_entry(scores.get(rep), n_calls[rep], min_calls, team_means.get(teams[rep]), top_line, inputs)
    return out


def deal_stats(owner_moves: Iterable[tuple[int, int, str | None, str]]) -> dict[int, DealStats]:
    """From stage changes ``(owner_id, opportunity_id, from_stage, to_stage)``."""
    stats: dict[int, DealStats] = defaultdict(DealStats)
    reached: dict[int, set[str]] = defaultdict(set)
    owner_of: dict[int, int] = {}
    for owner, opp, src, dst in owner_moves:
        owner_of[opp] = owner
        reached[opp].add(dst)
        entry = stats[owner]  # every owner with a stage move gets an entry, even with no late moves
        if src in ("proposal", "negotiation"):
            entry.late_moves += 1
            entry.late_forward += dst != "closed_lost"
    for opp, stages in reached.items():
        if "proposal" in stages and stages & {"closed_won", "closed_lost"}:
            stats[owner_of[opp]].proposal_closed += 1
            stats[owner_of[opp]].proposal_won += "closed_won" in stages
    return dict(stats)


@dataclass
class OppRow:
    won: bool | None
    amount_cny: int
    created_at: datetime
    close_date: date | None
    payment_date: date | None


def _mean_or_none(values: list[float], nd: int) -> float | None:
    return _r(statistics.fmean(values), nd) if values else None


def deal_cycles(won: list[OppRow]) -> dict[str, Any]:
    """Average won deal size, creation-to-close days and close-to-payment days of won deals."""
    paid = [o for o in won if o.payment_date and o.close_date]
    return {
        "avg_deal_size_cny": round(statistics.fmean(o.amount_cny for o in won)) if won else None,
        "cycle_length_days": (_r(statistics.fmean((o.close_date - o.created_at.date()).days for o in won if o.close_date), 1)
                              if won else None),
        "payment_cycle_days": _mean_or_none([(o.payment_date - o.close_date).days for o in paid], 1),
        "payments_recorded": len(paid),
    }


def first_deal_days(won: list[OppRow], *, hire_date: date, new_hire: bool) -> int | None:
    """For a new hire, days from hiring to the first won deal closed since (None otherwise)."""
    first_won = min((o.close_date for o in won if o.close_date and o.close_date >= hire_date), default=None)
    return (first_won - hire_date).days if new_hire and first_won else None


def outcomes_for(opps: list[OppRow], *, hire_date: date, as_of: date) -> dict[str, Any]:
    """Win rate, average won deal size, cycle length, payment cycle, first-deal days for new hires."""
    closed = [o for o in opps if o.won is not None]
    won = [o for o in closed if o.won]
    new_hire = (as_of - hire_date).days <= NEW_HIRE_DAYS
    return {
        "opportunities": len(opps),
        "closed": len(closed),
        "won": len(won),
        "win_rate": _r(len(won) / len(closed)) if closed else None,
        **deal_cycles(won),
        "new_hire": new_hire,
        "hire_date": hire_date.isoformat(),
        "first_deal_days": first_deal_days(won, hire_date=hire_date, new_hire=new_hire),
    }


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


# -- scenarios ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    code: str
    label_zh: str
    label_en: str
    weights: dict[str, float]
    mapping_zh: str | None = None
    mapping_en: str | None = None


@lru_cache(maxsize=4)
def load_scenarios(path: Path = SCENARIOS_PATH) -> tuple[dict[str, dict[str, str]], dict[str, Scenario], dict[str, str]]:
    """(dimension labels, scenarios, drill → metric) from the YAML; refuses unknown dimensions
    and weights that do not sum to 1."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the scenario weights {path}: {exc}") from None
    labels = cfg.get("dimensions") or {}
    if set(labels) != set(DIMENSIONS):
        raise ConfigError(f"{path}: 'dimensions' must list exactly {', '.join(DIMENSIONS)}")
    scenarios = {}
    for code, s in (cfg.get("scenarios") or {}).items():
        weights = {k: float(v) for k, v in (s.get("weights") or {}).items()}
        unknown = set(weights) - set(DIMENSIONS)
        if unknown or not weights or abs(sum(weights.values()) - 1.0) > 1e-6:
            raise ConfigError(f"{path}: scenario {code!r} needs weights over {', '.join(DIMENSIONS)} summing to 1 "
                              f"(got {weights})")
        scenarios[code] = Scenario(code, s["label_zh"], s["label_en"], weights, s.get("mapping_zh"), s.get("mapping_en"))
    return labels, scenarios, dict(cfg.get("drill_metrics") or {})


def scenario_fit(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Weighted mean of the dimension scores; None when a weighted dimension has no score."""
    if any(scores.get(d) is None for d, w in weights.items() if w > 0):
        return None
    return round(sum(w * scores[d] for d, w in weights.items()) / sum(weights.values()), 1)


# -- gaps ---------------------------------------------------------------------------------------
def gaps_for(dimensions: Mapping[str, Mapping[str, Any]], calls: list[CallRow], *,
             limit_calls: int = EVIDENCE_CALLS) -> list[dict[str, Any]]:
    """Dimensions where the rep scores below the top quartile, furthest first, each with the calls
    whose metric is worse than the top-quartile value (worst relative shortfall first)."""
    gaps = []
    for dim, d in dimensions.items():
        if d.get("score") is None or d.get("top_quartile") is None or d["score"] >= d["top_quartile"]:
            continue
        evidence = []
        for spec in DIMENSIONS[dim]:
            top = d["inputs"][spec.name]["top_quartile"]
            if spec.metric is None or top is None:
                continue
            for c in calls:
                v = call_value(spec, c)
                if v is None:
                    continue
                short = (top - v) if spec.higher_is_better else (v - top)
                if short > 0:
                    evidence.append((short / max(abs(top), 1e-9), c, spec, v, top))
        evidence.sort(key=lambda e: (-e[0], e[1].call_id))
        gaps.append({
            "dimension": dim, "score": d["score"], "top_quartile": d["top_quartile"],
            "gap": round(d["top_quartile"] - d["score"], 1),
            "calls": [{"call_id": c.call_id, "date": c.started_at.date().isoformat(), "metric": spec.name,
                       "value": _r(v), "top_quartile": top} for _, c, spec, v, top in evidence[:limit_calls]],
        })
    gaps.sort(key=lambda g: (-g["gap"], g["dimension"]))
    return gaps


# -- loading and storing -------------------------------------------------------------------------
def load_calls(session: Session, rep_ids: Iterable[int] | None = None, *, since: datetime | None = None,
               until: datetime | None = None) -> dict[int, list[CallRow]]:
    """``{rep_id: [CallRow]}`` with the metrics the profile uses, oldest call first."""
    stmt = (select(Call.id, Call.rep_id, Call.started_at, CallMetric.name, CallMetric.value)
            .join(CallMetric, CallMetric.call_id == Call.id).where(CallMetric.name.in_(CALL_METRICS)))
    if rep_ids is not None:
        stmt = stmt.where(Call.rep_id.in_(list(rep_ids)))
    if since is not None:
        stmt = stmt.where(Call.started_at > since)
    if until is not None:
        stmt = stmt.where(Call.started_at <= until)
    rows: dict[int, CallRow] = {}
    owner: dict[int, int] = {}
    for cid, rep, started, name, value in session.execute(stmt):
        row = rows.get(cid)
        if row is None:
            row = rows[cid] = CallRow(cid, started, {})
            owner[cid] = rep
        row.metrics[name] = value
    out: dict[int, list[CallRow]] = defaultdict(list)
    for cid, row in sorted(rows.items(), key=lambda kv: (kv[1].started_at, kv[0])):
        out[owner[cid]].append(row)
    return dict(out)


def source_fingerprint(session: Session, as_of: date) -> str:
    """Changes whenever anything a profile rests on changes — including an edit in place that
    keeps the row counts (a call moved to another rep, a metric recomputed to another value, an
    opportunity's outcome, amount or dates changed): counts alone would miss those."""
    metric_sums = [(name, n, round(float(total or 0.0), 6), ids) for name, n, total, ids in session.execute(
        select(CallMetric.name, func.count(CallMetric.value), func.sum(CallMetric.value), func.sum(CallMetric.call_id))
        .where(CallMetric.name.in_(CALL_METRICS)).group_by(CallMetric.name).order_by(CallMetric.name))]
    parts = [
        session.execute(select(func.count(), func.max(Call.id), func.sum(Call.rep_id), func.sum(Call.id * Call.rep_id))).one(),
        session.execute(select(func.count(), func.max(CallMetric.id))).one(),
        metric_sums,
        sorted(tuple(r) for r in session.execute(select(StageChange.to_stage, func.count(), func.max(StageChange.id),
                                                        func.sum(StageChange.opportunity_id)).group_by(StageChange.to_stage))),
        hashlib.sha256(repr([tuple(r) for r in session.execute(
            select(Opportunity.id, Opportunity.owner_id, Opportunity.won, Opportunity.amount_cny, Opportunity.created_at,
                   Opportunity.close_date, Opportunity.payment_date).order_by(Opportunity.id))]).encode()).hexdigest(),
        sorted(tuple(r) for r in session.execute(select(User.id, User.role, User.team_id, User.hire_date))),
        as_of,
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def mark_profiles_stale(session: Session) -> None:
    """Forget the fingerprint, so the next read recomputes the profiles whatever changed. Writers
    of calls and call metrics (``tools/calls.py``) call it in their transaction."""
    set_meta(session, FINGERPRINT_KEY, "stale")


@dataclass
class RecomputeReport:
    reps: int
    calls_used: int
    inserted: int
    updated: int


def recompute_profiles(session: Session, *, now: datetime) -> RecomputeReport:
    """Recompute every rep's profile and upsert it (one row per rep). The caller commits."""
    reps = list(session.execute(select(User.id, User.team_id, User.hire_date).where(User.role == Role.REP)))
    teams = {r.id: r.team_id for r in reps}
    calls = load_calls(session)
    moves = session.execute(select(Opportunity.owner_id, StageChange.opportunity_id, StageChange.from_stage, StageChange.to_stage)
                            .join(Opportunity, Opportunity.id == StageChange.opportunity_id)
                            .order_by(StageChange.opportunity_id, StageChange.changed_at, StageChange.id))
    deals = deal_stats(moves)
    opps: dict[int, list[OppRow]] = defaultdict(list)
    for o in session.execute(select(Opportunity.owner_id, Opportunity.won, Opportunity.amount_cny, Opportunity.created_at,
                                    Opportunity.close_date, Opportunity.payment_date)):
        opps[o.owner_id].append(OppRow(o.won, o.amount_cny, o.created_at, o.close_date, o.payment_date))
    scored = score_reps(calls, deals, teams)
    existing = _existing_profiles(session, list(teams))
    inserted = updated = used = 0
    for r in reps:
        n_calls = len(calls.get(r.id, []))
        used += n_calls
        outcomes = outcomes_for(opps.get(r.id, []), hire_date=r.hire_date, as_of=now.date())
        profile = existing.get(r.id)
        if profile is None:
            session.add(CapabilityProfile(user_id=r.id, computed_at=now, calls_used=n_calls, dimensions=scored[r.id], outcomes=outcomes))
            inserted += 1
        else:
            profile.computed_at, profile.calls_used, profile.dimensions, profile.outcomes = now, n_calls, scored[r.id], outcomes
            updated += 1
    set_meta(session, FINGERPRINT_KEY, source_fingerprint(session, now.date()))
    session.flush()
    return RecomputeReport(len(reps), used, inserted, updated)


def _existing_profiles(session: Session, rep_ids: list[int]) -> dict[int, CapabilityProfile]:
    return {p.user_id: p for p in session.scalars(select(CapabilityProfile).where(CapabilityProfile.user_id.in_(rep_ids)))}


def ensure_profiles(session: Session, *, now: datetime) -> bool:
    """Recompute the profiles if what they rest on changed since they were computed. True if it did.

    Call it before writing anything else in the session: when another process inserted the same
    reps' rows first (the unique ``user_id`` refuses ours), the transaction is rolled back and the
    recompute runs again as an update of their rows."""
    fingerprint = source_fingerprint(session, now.date())
    if get_meta(session, FINGERPRINT_KEY) == fingerprint:
        return False
    try:
        recompute_profiles(session, now=now)
    except IntegrityError:
        session.rollback()
        recompute_profiles(session, now=now)
    return True


# -- access and views ---------------------------------------------------------------------------
def _region_teams(ctx: ToolContext, code: str) -> list[int]:
    """The teams of the region ``code``; a manager asking for a region not theirs is refused."""
    from crm.models import Region, Team

    region = ctx.session.scalar(select(Region).where(Region.code == code))
    if region is None:
        raise NotFoundError(ctx.t(f"没有区域 {code!r}。", f"no region {code!r}."))
    if ctx.user.role == Role.MANAGER and region.id not in ctx.scope.region_ids:
        raise PermissionDenied(ctx.t(f"{region.name_zh}不是你的区域;经理只能查看本团队销售的能力画像、短板和练习,"
                                     "其他区域请问该区域经理或管理员。",
                                     f"{region.name_en} is not your region; a manager sees the profiles, gaps and drills of their own "
                                     "team's reps — ask that region's manager or an admin."))
    return list(ctx.session.scalars(select(Team.id).where(Team.region_id == region.id)))

def user_by_login(ctx: ToolContext, login: str) -> User:
    """The user with this login, or a NotFoundError that says how to list them."""
    user = ctx.session.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFoundError(ctx.t(f"没有登录名为 {login!r} 的用户(用 `repcopilot demo users` 查看)。",
                                  f"no user with login {login!r} (list them with `repcopilot demo users`)."))
    return user


def visible_rep(ctx: ToolContext, login: str | None) -> User:
    """The rep whose profile/drills the asker may see: a rep only themself; a manager their team's
    reps; a trainer or admin any rep."""
    me = ctx.user
    if login is None or login == me.login:
        if me.role != Role.REP:
            raise NotFoundError(ctx.t(f"{me.login} 不是销售代表,没有能力画像;请用 --rep 指定要查看的销售。",
                                      f"{me.login} is not a rep and has no profile; name the rep with --rep LOGIN."))
        return me
    rep = user_by_login(ctx, login)
    if rep.role != Role.REP:
        raise NotFoundError(ctx.t(f"{login} 不是销售代表,没有能力画像。", f"{login} is not a rep and has no capability profile."))
    if me.role in (Role.TRAINER, Role.ADMIN):
        return rep
    if me.role == Role.MANAGER and rep.id in ctx.scope.owner_ids:
        return rep
    zh, en = f"{rep.name}({login})", f"{rep.name_en} ({login})"
    if me.role == Role.MANAGER:
        raise PermissionDenied(ctx.t(f"{zh} 不在你的团队;经理只能查看本团队销售的画像、练习和通话。",
                                     f"{en} is not on your team; a manager sees the profiles, drills and calls "
                                     "of their own team's reps only."))
    raise PermissionDenied(ctx.t(f"{zh} 的画像、练习和通话不是你的;销售只能查看自己的,"
                                 "可以问“我的能力短板”或“复盘我上一通电话”。",
                                 f"{en}'s profile, drills and calls are not yours to see; a rep sees only their own — "
                                 "ask \"my capability gaps\" or \"debrief my last call\"."))


def _name_keys(u: User) -> list[str]:
    """The ways a question may name a user: login, Chinese name, English name in either order."""
    keys = [u.login.lower(), u.name.lower()]
    if u.name_en:
        en = u.name_en.lower()
        keys += [en, " ".join(reversed(en.split()))]
    return [k for k in keys if k]


def _name_said(u: User, low: str):
    """Where one of the rep's names (login, zh, en either order) is said in ``low``, or None."""
    for key in _name_keys(u):
        if key:
            m = re.search(rf"(?<![a-z]){re.escape(key)}(?![a-z])" if key.isascii() else re.escape(key), low)
            if m:
                return m
    return None


def find_reps_in(session: Session, text: str) -> list[User]:
    """Reps whose login or name (zh, or en in either order: "Gang Ma" / "Ma Gang") occurs in
    ``text``; a name inside a longer one that matched is not another rep ("马刚" is not also "马"),
    but two names side by side are two reps ("林雨桐和朱艳")."""
    low = (text or "").lower()
    hits: list[tuple[int, int, User]] = []  # (start, end, rep)
    for u in session.scalars(select(User).where(User.role == Role.REP).order_by(User.id)):
        m = _name_said(u, low)
        if m:
            hits.append((m.start(), m.end(), u))
    inside = {id(h) for h in hits for o in hits
              if o is not h and o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0])}
    return [u for start, end, u in sorted((h for h in hits if id(h) not in inside), key=lambda h: h[2].id)]


def resolve_rep(ctx: ToolContext, name: str) -> User:
    """The rep a question names (login, Chinese or English name), checked against who may see them
    (``visible_rep``). Unknown names say so and point at the list of users."""
    name = (name or "").strip()
    exact = ctx.session.scalar(select(User).where(User.login == name)) if name else None
    matches = [exact] if exact is not None else find_reps_in(ctx.session, name)
    if not matches:
        raise NotFoundError(ctx.t(f"没有叫“{name}”的销售;请用姓名或登录名(`repcopilot demo users` 可查看)。",
                                  f"there is no rep called “{name}”; use their name or login (see `repcopilot demo users`)."))
    if len(matches) > 1:
        names = ", ".join(f"{u.name} ({u.login})" for u in matches)
        raise UserInputError(ctx.t(f"“{name}”对应多名销售:{names};请用登录名指明。",
                                   f"“{name}” matches several reps: {names}; name one by login."))
    return visible_rep(ctx, matches[0].login)


# -- the moments behind a gap ---------------------------------------------------------------------
def call_clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


Pair = tuple[Any, Any]  # (customer turn, the rep's reply)


def _reply_pause(p: Pair) -> tuple[float, float]:
    return (p[1].start_s - p[0].end_s, p[0].start_s)


def reply_pairs(turns: list[Any]) -> list[Pair]:
    """Each customer turn followed directly by a rep turn."""
    return [(a, b) for a, b in pairwise(turns) if a.speaker == "customer" and b.speaker == "rep"]


def _quickest_after_pain(pairs: list[Pair], metric: str, language: str) -> Pair | None:
    return min((p for p in pairs if is_pain_point(p[0].text, language)), key=_reply_pause, default=None)


def _quickest_reply(pairs: list[Pair], metric: str, language: str) -> Pair | None:
    return min(pairs, key=_reply_pause, default=None)


def _talked_over(pairs: list[Pair], metric: str, language: str) -> Pair | None:
    return min((p for p in pairs if p[1].start_s < p[0].end_s + 0.2), key=_reply_pause, default=None)


def _pain_without_question(pairs: list[Pair], metric: str, language: str) -> Pair | None:
    """The first pain point not met by a question (a "why" question for the why share)."""
    def asked(reply) -> bool:
        return is_question(reply.text, language) and (metric != "why_question_share" or is_why_question(reply.text, language))
    return next((p for p in pairs if is_pain_point(p[0].text, language) and not asked(p[1])), None)


def _shortest_pain_story(pairs: list[Pair], metric: str, language: str) -> Pair | None:
    return min((p for p in pairs if is_pain_point(p[0].text, language)),
               key=lambda p: (p[0].end_s - p[0].start_s, p[0].start_s), default=None)


GAP_EXCHANGES = {
    "pain_point_pause_s": _quickest_after_pain,
    "patience_s": _quickest_reply,
    "interruptions": _talked_over,
    "why_question_share": _pain_without_question,
    "question_rate_per_10min": _pain_without_question,
    "longest_customer_story_s": _shortest_pain_story,
}
MONOLOGUE_METRICS = ("longest_monologue_s", "talk_ratio", "customer_talk_share")


def longest_rep_turn(turns: list[Any]) -> Any | None:
    return max((t for t in turns if t.speaker == "rep"), key=lambda t: (t.end_s - t.start_s, -t.start_s), default=None)


def gap_moment(turns: list[Any], metric: str, language: str) -> dict[str, Any] | None:
    """The one exchange of a call that shows a shortfall in ``metric`` (an input name): the
    quickest reply after a pain point, a pain point met without a "why", the rep talking over the
    customer, the longest monologue … ``turns`` have ``speaker``, ``start_s``, ``end_s``, ``text``.
    Returns ``{start_s, end_s, time, customer, rep, pause_s}`` or None when no exchange shows it."""
    if metric in MONOLOGUE_METRICS:
        single = longest_rep_turn(turns)
        if single is not None:
            return {"start_s": single.start_s, "end_s": single.end_s, "time": f"{call_clock(single.start_s)}–{call_clock(single.end_s)}",
                    "customer": None, "rep": single.text, "pause_s": None}
        return None
    choose = GAP_EXCHANGES.get(metric)
    chosen = choose(reply_pairs(turns), metric, language) if choose else None
    if chosen is None:
        return None
    a, b = chosen
    return {"start_s": a.start_s, "end_s": b.end_s, "time": f"{call_clock(a.start_s)}–{call_clock(b.end_s)}",
            "customer": a.text, "rep": b.text, "pause_s": round(b.start_s - a.end_s, 2)}


def moment_text(moment: dict[str, Any], language: str) -> str:
    """"客户: … → (0.4s) 销售: …" / "customer: … → (0.4s) rep: …"."""
    zh = language == "zh"
    rep = f"{'销售' if zh else 'rep'}: {moment['rep']}"
    if moment.get("customer") is None:
        return rep
    return f"{'客户' if zh else 'customer'}: {moment['customer']} → ({moment['pause_s']:.1f}s) {rep}"


def attach_moments(session: Session, gaps: list[dict[str, Any]], language: str) -> None:
    """Add to each gap call the exchange that shows its shortfall (``moment``), reading the calls'
    turns once."""
    ids = sorted({c["call_id"] for g in gaps for c in g["calls"]})
    if not ids:
        return
    turns: dict[int, list[CallTurn]] = defaultdict(list)
    for t in session.scalars(select(CallTurn).where(CallTurn.call_id.in_(ids)).order_by(CallTurn.call_id, CallTurn.idx)):
        turns[t.call_id].append(t)
    langs = dict(session.execute(select(Call.id, Call.language).where(Call.id.in_(ids))).all())
    for g in gaps:
        for c in g["calls"]:
            m = gap_moment(turns.get(c["call_id"], []), c["metric"], langs.get(c["call_id"]) or language)
            c["moment"] = m and dict(m, text=moment_text(m, language))


@dataclass
class ProfileView:
    rep_id: int
    login: str
    name: str
    team_id: int | None
    computed_at: str
    calls_used: int
    dimensions: dict[str, Any]
    outcomes: dict[str, Any]
    gaps: list[dict[str, Any]]
    scenario_fit: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dimension_label(ctx: ToolContext, dim: str) -> str:
    labels = load_scenarios()[0]
    entry = labels.get(dim) or {}
    return ctx.t(entry.get("label_zh", dim), entry.get("label_en", dim))


def input_label(ctx: ToolContext, name: str) -> str:
    for specs in DIMENSIONS.values():
        for s in specs:
            if s.name == name:
                return ctx.t(s.label_zh, s.label_en)
    return name


def _view(ctx: ToolContext, rep: User, profile: CapabilityProfile, calls: list[CallRow]) -> ProfileView:
    _, scenarios, _ = load_scenarios()
    dims = {d: dict(v, label=dimension_label(ctx, d)) for d, v in profile.dimensions.items()}
    for d in dims.values():
        d["inputs"] = {k: dict(v, label=input_label(ctx, k)) for k, v in d["inputs"].items()}
    scores = {d: v["score"] for d, v in dims.items()}
    fits = [{"scenario": s.code, "label": ctx.t(s.label_zh, s.label_en), "fit": scenario_fit(scores, s.weights),
             "weights": s.weights, "mapping": ctx.t(s.mapping_zh, s.mapping_en) if s.mapping_zh else None}
            for s in scenarios.values()]
    fits.sort(key=lambda f: (f["fit"] is None, -(f["fit"] or 0), f["scenario"]))
    gaps = gaps_for(profile.dimensions, calls)
    for g in gaps:
        g["label"] = dimension_label(ctx, g["dimension"])
        for c in g["calls"]:
            c["label"] = input_label(ctx, c["metric"])
    notes = []
    for v in dims.values():
        if v["score"] is None:
            notes.append(ctx.t(f"{v['label']}:只有 {v['calls_used']} 通有指标的通话(至少需要 {v['min_calls']} 通),暂不评分。",
                               f"{v['label']}: only {v['calls_used']} call(s) with metrics (at least {v['min_calls']} needed) — no score "
                               "yet."))
    outcomes = dict(profile.outcomes)
    if ctx.role == Role.TRAINER:  # trainers work on how reps talk; pipeline figures are not theirs (DESIGN: access)
        outcomes = {}
        notes.append(ctx.t("培训师视图:不显示赢单率、客单价等业绩数据。",
                           "Trainer view: deal outcomes (win rate, deal size …) are not shown."))
    elif profile.outcomes.get("payments_recorded", 0) == 0:
        notes.append(ctx.t("回款周期:没有已记录回款日期的赢单。", "payment cycle: no won deal has a payment date recorded."))
    return ProfileView(rep.id, rep.login, rep.name if ctx.language == "zh" else rep.name_en, rep.team_id,
                       profile.computed_at.isoformat(sep=" ", timespec="seconds"), profile.calls_used, dims,
                       outcomes, gaps, fits, notes)


def rep_profile(*, ctx: ToolContext, rep_login: str | None = None) -> ProfileView:
    """One rep's profile (recomputed first if its data changed), with gaps and scenario fit."""
    rep = visible_rep(ctx, rep_login)
    ensure_profiles(ctx.session, now=ctx.now())
    profile = ctx.session.scalar(select(CapabilityProfile).where(CapabilityProfile.user_id == rep.id))
    view = _view(ctx, rep, profile, load_calls(ctx.session, [rep.id]).get(rep.id, []))
    attach_moments(ctx.session, view.gaps, ctx.language)  # the exchange inside each gap call that shows it
    return view


def team_overview(*, ctx: ToolContext, region: str | None = None) -> list[ProfileView]:
    """Every rep of the manager's team (a trainer or admin: every rep; with ``region``, a region
    code, that region's reps only — a manager naming another region is refused), with scores and gaps."""
    if ctx.user.role not in (Role.MANAGER, Role.TRAINER, Role.ADMIN):
        raise PermissionDenied(ctx.t("团队概览只对经理、培训师和管理员开放;你可以用 `repcopilot profile show` 查看自己的画像。",
                                     "The team overview is for managers, trainers and admins; "
                                     "see your own with `repcopilot profile show`."))
    ensure_profiles(ctx.session, now=ctx.now())
    stmt = select(User).where(User.role == Role.REP).order_by(User.team_id, User.id)
    if ctx.user.role == Role.MANAGER:
        stmt = stmt.where(User.id.in_(list(ctx.scope.owner_ids)))
    if region:
        stmt = stmt.where(User.team_id.in_(_region_teams(ctx, region)))
    reps = list(ctx.session.scalars(stmt))
    profiles = {p.user_id: p
                for p in ctx.session.scalars(select(CapabilityProfile).where(CapabilityProfile.user_id.in_([r.id for r in reps])))}
    calls = load_calls(ctx.session, [r.id for r in reps])
    return [_view(ctx, r, profiles[r.id], calls.get(r.id, [])) for r in reps if r.id in profiles]
