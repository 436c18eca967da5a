"""What every request passes before its body is read: the bearer token of ``/api`` requests that
carry a body is checked first (401 before a single body byte is read — a client without a token
can no longer stream an arbitrarily large upload, nor get a 422 for malformed JSON before its
401), and validation errors never echo large inputs back.

Body sizes are bounded by FastAPI's own ``max_body_size`` (Starlette's ``RequestBodyLimitMiddleware``):
a server-wide limit (``REPCOPILOT_MAX_BODY_KB``) and tighter or looser ones per endpoint (WeCom
64 KB, Teams 256 KB, uploads ``REPCOPILOT_MAX_UPLOAD_MB``), enforced on ``Content-Length`` before
reading and while streaming a body without one.
"""

from __future__ import annotations

import json

import anyio
from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import authenticate

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# /api endpoints that authenticate otherwise (the Teams Bot Connector signs its own JWT)
OWN_AUTH_PATHS = frozenset({"/api/messages"})
MAX_ECHO_CHARS = 200  # a validation error shows the offending input only when it is this short


def needs_early_auth(method: str, path: str) -> bool:
    return method in BODY_METHODS and path.startswith("/api/") and path not in OWN_AUTH_PATHS


class EarlyAuth:
    """Pure ASGI middleware: ``/api`` requests with a body are authenticated before the app (and
    with it FastAPI's body parsing) runs; the user rides along in ``request.state.user``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_early_auth(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        runtime = scope["app"].state.runtime
        authorization = Headers(scope=scope).get("authorization")
        try:
            user = await anyio.to_thread.run_sync(authenticate, runtime, authorization)
        except HTTPException as exc:
            response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers,
                                    background=None)
            response.headers["Connection"] = "close"  # the unread body is not worth reading
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def _short(value) -> bool:
    try:
        return len(json.dumps(jsonable_encoder(value), ensure_ascii=False)) <= MAX_ECHO_CHARS
    except (TypeError, ValueError):
        return False


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing each problem (where, what) — the input itself only when it is short: a 5 MB
    message used to come back whole in the error."""
    problems = []
    for error in exc.errors():
        item = {k: v for k, v in error.items() if k not in ("input", "url")}
        if "input" in error and _short(error["input"]):
            item["input"] = error["input"]
        problems.append(item)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(problems)})
