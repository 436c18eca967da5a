"""``/api/alerts``: the signal alerts on the web — the caller's alerts (a manager: the team's and the
ones escalated to them), adopt / dismiss / escalate one, and "why this alert?" (its explanation).
The lead includes ``router`` in the app (``app.include_router(alerts.router)``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentUser, IdPath, Limit, not_yours_or_missing
from api.schemas import AlertExplanationOut, AlertOut
from core.errors import NotFoundError, PermissionDenied

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


async def _run(request: Request, user, lang: str | None, fn, commit: bool = False, alert_id: int | None = None):
    """``fn(ctx)`` in the thread pool; for one alert (``alert_id``) someone else's answers 404 like a missing one."""
    runtime = request.app.state.runtime

    def run():
        with runtime.session_factory() as session:
            ctx = runtime.context(session, user, lang)
            try:
                out = fn(ctx)
            except (PermissionDenied, NotFoundError):
                if alert_id is None:
                    raise
                raise not_yours_or_missing("提醒", "alert", alert_id, ctx.language, "GET /api/alerts") from None
            if commit:
                session.commit()
            return out

    return await run_in_threadpool(run)  # a domain error leaves as its HTTP answer (api.errors)


@router.get("", response_model=list[AlertOut])
async def list_alerts_route(user: CurrentUser, request: Request, status: str | None = None, rule: str | None = None,
                            limit: Limit = 50, lang: str | None = None) -> list[dict]:
    """The caller's alerts, newest first: rule, lead, title, suggested action, evidence (counts only in
    anonymized aggregate mode), confidence, status (shown / adopted / dismissed / expired / escalated)."""
    from tools.alerts import list_alerts

    return await _run(request, user, lang, lambda ctx: [a.to_json() for a in list_alerts(ctx=ctx, status=status, rule=rule, limit=limit)])


@router.get("/{alert_id}/explain", response_model=AlertExplanationOut)
async def explain_alert_route(alert_id: IdPath, user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """Why this alert: the rule, the (up to 5) events behind it, the confidence, and a markdown report."""
    from tools.alerts import explain_alert

    def fn(ctx):
        exp = explain_alert(ctx=ctx, alert_id=alert_id)
        return exp.to_json() | {"markdown": exp.render(ctx.language)}

    return await _run(request, user, lang, fn, alert_id=alert_id)


@router.post("/{alert_id}/{action}", response_model=AlertOut)
async def act_on_alert_route(alert_id: IdPath, action: str, user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """``action`` = adopt | dismiss | escalate. Repeating an action is a no-op; reversing a decision is refused (422)."""
    from tools.alerts import decide_alert, escalate_alert

    if action not in ("adopt", "dismiss", "escalate"):
        raise HTTPException(404, "use /api/alerts/{id}/adopt, /dismiss or /escalate")
    if action == "escalate":
        return await _run(request, user, lang, lambda ctx: escalate_alert(ctx=ctx, alert_id=alert_id).to_json(), commit=True,
                          alert_id=alert_id)
    decision = "adopted" if action == "adopt" else "dismissed"
    return await _run(request, user, lang, lambda ctx: decide_alert(ctx=ctx, alert_id=alert_id, decision=decision).to_json(),
                      commit=True, alert_id=alert_id)
