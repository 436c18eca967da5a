"""FastAPI dependencies: settings, database session, the current user (from a bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from api.auth import user_for_token
from core.errors import NotFoundError, PermissionDenied, RepcopilotError
from crm.db import session_scope
from crm.models import User


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.runtime.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> User:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>' (create one with `repcopilot users token LOGIN`)",
                            headers={"WWW-Authenticate": "Bearer"})
    user = user_for_token(session, authorization.split(" ", 1)[1].strip())
    if user is None:
        raise HTTPException(401, "invalid or revoked token; create a new one with `repcopilot users token LOGIN`",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def http_error(exc: RepcopilotError) -> HTTPException:
    """A tool's refusal as HTTP: permission → 403, not found → 404, anything else the caller can fix → 422."""
    if isinstance(exc, PermissionDenied):
        return HTTPException(403, str(exc))
    if isinstance(exc, NotFoundError):
        return HTTPException(404, str(exc))
    return HTTPException(422, str(exc))
