"""One exception handler for the domain errors (``core.errors``): a ``RepcopilotError`` that leaves a
route becomes the HTTP answer ``api.deps.http_error`` gives it — permission → 403, not found → 404,
anything else the caller can fix → 422 — with the error's message as ``detail``, the body FastAPI
gives an ``HTTPException``. Routes let these errors through instead of each catching them."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.deps import http_error
from core.errors import RepcopilotError


async def domain_error(request: Request, exc: Exception) -> JSONResponse:  # the handler signature
    """The domain error as ``{"detail": message}`` with its status code."""
    answer = http_error(exc)  # type: ignore[arg-type] — registered for RepcopilotError only
    return JSONResponse({"detail": answer.detail}, status_code=answer.status_code, headers=answer.headers)


def register(app: FastAPI) -> None:
    app.add_exception_handler(RepcopilotError, domain_error)
