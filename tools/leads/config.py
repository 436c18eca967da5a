"""Configuration: the intent weights, score, journey settings and rules of tools/intent.yaml, validated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from crm.models import TOUCHPOINT_KINDS

INTENT_CONFIG_PATH = Path(__file__).parent.parent / "intent.yaml"  # tools/intent.yaml
CLOSED_LEAD_STATUSES = ("converted", "invalid", "lost")
OPEN_STAGES = ("discovery", "solution", "proposal", "negotiation")
SUGGESTION_KIND_PREFIX = "nba:"  # AISuggestion.kind = "nba:<rule id>"


# -- configuration -------------------------------------------------------------------------

@lru_cache(maxsize=4)
def load_intent_config(path: Path = INTENT_CONFIG_PATH) -> dict[str, Any]:
    """The weight table, decay, tiers, journey settings and rules, validated."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the intent configuration {path}: {exc}") from None
    where = f"in {path}"
    _check_weights(cfg, where)
    _check_score(cfg["score"], where)
    _check_rules(cfg["rules"], where)
    return cfg


def _check_weights(cfg: dict[str, Any], where: str) -> None:
    """Exactly one weight per touchpoint kind."""
    missing = [k for k in TOUCHPOINT_KINDS if k not in cfg.get("weights", {})]
    if missing:
        raise ConfigError(f"no weight for touchpoint kind(s) {', '.join(missing)} {where}; add them under `weights:`")
    unknown = [k for k in cfg["weights"] if k not in TOUCHPOINT_KINDS]
    if unknown:
        raise ConfigError(f"weights for unknown touchpoint kind(s) {', '.join(unknown)} {where}; "
                          f"the kinds are {', '.join(TOUCHPOINT_KINDS)}")


def _check_score(score: dict[str, Any], where: str) -> None:
    """A positive half-life and scale; tiers from the highest lower bound down to 0."""
    if score["half_life_days"] <= 0 or score["scale"] <= 0:
        raise ConfigError(f"score.half_life_days and score.scale must be positive {where}")
    bounds = list(score["tiers"].values())
    if bounds != sorted(bounds, reverse=True) or bounds[-1] != 0:
        raise ConfigError(f"score.tiers must go from the highest lower bound down to 0 {where}")


def _check_rules(rules: list[dict[str, Any]], where: str) -> None:
    """Every rule names a known check and has a unique id that fits AISuggestion.kind."""
    from tools.leads.rules import (
        RULE_CHECKS,  # the rules module reads this one's constants
    )

    seen: set[str] = set()
    for rule in rules:
        if rule["check"] not in RULE_CHECKS:
            raise ConfigError(f"rule {rule['id']!r} names an unknown check {rule['check']!r} {where}; "
                              f"known checks: {', '.join(RULE_CHECKS)}")
        if rule["id"] in seen or len(SUGGESTION_KIND_PREFIX + rule["id"]) > 32:
            raise ConfigError(f"rule id {rule['id']!r} is repeated or longer than 28 characters {where}")
        seen.add(rule["id"])
