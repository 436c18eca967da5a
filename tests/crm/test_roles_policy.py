"""Roles are one enum kept by the database, and the role checks live in crm.policy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.errors import PermissionDenied
from crm import policy
from crm.db import alembic_config, make_engine, upgrade_schema
from crm.models import ROLES
from crm.roles import ROLE_VALUES, Role, role_check_sql


def person(role: str, *, id: int = 1, team_id: int | None = 10, login: str = "someone"):
    return SimpleNamespace(id=id, login=login, role=role, team_id=team_id)


def test_the_enum_holds_the_four_roles_the_crm_has_always_used():
    assert ROLE_VALUES == ("rep", "manager", "trainer", "admin") == ROLES
    assert Role.MANAGER == "manager" and Role("trainer") is Role.TRAINER
    assert role_check_sql() == "role IN ('rep', 'manager', 'trainer', 'admin')"


def test_a_trainer_is_refused_the_pipeline_with_who_may_ask_instead():
    assert policy.sees_pipeline(person("rep")) and policy.sees_pipeline(person("admin"))
    with pytest.raises(PermissionDenied, match="ask as a rep, manager or admin"):
        policy.require_pipeline_access(person("trainer", login="yangfan"))


def test_a_manager_manages_the_members_of_their_own_team_only():
    boss = person("manager", id=2, team_id=10)
    assert policy.manages(boss, person("rep", id=3, team_id=10))
    assert not policy.manages(boss, person("rep", id=4, team_id=11))
    assert not policy.manages(boss, person("rep", id=5, team_id=None))
    assert not policy.manages(person("rep", id=6, team_id=10), person("rep", id=3, team_id=10))
    assert not policy.manages(boss, None)


def test_who_may_see_a_member_self_their_manager_or_an_admin():
    rep = person("rep", id=3, team_id=10)
    assert policy.may_see_member(rep, rep)
    assert policy.may_see_member(person("manager", id=2, team_id=10), rep)
    assert policy.may_see_member(person("admin", id=1, team_id=None), rep)
    assert not policy.may_see_member(person("rep", id=4, team_id=10), rep)
    assert not policy.may_see_member(person("admin"), None)


def test_the_permission_sets_per_role():
    table = {r: (policy.may_upload_calls(person(r)), policy.may_assign_drills(person(r)),
                 policy.may_manage_routing(person(r)), policy.sees_everything(person(r))) for r in ROLE_VALUES}
    assert table == {"rep": (True, False, False, False), "manager": (True, True, True, False),
                     "trainer": (False, True, False, False), "admin": (True, True, True, True)}
    with pytest.raises(PermissionDenied, match="only a manager or an admin may approve routing"):
        policy.require_manager(person("rep", login="zhangwei"), "approve routing")
    policy.require_manager(person("manager"), "approve routing")


USER_ROW = ("INSERT INTO users (id, login, name, name_en, role, language, hire_date) "
            "VALUES (:id, :login, 'n', 'n', :role, 'zh', '2024-01-01')")


def test_the_role_migration_keeps_existing_users_and_their_references_and_refuses_other_roles(db_url):
    """Upgraded over a database with users and rows that reference them (SQLite copies the table)."""
    engine = make_engine(db_url)
    cfg = alembic_config(engine)
    command.upgrade(cfg, "0008_shared")
    with engine.begin() as conn:
        conn.execute(text(USER_ROW), {"id": 1, "login": "zhangwei", "role": "rep"})
        conn.execute(text("INSERT INTO api_tokens (user_id, token_sha256, created_at) VALUES (1, 'abc', '2024-01-01')"))
    assert upgrade_schema(engine) == "0009_role_check"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT login, role FROM users")).all() == [("zhangwei", "rep")]
        assert conn.execute(text("SELECT user_id FROM api_tokens")).scalar_one() == 1
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(USER_ROW), {"id": 2, "login": "boss", "role": "boss"})
    with pytest.raises(IntegrityError), engine.begin() as conn:  # foreign keys are enforced again
        conn.execute(text("INSERT INTO api_tokens (user_id, token_sha256, created_at) VALUES (99, 'x', '2024-01-01')"))
    command.downgrade(cfg, "0008_shared")
    with engine.begin() as conn:  # the CHECK is gone again
        conn.execute(text(USER_ROW), {"id": 2, "login": "boss", "role": "boss"})
    engine.dispose()
