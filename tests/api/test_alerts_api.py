"""``/api/alerts`` (the web channel of alerts) and ``api.notify`` (WeCom delivery through a fake WeCom
API on 127.0.0.1): owners see their alerts, act on them once, and each alert is sent once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.notify import deliver_pending
from core.settings import Settings
from crm.access import get_user
from crm.db import make_engine, session_factory
from crm.models import AISuggestion, Alert, User
from tests.api.conftest import demo_home_with_tokens
from tests.api.test_wecom import FakeWeComApi
from tools.context import ToolContext
from tools.signals import run_signals

AT = datetime(2026, 11, 20, 12)


def _raise_alerts(home) -> None:
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        ctx = ToolContext(user=get_user(s, "wangjianhua"), session=s, clock=lambda: AT)
        run_signals(ctx=ctx, since=AT - timedelta(days=14), until=AT)
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("alerts-home")
    tokens = demo_home_with_tokens(home, ("zhangwei", "lina", "chenjing", "linfang"))
    _raise_alerts(home)
    app = create_app(Settings(home=home))
    with TestClient(app) as client:
        yield client, tokens, home


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_rep_gets_only_their_own_alerts_and_a_manager_the_teams(served):
    client, tokens, _ = served
    mine = client.get("/api/alerts", headers=auth(tokens["zhangwei"])).json()
    team = client.get("/api/alerts", headers=auth(tokens["chenjing"])).json()
    assert mine and {a["owner"] for a in mine} == {"zhangwei"}
    assert {a["id"] for a in mine} < {a["id"] for a in team}
    assert client.get("/api/alerts", headers=auth(tokens["linfang"])).status_code == 403
    assert client.get("/api/alerts").status_code == 401


def test_adopting_over_http_is_once_and_a_colleague_is_refused(served):
    client, tokens, home = served
    alert = client.get("/api/alerts?status=shown", headers=auth(tokens["zhangwei"])).json()[0]
    # someone else's alert and a missing one get the same 404 (no existence oracle)
    theirs = client.post(f"/api/alerts/{alert['id']}/adopt", headers=auth(tokens["lina"]))
    missing = client.post("/api/alerts/99999999/adopt", headers=auth(tokens["lina"]))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(str(alert["id"]), "N") == missing.json()["detail"].replace("99999999", "N")
    explained = client.get(f"/api/alerts/{alert['id']}/explain", headers=auth(tokens["lina"]))
    assert explained.status_code == 404 and explained.json()["detail"] == theirs.json()["detail"]
    first = client.post(f"/api/alerts/{alert['id']}/adopt", headers=auth(tokens["zhangwei"]))
    again = client.post(f"/api/alerts/{alert['id']}/adopt", headers=auth(tokens["zhangwei"]))
    assert first.status_code == again.status_code == 200 and first.json()["status"] == "adopted"
    flip = client.post(f"/api/alerts/{alert['id']}/dismiss", headers=auth(tokens["zhangwei"]))
    assert flip.status_code == 422 and "adopted" in flip.json()["detail"]
    assert client.post(f"/api/alerts/{alert['id']}/maybe", headers=auth(tokens["zhangwei"])).status_code == 404
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        a = s.get(Alert, alert["id"])
        assert s.get(AISuggestion, a.suggestion_id).status == "adopted"
    engine.dispose()


def test_why_this_alert_over_http_has_the_events_and_a_markdown_report(served):
    client, tokens, _ = served
    alert = client.get("/api/alerts", headers=auth(tokens["zhangwei"])).json()[0]
    exp = client.get(f"/api/alerts/{alert['id']}/explain?lang=en", headers=auth(tokens["zhangwei"])).json()
    assert exp["subject"] == f"alert:{alert['id']}" and 1 <= len(exp["events"]) <= 5
    assert "Confidence" in exp["markdown"]


def test_each_alert_goes_to_its_owners_wecom_once(tmp_path):
    home = tmp_path
    demo_home_with_tokens(home, ())
    _raise_alerts(home)
    fake = FakeWeComApi()
    settings = Settings(home=home, wecom_corp_id="ww1", wecom_secret="test-secret", wecom_agent_id="1000002",
                        wecom_api_base=fake.base)
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    first = deliver_pending(engine, settings)
    again = deliver_pending(engine, settings)
    with session_factory(engine)() as s:
        n = len(list(s.scalars(select(Alert.id))))
        owners = {a.id: s.get(User, a.owner_id).wecom_userid for a in s.scalars(select(Alert))}
    engine.dispose()
    assert first["wecom"] == n == len(fake.sent) > 0 and again["wecom"] == 0
    assert {m["touser"] for m in fake.sent} == set(owners.values())
    assert all(m["msgtype"] == "markdown" and ("置信度" in m["markdown"]["content"] or "confidence" in m["markdown"]["content"])
               for m in fake.sent)
