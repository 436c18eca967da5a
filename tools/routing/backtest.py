"""Backtest: the engine's choice against the historical owners (an estimate)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from crm.access import visible_leads
from crm.models import (
    Account,
    Lead,
)
from tools.context import ToolContext
from tools.routing.batch import load_batch
from tools.routing.config import active_weights, load_routing_config
from tools.routing.engine import _refuse_rep
from tools.routing.scoring import effective_weights, score_reps


def backtest(*, ctx: ToolContext) -> dict[str, Any]:
    """The engine's choice for every historical assigned lead (as of its creation, with today's
    profiles and the active weights) against its historical owner; conversion of the leads whose
    owner was the engine's better-fit choice vs the rest. An estimate, not a controlled experiment."""
    _refuse_rep(ctx)
    cfg = load_routing_config()
    now = ctx.now()
    version, base = active_weights(ctx.session)
    batch = load_batch(ctx.session, now)
    stmt = visible_leads(ctx.session, ctx.user).where(Lead.owner_id.is_not(None), Lead.status.in_(
        ("converted", "lost", "invalid", "contacted", "qualified", "nurture")), Lead.created_at <= now - timedelta(days=30))
    leads = list(ctx.session.scalars(stmt.order_by(Lead.id)))
    accounts = {a.id: a for a in ctx.session.scalars(select(Account))}
    same = {"leads": 0, "converted": 0}
    other = {"leads": 0, "converted": 0}
    for lead in leads:
        a = accounts[lead.account_id]
        ranked = score_reps(batch, scenario=lead.scenario, account_id=a.id, segment=a.segment, region_id=a.region_id,
                            international=a.international, weights=effective_weights(base, "B", cfg), cfg=cfg)
        if not ranked:
            continue
        top = {x.rep.id for x in ranked[:3]}
        bucket = same if lead.owner_id in top else other
        bucket["leads"] += 1
        bucket["converted"] += lead.status == "converted"
    def rate(b: dict[str, int]) -> float | None:
        return round(b["converted"] / b["leads"], 4) if b["leads"] else None

    r1, r2 = rate(same), rate(other)
    return {
        "weights_version": version, "leads": len(leads),
        "owner_was_engine_top3": dict(same, conversion=r1), "owner_not_engine_top3": dict(other, conversion=r2),
        "conversion_lift_pts": round(100 * (r1 - r2), 2) if r1 is not None and r2 is not None else None,
        "method": ctx.t(
            "估算:对每条已分配且创建满30天的历史线索,用今天的能力画像和当前权重重新打分(区域、负载按今天计),看历史负责人是否在引擎前三名中;"
            "比较两组的转化率。负责人并非随机分配,画像也用到了事后数据,因此这是相关性估计,不是对照实验。",
            "Estimate: every historical assigned lead at least 30 days old is re-scored with today's capability profiles and "
            "active weights (region and load as of today); we check whether its historical owner was among the engine's top 3 "
            "and compare the conversion of the two groups. Owners were not assigned at random and the profiles use later data, "
            "so this is a correlational estimate, not a controlled experiment."),
    }
