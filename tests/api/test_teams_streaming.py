"""Teams personal chat with the LLM planner: the answer is streamed through the Agents SDK's
StreamingResponse — a "looking up …" update, the text as the scripted model writes it, then
one final message carrying the answer card — to the fake Bot Connector on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

import api.teams
from api.app import create_app
from core.settings import Settings
from crm.db import make_engine, session_scope, upgrade_schema
from crm.models import Lead, User
from evals.scripted_llm import ScriptedServer, held_text_reply, tool_call_reply
from tests.api.teams_fixtures import APP_ID, TENANT_ID, FakeBotServices, FixedTokenProvider, SigningKey, card_text, message_activity
from tests.api.test_teams import _new_id, _post, _wait_finished
from tests.conftest import AS_OF
from tools.demo_setup import build_demo

AAD = "aad-0000-zhangwei"


@pytest.fixture(scope="module")
def llm_bot(tmp_path_factory):
    home = tmp_path_factory.mktemp("teams-llm-home")
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "zhangwei").values(teams_aad_id=AAD))
        lead_id = s.scalar(select(Lead.id).join(User, User.id == Lead.owner_id).where(User.login == "zhangwei").limit(1))
    key = SigningKey()
    services = FakeBotServices(key)
    with ScriptedServer([]) as llm:
        settings = Settings(home=home, teams_app_id=APP_ID, teams_app_password="test-password", teams_tenant_id=TENANT_ID,
                            teams_jwks_url=f"{services.base}/keys", llm_base_url=llm.base_url, llm_model="scripted")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(api.teams, "OUTBOUND_TOKEN_PROVIDER", FixedTokenProvider)
            app = create_app(settings)
        with TestClient(app) as client:
            yield client, engine, services, key, llm, lead_id
    services.httpd.shutdown()
    engine.dispose()


def test_a_personal_chat_answer_streams_status_then_text_then_one_final_card(llm_bot):
    client, engine, services, key, llm, lead_id = llm_bot
    release = threading.Event()  # the model holds its last word until Teams has shown the first ones
    llm.script[:] = [tool_call_reply("lead_lookup", {"query": f"lead {lead_id}", "lead_id": lead_id}),
                     held_text_reply(f"Lead {lead_id} is warm: call the buyer today about the tender", release)]
    activity = message_activity(f"how is lead {lead_id}?", activity_id=_new_id(), service_url=services.base,
                                aad_object_id=AAD, locale="en-US")
    try:
        assert _post(client, key, activity).status_code in (200, 202)
        deadline = time.time() + 60
        while not any(s["activity"]["type"] == "typing" and "call the buyer" in (s["activity"].get("text") or "")
                      for s in list(services.sent)) and time.time() < deadline:
            time.sleep(0.05)
        partial = [s["activity"] for s in list(services.sent) if "call the buyer" in (s["activity"].get("text") or "")]
        assert partial and "tender" not in partial[0]["text"]  # Teams had the text before the model's last word
    finally:
        release.set()
    row = _wait_finished(engine, activity["id"])
    assert row.status == "answered" and "call the buyer today" in row.answer
    sent = [s["activity"] for s in services.sent]
    assert all(s["reply_to"] == activity["id"] for s in services.sent)  # the stream replies to the question
    kinds = [(a["type"], next((e.get("streamType") for e in a.get("entities") or [] if e.get("type") == "streaminfo"), None))
             for a in sent]
    assert kinds[0] == ("typing", "informative") and sent[0]["text"] == f"looking up lead #{lead_id} …"
    assert ("typing", "streaming") in kinds  # the text went out before the final message
    assert kinds[-1] == ("message", "final") and kinds.count(("message", "final")) == 1
    final = sent[-1]
    assert final["text"].strip() == f"Lead {lead_id} is warm: call the buyer today about the tender"
    attachments = final.get("attachments") or []
    assert len(attachments) == 1 and attachments[0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "call the buyer today" not in json.dumps(attachments[0]["content"], ensure_ascii=False)  # the text once, not twice
    assert "Evidence" in card_text(attachments[0]["content"])  # the card carries what follows the streamed text
    stream_ids = {e.get("streamId") for a in sent[1:] for e in a.get("entities") or [] if e.get("type") == "streaminfo"}
    assert stream_ids == {"sent-1"}  # every update after the first belongs to the stream the first one opened


def test_a_group_chat_is_still_told_to_use_the_personal_chat_without_streaming(llm_bot):
    client, engine, services, key, llm, lead_id = llm_bot
    services.sent.clear()
    activity = message_activity("hello", activity_id=_new_id(), service_url=services.base, aad_object_id=AAD,
                                locale="en-US", conversation_type="groupChat", conversation_id="19:group")
    _post(client, key, activity)
    _wait_finished(engine, activity["id"])
    sent = services.wait_sent(1)
    assert len(sent) == 1 and sent[0]["activity"]["type"] == "message" and not sent[0]["activity"].get("entities")
