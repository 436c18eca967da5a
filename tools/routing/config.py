"""Routing configuration (``tools/routing.yaml``) and the active weights version."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from core.errors import ConfigError
from crm.models import (
    RoutingWeightVersion,
)

ROUTING_CONFIG_PATH = Path(__file__).parents[1] / "routing.yaml"  # tools/routing.yaml, beside the package

FACTORS = ("fit", "capacity", "region", "history", "language")

OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")

MAX_EVENTS = 5

CHUNK = 500


@lru_cache(maxsize=4)
def load_routing_config(path: Path = ROUTING_CONFIG_PATH) -> dict[str, Any]:
    """The routing configuration, validated (weights over the known factors, summing to 1)."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the routing configuration {path}: {exc}") from None
    check_weights(cfg.get("weights") or {}, where=f"in {path}")
    for key in ("load", "history", "review", "nurture", "dual", "auto", "feedback", "labels", "kinds"):
        if key not in cfg:
            raise ConfigError(f"section {key!r} is missing in {path}; see the comments at its top")
    return cfg


def check_weights(weights: dict[str, float], *, where: str) -> None:
    if set(weights) != set(FACTORS):
        raise ConfigError(f"routing weights must name exactly {', '.join(FACTORS)} {where} (got {', '.join(weights) or 'none'})")
    if any(float(w) < 0 for w in weights.values()) or abs(sum(float(w) for w in weights.values()) - 1) > 1e-6:
        raise ConfigError(f"routing weights must be non-negative and sum to 1 {where} (got {weights})")


def active_weights(session) -> tuple[int, dict[str, float]]:
    """(version, weights) of the active weights version; version 1 (routing.yaml) is created on first use."""
    row = session.scalar(select(RoutingWeightVersion).where(RoutingWeightVersion.status == "active")
                         .order_by(RoutingWeightVersion.version.desc()).limit(1))
    if row is None:
        if session.scalar(select(RoutingWeightVersion.id).limit(1)) is not None:
            raise ConfigError("no routing weights version is active; re-activate one with "
                              "`repcopilot routing weights revert VERSION --as ADMIN`")
        weights = {k: float(v) for k, v in load_routing_config()["weights"].items()}
        row = RoutingWeightVersion(version=1, weights=weights, status="active", based_on=None,
                                   reason="tools/routing.yaml", created_at=datetime(2000, 1, 1))
        session.add(row)
        session.flush()
    return row.version, {k: float(v) for k, v in row.weights.items()}
