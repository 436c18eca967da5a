"""Who may see what: the one place that turns a user into the set of records they may see.

- a rep sees their own leads, calls and profile;
- a manager sees everything owned by the members of the team they manage, and the
  unassigned leads of that team's region;
- an admin sees everything;
- a trainer sees scenarios, drills and practice results, not the pipeline.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from crm.models import Account, Lead, Team, User
from crm.policy import is_manager, is_rep, require_pipeline_access, sees_everything

__all__ = ["Scope", "get_user", "require_pipeline_access", "scope_for", "visible_leads"]


@dataclass(frozen=True)
class Scope:
    """The records a user may see, as ids. ``everything`` short-circuits the sets."""

    user_id: int
    role: str
    everything: bool
    owner_ids: frozenset[int]  # users whose records are visible
    team_ids: frozenset[int]
    region_ids: frozenset[int]  # regions whose unassigned leads are visible


def team_manager(session: Session, team_id: int | None) -> User | None:
    """The manager of a team (None for no team or a team without one)."""
    if team_id is None:
        return None
    from crm.roles import Role

    return session.scalar(select(User).where(User.team_id == team_id, User.role == Role.MANAGER).order_by(User.id).limit(1))


def get_user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        logins = list(session.scalars(select(User.login)))
        close = difflib.get_close_matches(login, logins, n=3)
        hint = f" — did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(
            f"no user with login {login!r}{hint} (list them with `repcopilot demo users`)"
        )
    return user


def scope_for(session: Session, user: User) -> Scope:
    if sees_everything(user):
        return Scope(user.id, user.role, True, frozenset(), frozenset(), frozenset())
    if is_manager(user):
        teams = list(session.scalars(select(Team).where(Team.id == user.team_id)))
        team_ids = frozenset(t.id for t in teams)
        members = frozenset(session.scalars(select(User.id).where(User.team_id.in_(team_ids))))
        return Scope(user.id, user.role, False, members, team_ids, frozenset(t.region_id for t in teams))
    if is_rep(user):
        return Scope(user.id, user.role, False, frozenset({user.id}), frozenset(), frozenset())
    return Scope(user.id, user.role, False, frozenset(), frozenset(), frozenset())


def visible_leads(session: Session, user: User) -> Select[tuple[Lead]]:
    """A SELECT of the leads ``user`` may see (callers add order, filters, limits)."""
    require_pipeline_access(user)
    scope = scope_for(session, user)
    stmt = select(Lead)
    if scope.everything:
        return stmt
    conditions = [Lead.owner_id.in_(scope.owner_ids)]
    if scope.region_ids:
        unassigned = select(Account.id).where(Account.region_id.in_(scope.region_ids))
        conditions.append(Lead.owner_id.is_(None) & Lead.account_id.in_(unassigned))
    return stmt.where(or_(*conditions))
