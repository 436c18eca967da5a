"""The roles a user can have: one enum, stored as its value in ``users.role`` (a CHECK keeps other values out)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user does in the sales team; ``crm.policy`` says what each may see and do."""

    REP = "rep"  # sells: sees their own leads, calls and profile
    MANAGER = "manager"  # leads the team they belong to: sees its members' records
    TRAINER = "trainer"  # coaches: scenarios, drills, practice results — not the pipeline
    ADMIN = "admin"  # sees everything


ROLE_VALUES: tuple[str, ...] = tuple(r.value for r in Role)  # ("rep", "manager", "trainer", "admin")


def role_check_sql(column: str = "role") -> str:
    """The SQL of the CHECK that keeps ``column`` to the enum's values (the model and the migration share it)."""
    return f"{column} IN ({', '.join(repr(v) for v in ROLE_VALUES)})"
