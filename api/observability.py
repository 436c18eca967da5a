"""Operations: a request id on every request and log line, Prometheus metrics, JSON logs with
nothing secret in them.

- ``RequestMetrics`` (pure ASGI middleware): takes ``X-Request-ID`` (or makes one), returns it,
  and records the request's latency under its route template (``/api/jobs/{job_id}``, never the
  raw path), 503s per route, and the WeCom callback's acknowledgement time.
- ``GET /metrics``: the Prometheus text format (``core.metrics``), with the shared job queue's
  depth and oldest age read from the database at scrape time; with ``REPCOPILOT_METRICS_TOKEN``
  set, only for ``Authorization: Bearer <that token>`` (401 otherwise).
- ``configure_logging``: text or JSON lines (``REPCOPILOT_LOG_FORMAT=json``), each with the
  request id; every line is redacted — bearer and API tokens, signed query parameters, phone numbers.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import JOBS_OLDEST_QUEUED_AGE, JOBS_QUEUED, JOBS_RUNNING, REGISTRY, REJECTED, REQUEST_SECONDS, WECOM_ACK_SECONDS

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
WECOM_CALLBACK = "/wecom/callback"

router = APIRouter(tags=["health"])


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        request_id = given if GOOD_REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                if scope["method"] == "POST" and scope["path"] == WECOM_CALLBACK:
                    WECOM_ACK_SECONDS.observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUEST_SECONDS.labels(route=route, method=scope["method"], status=str(status["code"])).observe(
                time.perf_counter() - start)
            if status["code"] == 503:
                REJECTED.labels(route=route).inc()
            REQUEST_ID.reset(token)


def scraper_allowed(expected: str | None, authorization: str | None) -> bool:
    """No metrics token configured: anyone; otherwise exactly ``Bearer <token>`` (compared in constant time)."""
    if not expected:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this node, and the shared job queue (from the database)."""
    from crm.models import Job

    if not scraper_allowed(request.app.state.runtime.settings.metrics_token, request.headers.get("authorization")):
        raise HTTPException(401, "GET /metrics needs `Authorization: Bearer <REPCOPILOT_METRICS_TOKEN>`; set the same "
                                 "token as the scraper's bearer token", headers={"WWW-Authenticate": "Bearer"})

    with request.app.state.runtime.session_factory() as session:
        counts = dict(session.execute(select(Job.status, func.count()).where(Job.status.in_(("queued", "running")))
                                      .group_by(Job.status)).all())
        oldest = session.scalar(select(func.min(Job.created_at)).where(Job.status == "queued"))
    JOBS_QUEUED.set(counts.get("queued", 0))
    JOBS_RUNNING.set(counts.get("running", 0))
    now = datetime.now(UTC).replace(tzinfo=None)
    JOBS_OLDEST_QUEUED_AGE.set(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# -- logs -----------------------------------------------------------------------------------------

SECRETS = [
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\brc_[A-Za-z0-9_-]{8,}"), "rc_[redacted]"),  # repcopilot API tokens (api.auth.TOKEN_PREFIX)
    (re.compile(r"(?i)\b(access_token|token|msg_signature|signature|echostr|secret|corpsecret|password|api_key|key|"
                r"encrypt|nonce)=[^&\s\"']+"), r"\1=[redacted]"),
    (re.compile(r"(?<![\d.])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![\d.])"), "[phone]"),  # mainland mobiles
    (re.compile(r"\+\d{1,3}(?:[ -]?\d{1,4}){2,5}\d"), "[phone]"),  # international numbers ("+49 30 1234 5678")
]


def redact(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Plain text lines (with the request id), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = REQUEST_ID.get()
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message (and the traceback), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "request_id": REQUEST_ID.get(),
                "message": redact(record.getMessage())}
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO, stream=None) -> logging.Handler:
    """The root handler every logger (uvicorn's too) writes through (stderr unless ``stream``); returns it."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
