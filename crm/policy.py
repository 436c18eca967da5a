"""Who may do what, named for the domain: the one home of the role checks.

``crm.access`` turns a user into the records they may see; this module answers the yes/no
questions before that ("may this user see the pipeline?", "does this manager lead that rep?").
Every check compares against ``crm.roles.Role``, never a bare string.
"""

from __future__ import annotations

from typing import Protocol

from core.errors import PermissionDenied
from crm.roles import Role


class HasRole(Protocol):
    """A user, or anything shaped like one (the API's detached users, tests' stand-ins)."""

    id: int
    login: str
    role: str
    team_id: int | None


def role_of(user: HasRole) -> Role:
    """The user's role as the enum (a value outside it is a bug: the database CHECK keeps them out)."""
    return Role(user.role)


def is_rep(user: HasRole) -> bool:
    return user.role == Role.REP


def is_manager(user: HasRole) -> bool:
    return user.role == Role.MANAGER


def is_trainer(user: HasRole) -> bool:
    return user.role == Role.TRAINER


def is_admin(user: HasRole) -> bool:
    return user.role == Role.ADMIN


def sees_everything(user: HasRole) -> bool:
    """An admin sees every record, with no scope to apply."""
    return is_admin(user)


def sees_pipeline(user: HasRole) -> bool:
    """Leads, calls and accounts: everyone but trainers (they see scenarios, drills and practice)."""
    return not is_trainer(user)


def require_pipeline_access(user: HasRole) -> None:
    """Refuse a trainer anything from the pipeline, with what to do instead."""
    if not sees_pipeline(user):
        raise PermissionDenied(
            f"{user.login} is a trainer: trainers see scenarios, drills and practice results, "
            "not leads; ask as a rep, manager or admin"
        )


def manages(user: HasRole, member: HasRole | None) -> bool:
    """``user`` is the manager of the team ``member`` belongs to."""
    return (is_manager(user) and member is not None and member.team_id is not None
            and member.team_id == user.team_id)


def may_see_member(user: HasRole, member: HasRole | None) -> bool:
    """A rep's own records, their manager's view of them, or an admin's."""
    if member is None:
        return False
    return sees_everything(user) or member.id == user.id or manages(user, member)


def may_upload_calls(user: HasRole) -> bool:
    """Reps upload their own calls; managers and admins upload on a rep's behalf."""
    return user.role in (Role.REP, Role.MANAGER, Role.ADMIN)


def may_assign_drills(user: HasRole) -> bool:
    """Managers, trainers and admins set practice for reps."""
    return user.role in (Role.MANAGER, Role.TRAINER, Role.ADMIN)


def may_manage_routing(user: HasRole) -> bool:
    """Managers and admins approve, override and reweigh lead routing."""
    return user.role in (Role.MANAGER, Role.ADMIN)


def require_manager(user: HasRole, action: str) -> None:
    """Refuse ``action`` to anyone who is not a manager or an admin, saying who may do it."""
    if not may_manage_routing(user):
        raise PermissionDenied(f"{user.login} is a {user.role}: only a manager or an admin may {action}")
