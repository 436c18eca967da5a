"""Who sees which leads: reps their own, managers their team's, admins all, trainers none."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.errors import NotFoundError, PermissionDenied
from crm.access import get_user, visible_leads
from crm.db import session_scope
from crm.models import Account, Lead, User


def test_a_rep_sees_exactly_their_own_leads(demo_engine):
    with session_scope(demo_engine) as s:
        rep = get_user(s, "zhangwei")
        seen = list(s.scalars(visible_leads(s, rep)))
        owned = s.scalar(select(func.count()).select_from(Lead).where(Lead.owner_id == rep.id))
    assert seen and all(lead.owner_id == rep.id for lead in seen)
    assert len(seen) == owned


def test_a_manager_sees_the_team_and_its_unassigned_regional_leads_only(demo_engine):
    with session_scope(demo_engine) as s:
        manager = get_user(s, "chenjing")
        team_ids = set(s.scalars(select(User.id).where(User.team_id == manager.team_id)))
        region = manager.team.region_id
        seen = list(s.scalars(visible_leads(s, manager)))
        for lead in seen:
            if lead.owner_id is None:
                assert s.get(Account, lead.account_id).region_id == region
            else:
                assert lead.owner_id in team_ids
        expected_owned = s.scalar(select(func.count()).select_from(Lead).where(Lead.owner_id.in_(team_ids)))
    assert sum(lead.owner_id is not None for lead in seen) == expected_owned
    assert any(lead.owner_id is None for lead in seen)


def test_an_admin_sees_every_lead(demo_engine):
    with session_scope(demo_engine) as s:
        admin = get_user(s, "wangjianhua")
        assert len(list(s.scalars(visible_leads(s, admin)))) == s.scalar(select(func.count()).select_from(Lead))


def test_a_trainer_is_refused_the_pipeline_with_a_reason(demo_engine):
    with session_scope(demo_engine) as s, pytest.raises(PermissionDenied, match="trainer"):
        visible_leads(s, get_user(s, "linfang"))


def test_an_unknown_login_suggests_close_logins(demo_engine):
    with session_scope(demo_engine) as s, pytest.raises(NotFoundError, match="zhangwei"):
        get_user(s, "zhangwe")
