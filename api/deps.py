"""FastAPI dependencies: settings, database session, the current user (from a bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

from api.auth import user_for_token
from api.runtime import Runtime
from core.errors import NotFoundError, PermissionDenied, RepcopilotError
from crm.db import session_scope
from crm.models import User

MAX_ID = 2**63 - 1  # ids are 64-bit: a larger one is a 422, not an OverflowError in the driver


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.runtime.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_runtime(request: Request) -> Runtime:
    """The app's one runtime (engine, copilot, blob store, settings), built at start-up."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

MISSING_TOKEN = ("missing token: send 'Authorization: Bearer <token>' (create one with `repcopilot users token LOGIN`)")
INVALID_TOKEN = "invalid or revoked token; create a new one with `repcopilot users token LOGIN`"


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(runtime, authorization: str | None) -> User:
    """The token's user, loaded in a session of its own that is closed before the request's work
    starts (a request held the auth session's pooled connection for its whole run before), or 401."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise unauthorized(MISSING_TOKEN)
    with runtime.session_factory() as session:
        user = user_for_token(session, authorization.split(" ", 1)[1].strip())
        if user is None:
            raise unauthorized(INVALID_TOKEN)
        session.expunge(user)
    return user


def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> User:
    early = getattr(request.state, "user", None)  # checked by the guard before the body was read
    if early is not None:
        return early
    return authenticate(request.app.state.runtime, authorization)


CurrentUser = Annotated[User, Depends(current_user)]

# Path and query parameters that reach the database, bounded so that no value can overflow it
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a record id")]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many rows")]


def http_error(exc: RepcopilotError) -> HTTPException:
    """A tool's refusal as HTTP: permission → 403, not found → 404, anything else the caller can fix → 422."""
    if isinstance(exc, PermissionDenied):
        return HTTPException(403, str(exc))
    if isinstance(exc, NotFoundError):
        return HTTPException(404, str(exc))
    return HTTPException(422, str(exc))


def not_yours_or_missing(what_zh: str, what_en: str, record_id: int, language: str, list_hint: str) -> HTTPException:
    """The one 404 for a record that does not exist and for one that is not the caller's: the
    same words either way, so no answer reveals that someone else's record exists."""
    if language == "en":
        return HTTPException(404, f"there is no {what_en} {record_id} of yours; list yours with {list_hint}")
    return HTTPException(404, f"没有编号为 {record_id} 的{what_zh};用 {list_hint} 查看你的{what_zh}。")
