"""The batch's tables: eligible reps with their fits, load and wins, loaded once per batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select

from crm.models import (
    Account,
    Call,
    CapabilityProfile,
    Lead,
    Opportunity,
    Team,
    User,
)
from crm.roles import Role
from tools.capability import load_scenarios, scenario_fit
from tools.leads import (
    OPEN_STAGES,
)
from tools.routing.config import OPEN_LEAD_STATUSES, load_routing_config


@dataclass
class RepInfo:
    id: int
    login: str
    name: str
    name_en: str
    language: str
    team_id: int | None
    region_id: int | None
    scores: dict[str, float | None]  # capability dimension → score
    talk_min: float
    open_opps: int
    open_leads: int
    routed_here: int = 0  # leads this batch already gave them

    def load_raw(self, cfg: dict[str, Any]) -> float:
        lc = cfg["load"]
        return (lc["talk_weight"] * self.talk_min + lc["opps_weight"] * self.open_opps
                + lc["leads_weight"] * (self.open_leads + self.routed_here))


@dataclass
class Batch:
    reps: list[RepInfo]
    by_id: dict[int, RepInfo]
    fits: dict[str, list[float]]  # scenario → fit per rep (index as reps)
    wins_account: dict[tuple[int, int], int]  # (rep, account) → won deals
    wins_segment: dict[tuple[int, str], int]  # (rep, segment) → won deals
    team_region: dict[int, int]
    teams_of_owner: dict[int, int | None]  # account owner → team (active owners only)
    loads: list[float] = field(default_factory=list)  # RepInfo.load_raw per rep, kept current as the batch routes

    def took_lead(self, rep: RepInfo, cfg: dict[str, Any]) -> None:
        rep.routed_here += 1
        self.loads[self.reps.index(rep)] = rep.load_raw(cfg)


def available(user: User | Any, today: date) -> bool:
    """Pure: a rep can take leads today (not left, not on leave)."""
    if user.left_at is not None and user.left_at <= today:
        return False
    return not (user.away_until is not None and user.away_until >= today)


class RepLoad(NamedTuple):
    """What keeps each rep busy: talk minutes in the load window, open opportunities, open leads (by user id)."""
    talk_s: dict[int, float]
    open_opps: dict[int, int]
    open_leads: dict[int, int]


def rep_load(session, now: datetime, cfg: dict[str, Any]) -> RepLoad:
    """Every rep's talk time (last ``load.talk_days``), open opportunities and open leads — one query each."""
    since = now - timedelta(days=cfg["load"]["talk_days"])
    talk = dict(session.execute(select(Call.rep_id, func.sum(Call.duration_s)).where(
        Call.started_at >= since, Call.started_at <= now).group_by(Call.rep_id)).all())
    opps = dict(session.execute(select(Opportunity.owner_id, func.count()).where(
        Opportunity.stage.in_(OPEN_STAGES)).group_by(Opportunity.owner_id)).all())
    leads = dict(session.execute(select(Lead.owner_id, func.count()).where(
        Lead.status.in_(OPEN_LEAD_STATUSES), Lead.owner_id.is_not(None)).group_by(Lead.owner_id)).all())
    return RepLoad(talk, opps, leads)


def won_deals(session, now: datetime) -> tuple[dict[tuple[int, int], int], dict[tuple[int, str], int]]:
    """Won deals so far per (rep, account) and per (rep, segment)."""
    wins_account: dict[tuple[int, int], int] = {}
    wins_segment: dict[tuple[int, str], int] = defaultdict(int)
    for owner, account_id, segment, n in session.execute(
            select(Opportunity.owner_id, Opportunity.account_id, Account.segment, func.count())
            .join(Account, Account.id == Opportunity.account_id)
            .where(Opportunity.won.is_(True), Opportunity.created_at <= now)
            .group_by(Opportunity.owner_id, Opportunity.account_id, Account.segment)):
        wins_account[(owner, account_id)] = n
        wins_segment[(owner, segment)] += n
    return wins_account, dict(wins_segment)


def rep_info(u: User, dims: dict[str, Any], region_id: int | None, load: RepLoad) -> RepInfo:
    """Pure: one rep's row of the batch (capability scores per dimension, talk in minutes)."""
    return RepInfo(u.id, u.login, u.name, u.name_en, u.language, u.team_id, region_id,
                   {d: (v or {}).get("score") for d, v in dims.items()}, float(load.talk_s.get(u.id) or 0) / 60,
                   int(load.open_opps.get(u.id) or 0), int(load.open_leads.get(u.id) or 0))


def scenario_fits(reps: list[RepInfo]) -> dict[str, list[float]]:
    """Every scenario's fit per rep (in the order of ``reps``; no profile: 0)."""
    scenarios = load_scenarios()[1]
    return {code: [scenario_fit(r.scores, sc.weights) or 0.0 for r in reps] for code, sc in scenarios.items()}


def load_batch(session, now: datetime) -> Batch:
    """Eligible reps with their fits, load and wins — one query per table, once per batch."""
    cfg = load_routing_config()
    today = now.date()
    team_region = dict(session.execute(select(Team.id, Team.region_id)).all())
    users = list(session.scalars(select(User).where(User.role == Role.REP).order_by(User.id)))
    owners = {u.id: (u.team_id if available(u, today) else None) for u in users}
    reps_u = [u for u in users if available(u, today)]
    ids = [u.id for u in reps_u]
    profiles = {p.user_id: p.dimensions for p in session.scalars(select(CapabilityProfile).where(CapabilityProfile.user_id.in_(ids)))}
    load = rep_load(session, now, cfg)
    wins_account, wins_segment = won_deals(session, now)
    reps = [rep_info(u, profiles.get(u.id) or {}, team_region.get(u.team_id), load) for u in reps_u]
    return Batch(reps, {r.id: r for r in reps}, scenario_fits(reps), wins_account, wins_segment, team_region, owners,
                 [r.load_raw(cfg) for r in reps])
