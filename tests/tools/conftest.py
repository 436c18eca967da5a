"""Fixtures for the lead, journey and suggestion tools: a tiny hand-made company (exact values)
and a rolled-back session on the shared demo company (so no test leaves rows behind)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm.access import get_user
from crm.db import session_factory
from crm.models import Account, Base, Contact, Lead, Region, Team, Touchpoint, User
from tests.conftest import backend_engine
from tools.context import ToolContext

NOW = datetime(2026, 11, 20, 9, 0)  # the demo company is built as of 2026-11-20


def make_ctx(session: Session, login: str, *, now: datetime = NOW, **kw: Any) -> ToolContext:
    return ToolContext(user=get_user(session, login), session=session, clock=lambda: now, **kw)


@dataclass
class Tiny:
    """Ids of the tiny company. East team: rep1 张伟, rep2 李娜, manager mgr1. South team: rep3,
    manager mgr2. Plus trainer and admin. Accounts/leads:
    - acct / lead: 杭州市第六人民医院 · 超声影像系统 (rep1), contacts ``yes`` (王芳, consented)
      and ``no`` (赵工, no consent); created 20 days ago, followed up 19 days ago
    - helios / helios_lead: Helios Wind Systems AG · converter condition monitoring (rep1)
    - ningbo_a / ningbo_b: two leads of 宁波宏达风电设备有限公司 (rep1)
    - other_acct / other_lead: 杭州市第一人民医院 · 手术室智能排程系统 (rep2, 800,000 CNY)
    - south_lead: 广州市中心医院 · 远程运维服务包 (rep3)
    """

    engine: Any
    ids: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.ids[key]

    def session(self) -> Session:
        return session_factory(self.engine)()

    def touch(self, kind: str, when: datetime, *, contact: str | None = "yes", lead: str | None = "lead",
              account: str = "acct", asset: str | None = None, dwell_s: int | None = None) -> int:
        with self.session() as s:
            tp = Touchpoint(account_id=self.ids[account], contact_id=self.ids[contact] if contact else None,
                            lead_id=self.ids[lead] if lead else None, kind=kind, channel="website", occurred_at=when,
                            asset=asset, dwell_s=dwell_s)
            s.add(tp)
            s.commit()
            return tp.id

    def add(self, make: Callable[[dict[str, int]], Any]) -> int:
        with self.session() as s:
            row = make(self.ids)
            s.add(row)
            s.commit()
            return row.id


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def ctx_for() -> Callable[..., ToolContext]:
    """``ctx_for(session, login, now=..., language=..., anonymized=...)`` → a ToolContext at a fixed clock."""
    return make_ctx


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def tiny_engine(request, tmp_path_factory) -> Iterator[Engine]:
    """One empty, upgraded database per backend for the whole run (creating a PostgreSQL
    database per test costs ~2 s); ``tiny`` empties it before each test."""
    yield from backend_engine(request.param, tmp_path_factory, "tiny")


@pytest.fixture
def tiny(tiny_engine) -> Tiny:
    engine = tiny_engine
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    ids: dict[str, int] = {}
    with session_factory(engine)() as s:
        east = Region(code="east", name_zh="华东", name_en="East China")
        south = Region(code="south", name_zh="华南", name_en="South China")
        s.add_all([east, south])
        s.flush()
        t_east = Team(name="华东销售一组", name_en="East China Sales", region_id=east.id)
        t_south = Team(name="华南销售一组", name_en="South China Sales", region_id=south.id)
        s.add_all([t_east, t_south])
        s.flush()
        hired = date(2020, 1, 1)
        people = {
            "rep1": ("张伟", "Wei Zhang", "rep", t_east.id), "rep2": ("李娜", "Na Li", "rep", t_east.id),
            "mgr1": ("陈静", "Jing Chen", "manager", t_east.id), "rep3": ("胡明", "Ming Hu", "rep", t_south.id),
            "mgr2": ("黄磊", "Lei Huang", "manager", t_south.id), "trainer": ("林芳", "Fang Lin", "trainer", None),
            "admin": ("王建华", "Jianhua Wang", "admin", None),
        }
        for login, (name, name_en, role, team) in people.items():
            u = User(login=login, name=name, name_en=name_en, role=role, team_id=team, language="zh", hire_date=hired)
            s.add(u)
            s.flush()
            ids[login] = u.id

        def account(key: str, name: str, owner: str, region: Region, name_en: str | None = None, segment: str = "三级综合医院") -> Account:
            a = Account(name=name, name_en=name_en, industry="healthcare", segment=segment, region_id=region.id, tier="A",
                        international=name_en is not None, owner_id=ids[owner], created_at=NOW - timedelta(days=400))
            s.add(a)
            s.flush()
            ids[key] = a.id
            return a

        def contact(key: str, acct: Account, name: str, title: str, consent: bool) -> None:
            c = Contact(account_id=acct.id, name=name, title=title, role_in_deal="procurement", phone="13800001111",
                        email=f"{key}@customer.example", consent_tracking=consent,
                        consent_recorded_at=NOW - timedelta(days=100) if consent else None)
            s.add(c)
            s.flush()
            ids[key] = c.id

        def lead(key: str, acct: Account, product: str, owner: str | None, contact_key: str | None, *, value: int = 500_000,
                 created: datetime = NOW - timedelta(days=20), followed: datetime | None = NOW - timedelta(days=19),
                 status: str = "contacted") -> None:
            ld = Lead(name=f"{acct.name} · {product}", account_id=acct.id, contact_id=ids[contact_key] if contact_key else None,
                      source="website", status=status, scenario="hospital_procurement", value_cny=value,
                      owner_id=ids[owner] if owner else None, created_at=created, first_follow_up_at=followed)
            s.add(ld)
            s.flush()
            ids[key] = ld.id

        a = account("acct", "杭州市第六人民医院", "rep1", east)
        contact("yes", a, "王芳", "设备科科长", True)
        contact("no", a, "赵工", "临床工程师", False)
        lead("lead", a, "超声影像系统", "rep1", "yes")
        h = account("helios", "Helios Wind Systems AG", "rep1", east, name_en="Helios Wind Systems AG", segment="新能源装备")
        contact("anna", h, "Anna Müller", "Maintenance Engineer", True)
        lead("helios_lead", h, "converter condition monitoring", "rep1", "anna")
        n = account("ningbo", "宁波宏达风电设备有限公司", "rep1", east, segment="新能源装备")
        contact("ningbo_c", n, "刘强", "设备处工程师", True)
        lead("ningbo_a", n, "风电变流器状态监测系统", "rep1", "ningbo_c")
        lead("ningbo_b", n, "储能电站运维平台", "rep1", "ningbo_c")
        o = account("other_acct", "杭州市第一人民医院", "rep2", east)
        contact("other_c", o, "周敏", "采购中心主任", True)
        lead("other_lead", o, "手术室智能排程系统", "rep2", "other_c", value=800_000)
        g = account("south_acct", "广州市中心医院", "rep3", south)
        contact("south_c", g, "郭霞", "信息科主任", True)
        lead("south_lead", g, "远程运维服务包", "rep3", "south_c")
        s.commit()
    return Tiny(engine, ids)


@pytest.fixture
def demo_session(demo_engine) -> Iterator[Session]:
    """A session on the shared demo company that is rolled back afterwards."""
    session = session_factory(demo_engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
