"""Per-user API tokens: shown once, stored as SHA-256, every request runs as its user."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import ApiToken, User

TOKEN_PREFIX = "rc_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, label: str | None = None) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=_digest(token), label=label,
                         created_at=datetime.now(UTC).replace(tzinfo=None)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user — None for an unknown or revoked token, and for a user who has left
    (``left_at`` on or before today): leaving the company ends API access with no extra step."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token), ApiToken.revoked_at.is_(None)))
    user = session.get(User, row.user_id) if row else None
    if user is None or (user.left_at is not None and user.left_at <= date.today()):
        return None
    return user
