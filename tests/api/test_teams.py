"""Teams bot endpoint through the Microsoft 365 Agents SDK: the SDK's JWT validator with its key
lookup pointed at a local key set, an expectReplies round trip, Adaptive Card replies through a
fake Bot Connector on 127.0.0.1, each activity id answered once, proactive alerts."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

import api.teams
from api.app import create_app
from api.teams import send_proactive
from core.errors import NotFoundError
from core.settings import Settings
from crm.db import make_engine, session_scope, upgrade_schema
from crm.models import AISuggestion, ConversationRef, InboundMessage, User
from tests.api.teams_fixtures import (
    APP_ID,
    OUTBOUND_TOKEN,
    TENANT_ID,
    FakeBotServices,
    FixedTokenProvider,
    SigningKey,
    card_of,
    card_text,
    message_activity,
)
from tests.conftest import AS_OF
from tools.demo_setup import build_demo

AAD = {"zhangwei": "aad-0000-zhangwei", "chenjing": "aad-0000-chenjing", "wangjianhua": "aad-0000-wangjianhua"}
STRANGER = "aad-9999-not-enrolled"


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    home = tmp_path_factory.mktemp("teams-home")
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:
        for login, aad in AAD.items():
            s.execute(update(User).where(User.login == login).values(teams_aad_id=aad))
    key = SigningKey()
    services = FakeBotServices(key)
    settings = Settings(home=home, teams_app_id=APP_ID, teams_app_password="test-password", teams_tenant_id=TENANT_ID,
                        teams_jwks_url=f"{services.base}/keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api.teams, "OUTBOUND_TOKEN_PROVIDER", FixedTokenProvider)  # instead of MSAL → login.microsoftonline.com
        app = create_app(settings)
    with TestClient(app) as client:
        yield client, engine, services, key
    services.httpd.shutdown()
    engine.dispose()


@pytest.fixture
def teams(bot):
    client, engine, services, key = bot
    services.sent.clear()
    services.fail_next = 0
    return client, engine, services, key


def _post(client, key: SigningKey, activity: dict, *, token: str | None = None):
    token = token or key.token(service_url=activity["serviceUrl"])
    return client.post("/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"})


def _new_id() -> str:
    return f"1:{uuid.uuid4().hex}"


def _rows(engine, activity_id: str) -> list[InboundMessage]:
    with session_scope(engine) as s:
        rows = list(s.scalars(select(InboundMessage).where(InboundMessage.channel == "teams",
                                                           InboundMessage.platform_msg_id == activity_id)))
        s.expunge_all()
        return rows


def _wait_finished(engine, activity_id: str, timeout_s: float = 60.0) -> InboundMessage:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        rows = _rows(engine, activity_id)
        if rows and rows[0].status != "queued":
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"Teams activity {activity_id} not finished in time")


def _count(engine, model) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


# -- inbound authentication ---------------------------------------------------------------------

def _bad_headers(key: SigningKey, service_url: str) -> dict[str, dict]:
    stranger = SigningKey()  # same kid, another key: the signature cannot verify
    return {
        "no Authorization header": {},
        "not a bearer token": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage token": {"Authorization": "Bearer not.a.jwt"},
        "signed by another key": {"Authorization": f"Bearer {stranger.token(service_url=service_url)}"},
        "for another app (audience)": {"Authorization": f"Bearer {key.token(aud='another-bot-app-id', service_url=service_url)}"},
        "expired": {"Authorization": f"Bearer {key.token(expires_in_s=-600, service_url=service_url)}"},
        "from a foreign issuer": {"Authorization": f"Bearer {key.token(iss='https://evil.example.com', service_url=service_url)}"},
        "for another serviceUrl": {"Authorization": f"Bearer {key.token(service_url='https://smba.evil.example.com/')}"},
    }


@pytest.mark.parametrize("case", ["no Authorization header", "not a bearer token", "garbage token", "signed by another key",
                                  "for another app (audience)", "expired", "from a foreign issuer",
                                  "for another serviceUrl"])
def test_a_missing_bad_or_foreign_token_is_401_and_nothing_is_stored_or_sent(teams, case):
    client, engine, services, key = teams
    before = _count(engine, InboundMessage)
    activity_id = _new_id()
    activity = message_activity("我的建议", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["zhangwei"])
    r = client.post("/api/messages", json=activity, headers=_bad_headers(key, services.base)[case])
    assert r.status_code == 401
    time.sleep(0.2)
    assert _count(engine, InboundMessage) == before and _rows(engine, activity_id) == []
    assert services.sent == []


def test_the_signing_keys_come_from_the_configured_key_set(teams):
    """The validator really fetched the local JWKS (the SDK's own lookup would go to login.botframework.com)."""
    client, _, services, key = teams
    activity = message_activity("hi", activity_id=_new_id(), service_url=services.base, aad_object_id=STRANGER,
                                expect_replies=True)
    assert _post(client, key, activity).status_code == 200
    assert services.key_fetches >= 1


@pytest.mark.parametrize("body", ["not json", '{"type": "message"}', '{"type": "message", "conversation": 7}'])
def test_a_valid_token_with_a_malformed_activity_is_400_and_nothing_is_stored(teams, body):
    client, engine, services, key = teams
    before = _count(engine, InboundMessage)
    r = client.post("/api/messages", content=body, headers={"Authorization": f"Bearer {key.token()}",
                                                              "Content-Type": "application/json"})
    assert r.status_code == 400
    assert _count(engine, InboundMessage) == before


# -- answers ------------------------------------------------------------------------------------

def test_an_expect_replies_round_trip_returns_an_adaptive_card_with_evidence_and_confidence(teams):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("本季度华东区线索72小时跟进率", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", expect_replies=True)
    r = _post(client, key, activity)
    assert r.status_code == 200
    replies = r.json()["activities"]
    assert len(replies) == 1 and replies[0]["type"] == "message"
    card = card_of(replies[0])
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    text = card_text(card)
    assert "口径" in text  # the answer names the metric's definition
    assert "依据" in text and "metric" in text  # Chinese labels for a Chinese answer; the metric as evidence
    assert "置信度" in text
    assert services.sent == []  # expectReplies: nothing goes through the connector
    row = _wait_finished(engine, activity_id)
    with session_scope(engine) as s:
        chenjing = s.scalar(select(User.id).where(User.login == "chenjing"))
    assert row.status == "answered" and row.user_id == chenjing and row.conversation_id == "teams:a:chenjing-personal"
    assert row.platform_user_id == AAD["chenjing"] and row.text == "本季度华东区线索72小时跟进率"


def test_a_normal_message_is_acknowledged_at_once_and_the_card_reaches_the_connector_as_a_reply(teams):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("win rate this year", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", locale="en-US")
    r = _post(client, key, activity)
    assert r.status_code == 202
    sent = services.wait_sent(1)
    assert len(sent) == 1
    assert sent[0]["conversation"] == "a:chenjing-personal" and sent[0]["reply_to"] == activity_id
    assert sent[0]["authorization"] == f"Bearer {OUTBOUND_TOKEN}"  # the outbound token provider's token
    card = card_of(sent[0]["activity"])
    assert "Evidence" in card_text(card) and "Confidence" in card_text(card)
    assert sent[0]["activity"]["recipient"]["aadObjectId"] == AAD["chenjing"]
    assert _wait_finished(engine, activity_id).status == "answered"


def test_a_retried_activity_is_answered_once(teams):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("win rate this year", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", locale="en-US")
    for _ in range(3):  # the Bot Connector retries a slow or failed delivery with the same activity id
        assert _post(client, key, activity).status_code == 202
    services.wait_sent(1)
    _wait_finished(engine, activity_id)
    time.sleep(0.5)
    assert len(_rows(engine, activity_id)) == 1 and len(services.sent) == 1
    again = _post(client, key, {**activity, "deliveryMode": "expectReplies"})
    assert again.status_code == 200 and again.json().get("activities", []) == []


@pytest.mark.parametrize(("locale", "first", "second"), [("zh-CN", "您还没有开通", "not enrolled"),
                                                         ("en-US", "not enrolled", "您还没有开通")])
def test_an_unknown_aad_user_gets_a_polite_bilingual_not_enrolled_reply_and_no_data(teams, locale, first, second):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("上个月赢单率", activity_id=activity_id, service_url=services.base,
                                aad_object_id=STRANGER, conversation_id="a:stranger", locale=locale, expect_replies=True)
    refs_before = _count(engine, ConversationRef)
    r = _post(client, key, activity)
    assert r.status_code == 200
    replies = r.json()["activities"]
    assert len(replies) == 1 and not replies[0].get("attachments")  # no card, no numbers
    text = replies[0]["text"]
    assert first in text and second in text and text.index(first) < text.index(second)
    assert "%" not in text
    row = _wait_finished(engine, activity_id)
    assert row.user_id is None and row.status == "answered"
    assert _count(engine, ConversationRef) == refs_before


def test_a_group_chat_question_is_not_answered_there(teams):
    """Answers carry the asker's data: in a group chat or channel the bot asks for a personal chat."""
    client, _, services, key = teams
    activity = message_activity("<at>repcopilot</at> 我的建议", activity_id=_new_id(), service_url=services.base,
                                aad_object_id=AAD["zhangwei"], conversation_id="19:team-channel@thread.tacv2",
                                conversation_type="channel", expect_replies=True)
    replies = _post(client, key, activity).json()["activities"]
    assert len(replies) == 1 and not replies[0].get("attachments") and "私聊" in replies[0]["text"]


def test_a_failed_delivery_is_recorded_as_failed(teams):
    client, engine, services, key = teams
    services.fail_next = 10  # the SDK's apology goes the same way and fails too
    activity_id = _new_id()
    activity = message_activity("win rate this year", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", locale="en-US")
    assert _post(client, key, activity).status_code == 202
    assert _wait_finished(engine, activity_id).status == "failed"


@pytest.mark.parametrize("question", ["上个月各区域线索72小时跟进率", "win rate by region last quarter"])
def test_a_kpi_breakdown_card_carries_its_chart_within_teams_message_limit(teams, question):
    client, _, services, key = teams
    activity = message_activity(question, activity_id=_new_id(), service_url=services.base,
                                aad_object_id=AAD["wangjianhua"], conversation_id="a:wang-personal", expect_replies=True)
    r = _post(client, key, activity)
    card = card_of(r.json()["activities"][0])
    images = [b for b in card["body"] if b["type"] == "Image"]
    notes = [b for b in card["body"] if b["type"] == "TextBlock" and ("图表太大" in b["text"] or "too large" in b["text"])]
    assert len(images) + len(notes) == 1  # the chart inline, or a note saying where to see it
    if images:
        assert images[0]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert len(r.content) < 28_000 and ".png" not in card_text(card)
    tables = [b for b in card["body"] if b["type"] == "Table"]  # a markdown table would show as raw pipes
    assert len(tables) == 1 and "|" not in card_text(card)
    header = [cell["items"][0]["text"] for cell in tables[0]["rows"][0]["cells"]]
    assert header[0] in ("区域", "region") and len(tables[0]["rows"]) == 5  # header + four regions


# -- proactive messages -------------------------------------------------------------------------

def test_a_proactive_alert_reaches_the_user_through_the_stored_conversation_reference(teams):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("我的建议", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["zhangwei"], conversation_id="a:zhangwei-personal", expect_replies=True)
    assert _post(client, key, activity).status_code == 200
    with session_scope(engine) as s:
        zhangwei = s.scalar(select(User.id).where(User.login == "zhangwei"))
        ref = s.scalar(select(ConversationRef).where(ConversationRef.channel == "teams", ConversationRef.user_id == zhangwei))
        assert ref is not None and ref.reference["conversation"]["id"] == "a:zhangwei-personal"
        assert ref.reference["serviceUrl"] == services.base
    runtime = client.app.state.runtime
    alert = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "华东医院线索 48 小时未跟进"}]}
    sent_id = send_proactive(runtime, zhangwei, alert)
    assert sent_id == "sent-1" and len(services.sent) == 1
    out = services.sent[0]
    assert out["conversation"] == "a:zhangwei-personal" and out["reply_to"] is None  # a new message, not a reply
    assert card_of(out["activity"]) == alert and out["activity"]["recipient"]["aadObjectId"] == AAD["zhangwei"]
    send_proactive(runtime, zhangwei, "Plain text alert")
    assert services.sent[1]["activity"]["text"] == "Plain text alert"


def test_installing_the_app_for_a_user_stores_where_alerts_go_before_they_write(teams):
    client, engine, services, key = teams
    activity = message_activity("", activity_id=_new_id(), service_url=services.base, aad_object_id=AAD["wangjianhua"],
                                conversation_id="a:wang-installed")
    activity.update({"type": "installationUpdate", "action": "add"})
    del activity["text"]
    assert _post(client, key, activity).status_code == 202
    with session_scope(engine) as s:
        wang = s.scalar(select(User.id).where(User.login == "wangjianhua"))
    assert send_proactive(client.app.state.runtime, wang, "欢迎使用 repcopilot") is not None
    assert services.sent[-1]["conversation"] == "a:wang-installed"


def test_a_proactive_alert_to_a_user_who_never_wrote_says_what_to_do(teams):
    client, engine, _, _ = teams
    with session_scope(engine) as s:
        linfang = s.scalar(select(User.id).where(User.login == "linfang"))
    with pytest.raises(NotFoundError, match="message the bot in Teams once"):
        send_proactive(client.app.state.runtime, linfang, "hello")


# -- Adaptive Card actions ----------------------------------------------------------------------

def _invoke(activity_id: str, service_url: str, aad: str, verb: str, suggestion_id: int | str) -> dict:
    activity = message_activity("", activity_id=activity_id, service_url=service_url, aad_object_id=aad,
                                conversation_id=f"a:{aad}", locale="en-US")
    activity.update({"type": "invoke", "name": "adaptiveCard/action",
                     "value": {"action": {"type": "Action.Execute", "verb": verb,
                                          "data": {"suggestion_id": str(suggestion_id)}}}})
    del activity["text"]
    return activity


def test_a_suggestion_card_offers_adopt_and_dismiss_and_the_button_records_the_decision_once(teams):
    client, engine, services, key = teams
    activity = message_activity("my suggestions", activity_id=_new_id(), service_url=services.base,
                                aad_object_id=AAD["zhangwei"], conversation_id="a:zhangwei-personal", locale="en-US",
                                expect_replies=True)
    card = card_of(_post(client, key, activity).json()["activities"][0])
    adopt = next(a for a in card["actions"] if a["verb"] == "suggestion.adopt")
    assert adopt["type"] == "Action.Execute"
    sid = int(adopt["data"]["suggestion_id"])
    for attempt in range(2):
        r = _post(client, key, _invoke(_new_id(), services.base, AAD["zhangwei"], "suggestion.adopt", sid))
        assert r.status_code == 200
        body = r.json()
        assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.activity.message"
        # in zhangwei's language (zh), whatever the client's locale
        assert (f"已将建议 {sid} 标记为已采纳" if attempt == 0 else "无需重复操作") in body["value"]
    with session_scope(engine) as s:
        assert s.get(AISuggestion, sid).status == "adopted"


def test_a_card_button_cannot_decide_another_reps_suggestion(teams):
    client, engine, services, key = teams
    with session_scope(engine) as s:
        zhangwei = s.scalar(select(User.id).where(User.login == "zhangwei"))
        other = s.scalar(select(AISuggestion.id).where(AISuggestion.user_id != zhangwei, AISuggestion.status == "shown")
                         .order_by(AISuggestion.id))
    r = _post(client, key, _invoke(_new_id(), services.base, AAD["zhangwei"], "suggestion.dismiss", other))
    assert r.status_code == 200 and "不是给你的" in r.json()["value"]
    r = _post(client, key, _invoke(_new_id(), services.base, STRANGER, "suggestion.dismiss", other))
    assert "not enrolled" in r.json()["value"]
    with session_scope(engine) as s:
        assert s.get(AISuggestion, other).status == "shown"


def test_a_signal_alert_reaches_its_owner_in_teams_once(teams):
    from datetime import datetime

    from api.notify import deliver_alert
    from crm.models import Account, Alert

    client, engine, services, key = teams
    activity = message_activity("", activity_id=_new_id(), service_url=services.base, aad_object_id=AAD["chenjing"],
                                conversation_id="a:chenjing-alerts")
    activity.update({"type": "installationUpdate", "action": "add"})
    del activity["text"]
    assert _post(client, key, activity).status_code == 202
    runtime = client.app.state.runtime
    with session_scope(engine) as s:
        chenjing = s.scalar(select(User.id).where(User.login == "chenjing"))
        now = datetime(2026, 11, 20, 12)
        alert = Alert(rule="cbi_jump", fire_key=f"teams-test-{_new_id()}", account_id=s.scalar(select(Account.id).limit(1)),
                      owner_id=chenjing, title="意向指数跃升:华东医院线索", action="24 小时内电话跟进", evidence=[],
                      confidence=0.8, status="shown", fired_at=now, created_at=now)
        s.add(alert)
        s.flush()
        before = len(services.sent)
        first = deliver_alert(s, alert, teams_runtime=runtime)
        again = deliver_alert(s, alert, teams_runtime=runtime)  # a second delivery round sends nothing new
    assert f"teams:{chenjing}" in first and first == again
    assert len(services.sent) == before + 1
    out = services.sent[-1]
    assert out["conversation"] == "a:chenjing-alerts" and "意向指数跃升" in json.dumps(out["activity"], ensure_ascii=False)


def test_a_message_beyond_the_agent_slots_is_503_with_retry_after_and_nothing_is_stored(teams):
    """Back-pressure: when every agent slot is taken the Bot Connector gets 503 + Retry-After (it
    retries); a message accepted later holds a slot until its answer is out, then gives it back."""
    client, engine, services, key = teams
    gate = client.app.state.runtime.agent_gate
    taken = sum(gate.try_acquire() for _ in range(gate.limit))
    activity_id = _new_id()
    activity = message_activity("win rate this year", activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", locale="en-US")
    try:
        busy = _post(client, key, activity)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == str(gate.retry_after_s)
        assert _rows(engine, activity_id) == []
    finally:
        for _ in range(taken):
            gate.release()
    assert _post(client, key, activity).status_code == 202  # the retry goes through
    assert _wait_finished(engine, activity_id).status == "answered"
    for _ in range(200):
        if gate.running == 0:
            break
        time.sleep(0.05)
    assert gate.running == 0


def test_an_activity_over_the_size_limit_is_413_and_nothing_is_stored(teams):
    client, engine, services, key = teams
    activity_id = _new_id()
    activity = message_activity("x" * (300 * 1024), activity_id=activity_id, service_url=services.base,
                                aad_object_id=AAD["chenjing"], conversation_id="a:chenjing-personal", locale="en-US")
    assert _post(client, key, activity).status_code == 413 and _rows(engine, activity_id) == []


def test_an_unsure_answers_readings_are_card_buttons_that_post_their_number():
    from agent.service import Answer
    from api.teams import answer_card

    card = answer_card(Answer(answer="我不太确定你想问的是哪一个", language="zh",
                              choices=[{"label": "复盘通话", "reply": "1"}, {"label": "查 KPI 指标", "reply": "2"}]))
    backs = [a for a in card["actions"] if a["type"] == "Action.Submit"]
    assert [(a["title"], a["data"]["msteams"]) for a in backs] == [("复盘通话", {"type": "imBack", "value": "1"}),
                                                                   ("查 KPI 指标", {"type": "imBack", "value": "2"})]
