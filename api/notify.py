"""Deliver alerts to their owners' channels: WeCom (``message/send`` markdown, when the user has a
``wecom_userid`` and WeCom is configured), Teams (``api.teams.send_proactive``, when a conversation
reference exists and a Teams runtime is given) — and always the web (``GET /api/alerts``).

Each alert's ``delivered`` JSON records per channel the time it went out (or the error), so a
re-run sends nothing twice. Called by ``repcopilot signals run --notify`` and by the service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.channels import configured_channels
from crm.db import session_factory
from crm.models import Alert, User

log = logging.getLogger(__name__)


def alert_markdown(alert: Alert, language: str) -> str:
    """The WeCom markdown of one alert: title, suggested action, up to 5 events, confidence, how to act."""
    zh = language == "zh"
    lines = [f"**{alert.title}**", ("建议:" if zh else "Suggested: ") + alert.action]
    lines += [f"> {e.get('time') or ''} {e['text']}" for e in (alert.evidence or [])[:5]]
    lines.append(f"置信度 {alert.confidence:.2f} · 提醒 #{alert.id}(线索 #{alert.lead_id})· 在网页或 CLI 中采纳/忽略"
                  if zh else f"confidence {alert.confidence:.2f} · alert #{alert.id} (lead #{alert.lead_id}) · "
                             "adopt or dismiss on the web or CLI")
    return "\n".join(lines)


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def deliver_alert(session: Session, alert: Alert, *, wecom_client=None, teams_runtime=None, anonymized: bool = False) -> dict[str, Any]:
    """Send one alert to its recipient (escalated: the manager) on each configured channel not yet
    delivered; returns the updated ``delivered`` record. The caller commits."""
    recipient_id = alert.escalated_to_id if alert.status == "escalated" else alert.owner_id
    user = session.get(User, recipient_id) if recipient_id else None
    delivered = dict(alert.delivered or {})
    if user is None:
        return delivered
    language = user.language if user.language in ("zh", "en") else "zh"
    text = alert_text(alert, language, anonymized=anonymized)
    for channel in configured_channels(wecom_client=wecom_client, teams_runtime=teams_runtime):
        key = f"{channel.name}:{user.id}"
        if key not in delivered and channel.reaches(session, user):
            _send_once(delivered, key, alert, channel.label, lambda channel=channel: channel.send_text(user, text))
    delivered.setdefault("web", _now())
    alert.delivered = delivered
    return delivered


def alert_text(alert: Alert, language: str, *, anonymized: bool = False) -> str:
    """The markdown sent for an alert; anonymized (group-level only): the rule and the action, no individual events."""
    if not anonymized:
        return alert_markdown(alert, language)
    from tools.signals import rule_by_id

    rule = rule_by_id(alert.rule)
    return f"**{rule['name_zh'] if language == 'zh' else rule['name_en']}**\n" + (
        ("建议:" if language == "zh" else "Suggested: ") + alert.action + f" (#{alert.id})")


def _send_once(delivered: dict[str, Any], key: str, alert: Alert, channel: str, send: Callable[[], object]) -> None:
    """Call ``send`` unless ``key`` is already delivered; record the time it went out under ``key``, or the
    error under ``key:error`` (a channel failure is recorded, the others still go out)."""
    if key in delivered:
        return
    try:
        send()
        delivered[key] = _now()
    except Exception as exc:  # noqa: BLE001
        log.warning("%s delivery of alert %s failed: %s", channel, alert.id, exc)
        delivered[f"{key}:error"] = str(exc)[:200]


def deliver_pending(engine, settings, *, teams_runtime=None, limit: int = 500) -> dict[str, int]:
    """Deliver every shown or escalated alert not yet sent on the configured channels. Counts per channel."""
    from api.wecom import WeComClient

    client = None
    if settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id:
        client = WeComClient(corp_id=settings.wecom_corp_id, secret=settings.wecom_secret, agent_id=settings.wecom_agent_id,
                             api_base=settings.wecom_api_base)
    counts = {"alerts": 0, "wecom": 0, "teams": 0, "errors": 0}
    with session_factory(engine)() as session:
        for alert in session.scalars(select(Alert).where(Alert.status.in_(("shown", "escalated"))).order_by(Alert.id).limit(limit)):
            before = dict(alert.delivered or {})
            after = deliver_alert(session, alert, wecom_client=client, teams_runtime=teams_runtime,
                                  anonymized=settings.anonymized_aggregate_mode)
            new = set(after) - set(before)
            counts["alerts"] += 1
            counts["wecom"] += sum(1 for k in new if k.startswith("wecom:") and not k.endswith(":error"))
            counts["teams"] += sum(1 for k in new if k.startswith("teams:") and not k.endswith(":error"))
            counts["errors"] += sum(1 for k in new if k.endswith(":error"))
        session.commit()
    return counts
