"""Weight versions: list, approve, reject, revert."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update

from core.errors import NotFoundError, UserInputError
from crm.models import (
    AuditLog,
    RoutingWeightVersion,
)
from tools.context import ToolContext
from tools.routing.config import active_weights, check_weights
from tools.routing.engine import _refuse_rep
from tools.routing.review import _login


@dataclass
class WeightVersionView:
    version: int
    status: str
    weights: dict[str, float]
    based_on: int | None
    reason: str
    created_at: str
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_weight_versions(*, ctx: ToolContext) -> list[WeightVersionView]:
    _refuse_rep(ctx)
    active_weights(ctx.session)
    return [WeightVersionView(v.version, v.status, v.weights, v.based_on, v.reason, v.created_at.isoformat(sep=" ", timespec="minutes"),
                              _login(ctx.session, v.decided_by_id))
            for v in ctx.session.scalars(select(RoutingWeightVersion).order_by(RoutingWeightVersion.version))]


def _version(ctx: ToolContext, version: int) -> RoutingWeightVersion:
    _refuse_rep(ctx)
    active_weights(ctx.session)
    row = ctx.session.scalar(select(RoutingWeightVersion).where(RoutingWeightVersion.version == version))
    if row is None:
        raise NotFoundError(ctx.t(f"没有权重版本 v{version};用 `repcopilot routing weights list` 查看。",
                                  f"there is no weights version v{version}; list them with `repcopilot routing weights list`."))
    return row


def _activate(ctx: ToolContext, row: RoutingWeightVersion, action: str) -> WeightVersionView:
    now = ctx.now()
    ctx.session.execute(update(RoutingWeightVersion).where(RoutingWeightVersion.status == "active")
                        .values(status="retired").execution_options(synchronize_session=False))
    ctx.session.expire_all()
    row = ctx.session.get(RoutingWeightVersion, row.id)
    row.status, row.decided_by_id, row.decided_at = "active", ctx.user.id, now
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action=f"routing.weights.{action}", target=f"weights:v{row.version}",
                             detail={"weights": row.weights}))
    ctx.session.flush()
    return next(v for v in list_weight_versions(ctx=ctx) if v.version == row.version)


def approve_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    """Make a pending weights version the active one (the previous one is retired, revertible)."""
    row = _version(ctx, version)
    if row.status == "active":
        return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)
    if row.status != "pending":
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status},不是待审核;要回到它请用 revert。",
                                   f"v{version} is {row.status}, not pending; use `revert` to go back to it."))
    check_weights(row.weights, where=f"in weights version v{version}")
    return _activate(ctx, row, "approve")


def reject_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    row = _version(ctx, version)
    if row.status not in ("pending", "rejected"):
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status},只能拒绝待审核的版本。",
                                   f"v{version} is {row.status}; only pending versions can be rejected."))
    row.status, row.decided_by_id, row.decided_at = "rejected", ctx.user.id, ctx.now()
    ctx.session.flush()
    return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)


def revert_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    """Re-activate an earlier (retired) version."""
    row = _version(ctx, version)
    if row.status == "active":
        return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)
    if row.status != "retired":
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status};只能回退到曾经生效过的版本。",
                                   f"v{version} is {row.status}; you can only revert to a version that was active before."))
    return _activate(ctx, row, "revert")
