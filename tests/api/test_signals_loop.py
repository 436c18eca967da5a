"""The server runs the signal rules on its own (REPCOPILOT_SIGNALS_INTERVAL_S) and delivers each
new alert once to its owner's WeCom; the web lists it at /api/alerts."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from crm.db import make_engine, session_scope, upgrade_schema
from crm.models import Alert, AuditLog, User
from tests.api.test_wecom import A, FakeWeComApi
from tools.demo_setup import build_demo


def test_the_server_evaluates_the_rules_and_sends_each_new_alert_once_to_its_owner(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'repcopilot.db'}")
    upgrade_schema(engine)
    # The server's first round looks back one day from now; the demo's planted journeys complete on
    # the day before its as-of date. An as-of date 12 hours ahead keeps that day inside the window at
    # any hour (as_of = today failed after ~22:00, when the window no longer reached yesterday).
    build_demo(engine, seed=7, scale=1, as_of=(datetime.now() + timedelta(hours=12)).date())
    with session_scope(engine) as s:
        s.execute(update(User).values(wecom_userid="wx-" + User.login))
    fake = FakeWeComApi()
    settings = Settings(home=tmp_path, signals_interval_s=0.3, inline_worker=False, wecom_token=A["token"],
                        wecom_aes_key=A["aes"], wecom_corp_id=A["corp"], wecom_secret="s", wecom_agent_id="1000002",
                        wecom_api_base=fake.base)
    with TestClient(create_app(settings)) as client:
        deadline = time.time() + 60
        while time.time() < deadline:
            with session_scope(engine) as s:
                rounds = s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "signals.run"))
            if rounds >= 3:
                break
            time.sleep(0.2)
        assert rounds >= 3, "the server did not run the signal rules on its own"
        with session_scope(engine) as s:
            alerts = s.execute(select(Alert.id, User.login).join(User, User.id == Alert.owner_id)).all()
            token = create_token(s, s.scalar(select(User).where(User.login == alerts[0].login))) if alerts else None
        assert alerts, "the demo's last day fires no rule: the planted journeys end at the as-of date"
        sent = [m for m in fake.sent if m["msgtype"] == "markdown"]
        assert sorted(m["touser"] for m in sent) == sorted(f"wx-{a.login}" for a in alerts)  # each once, to its owner
        listed = client.get("/api/alerts", headers={"Authorization": f"Bearer {token}"}).json()
        assert alerts[0].id in [a["id"] for a in (listed["alerts"] if isinstance(listed, dict) else listed)]
    fake.httpd.shutdown()
    engine.dispose()
