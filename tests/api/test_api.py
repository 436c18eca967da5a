"""The HTTP API as a client uses it: tokens, chat (JSON and SSE), KPI with its chart."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import demo_home_with_tokens


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-home")
    tokens = demo_home_with_tokens(home, ("zhangwei", "chenjing", "linfang"))
    app = create_app(Settings(home=home))
    with TestClient(app) as client:
        yield client, tokens


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_health_and_readiness_answer_without_a_token(served):
    client, _ = served
    assert client.get("/health").json() == {"status": "ok"}
    runtime = client.app.state.runtime
    runtime.ready.wait(120)  # start-up opens the knowledge store and models in the background
    assert client.get("/ready").json() == {"status": "ready"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rc_wrong"}, {"Authorization": "Basic abc"}])
def test_a_missing_or_bad_token_is_401_with_advice(served, headers):
    client, _ = served
    r = client.post("/api/chat", json={"message": "hi"}, headers=headers)
    assert r.status_code == 401 and "repcopilot users token" in r.json()["detail"]


def test_chat_answers_a_kpi_question_with_its_definition_as_evidence(served):
    client, tokens = served
    r = client.post("/api/chat", json={"message": "本季度华东区线索72小时跟进率"}, headers=auth(tokens["chenjing"]))
    body = r.json()
    assert r.status_code == 200 and body["language"] == "zh"
    assert body["tools"][0]["name"] == "kpi_query"
    assert any(e["kind"] == "metric" for e in body["evidence"]) and "口径" in body["answer"]


def test_chat_streams_tokens_then_the_whole_answer(served):
    client, tokens = served
    with client.stream("POST", "/api/chat", json={"message": "win rate this year", "stream": True}, headers=auth(tokens["chenjing"])) as r:
        raw = "".join(r.iter_text())
    events = [block for block in raw.split("\n\n") if block.strip()]
    statuses = [e for e in events if e.startswith("event: status")]
    assert statuses and "KPI" in statuses[0]  # the tool call is announced before the answer
    events = [e for e in events if e not in statuses]
    assert events[0].startswith("event: token") and events[-1].startswith("event: done")
    done = json.loads(events[-1].split("data: ", 1)[1])
    streamed = "".join(json.loads(e.split("data: ", 1)[1])["text"] for e in events[:-1])
    assert streamed.strip() == done["answer"].strip()


def test_kpi_endpoint_returns_json_and_a_chart_only_its_owner_can_fetch(served):
    client, tokens = served
    r = client.post("/api/kpi", json={"question": "今年各区域赢单率"}, headers=auth(tokens["chenjing"]))
    data = r.json()
    assert r.status_code == 200 and data["metric"] == "win_rate" and data["chart"]
    png = client.get(data["chart"], headers=auth(tokens["chenjing"]))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert client.get(data["chart"], headers=auth(tokens["zhangwei"])).status_code == 404


def test_a_chat_kpi_breakdown_links_its_chart_for_its_asker_only(served):
    client, tokens = served
    r = client.post("/api/chat", json={"message": "win rate by team this year"}, headers=auth(tokens["chenjing"]))
    body = r.json()
    assert r.status_code == 200 and len(body["images"]) == 1
    png = client.get(body["images"][0], headers=auth(tokens["chenjing"]))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert client.get(body["images"][0], headers=auth(tokens["zhangwei"])).status_code == 404


def test_a_trainer_asking_a_pipeline_kpi_gets_403(served):
    client, tokens = served
    r = client.post("/api/kpi", json={"question": "上个月赢单率"}, headers=auth(tokens["linfang"]))
    assert r.status_code == 403 and "培训师" in r.json()["detail"]


def test_an_unknown_metric_is_422_naming_the_closest(served):
    client, tokens = served
    r = client.post("/api/kpi", json={"question": "what is our NPS"}, headers=auth(tokens["chenjing"]))
    assert r.status_code == 422 and "Closest metrics" in r.json()["detail"]


def _first_open(client, token) -> dict:
    rows = client.get("/api/suggestions?status=shown", headers=auth(token)).json()
    assert rows, "the demo company shows every rep some suggestions"
    return rows[0]


def test_a_rep_adopts_own_suggestion_once_and_a_repeat_changes_nothing(served):
    client, tokens = served
    row = _first_open(client, tokens["zhangwei"])
    first = client.post(f"/api/suggestions/{row['id']}/adopt", headers=auth(tokens["zhangwei"]))
    again = client.post(f"/api/suggestions/{row['id']}/adopt", headers=auth(tokens["zhangwei"]))
    assert first.status_code == again.status_code == 200
    assert first.json()["changed"] is True and again.json()["changed"] is False
    assert again.json()["suggestion"]["status"] == "adopted"
    reverse = client.post(f"/api/suggestions/{row['id']}/dismiss?lang=en", headers=auth(tokens["zhangwei"]))
    assert reverse.status_code == 422 and "adopted" in reverse.json()["detail"]
    listed = {r["id"]: r for r in client.get("/api/suggestions", headers=auth(tokens["zhangwei"])).json()}
    assert listed[row["id"]]["status"] == "adopted"


def test_another_reps_suggestion_cannot_be_decided_or_listed(served):
    client, tokens = served
    mine = {r["id"] for r in client.get("/api/suggestions", headers=auth(tokens["zhangwei"])).json()}
    team = client.get("/api/suggestions?limit=500", headers=auth(tokens["chenjing"])).json()
    assert mine < {r["id"] for r in team}  # the manager sees the team's, the rep only their own
    other = next(r for r in team if r["owner_login"] != "zhangwei" and r["status"] == "shown")
    refused = client.post(f"/api/suggestions/{other['id']}/dismiss", headers=auth(tokens["zhangwei"]))
    missing = client.post("/api/suggestions/99999999/dismiss", headers=auth(tokens["zhangwei"]))
    assert refused.status_code == missing.status_code == 404  # not yours and not there: the same answer
    assert refused.json()["detail"].replace(str(other["id"]), "N") == missing.json()["detail"].replace("99999999", "N")
    still = {r["id"]: r for r in client.get("/api/suggestions?limit=500", headers=auth(tokens["chenjing"])).json()}
    assert still[other["id"]]["status"] == "shown"
    assert client.post("/api/suggestions/99999999/adopt", headers=auth(tokens["zhangwei"])).status_code == 404
    assert client.post(f"/api/suggestions/{other['id']}/maybe", headers=auth(tokens["chenjing"])).status_code == 404


def test_every_request_context_carries_the_deployments_anonymized_switch_and_the_users_language(tmp_path):
    """One place builds the ToolContext for HTTP routes and channels (Runtime.context): the privacy
    switch cannot be forgotten by a new endpoint."""
    from api.runtime import Runtime
    from crm.access import get_user

    demo_home_with_tokens(tmp_path, ())
    for switch in (True, False):
        runtime = Runtime(Settings(home=tmp_path, anonymized_aggregate_mode=switch, inline_worker=False))
        try:
            with runtime.session_factory() as session:
                david = get_user(session, "davidchen")
                assert runtime.context(session, david).anonymized is switch
                assert runtime.context(session, david).language == "en"
                assert runtime.context(session, david.id, "zh").language == "zh"
                assert runtime.context(session, david, "fr").language == "en"  # an unknown language falls back to the user's
        finally:
            runtime.close()


def test_an_unsure_answer_offers_its_readings_and_replying_with_a_number_picks_one(served, monkeypatch):
    """The web chat shows ``choices`` as chips; a tap sends the reading's number in the same thread."""
    from agent.planners import OfflinePlanner

    client, tokens = served
    monkeypatch.setattr(OfflinePlanner, "confident", 1.01)  # nothing is sure enough: always offer the readings
    first = client.post("/api/chat", json={"message": "复盘我最近的一次通话", "thread_id": "unsure1"},
                        headers=auth(tokens["chenjing"])).json()
    assert first["tools"] == [] and 2 <= len(first["choices"]) <= 3
    assert [c["reply"] for c in first["choices"]] == [str(i) for i in range(1, len(first["choices"]) + 1)]
    picked = client.post("/api/chat", json={"message": first["choices"][0]["reply"], "thread_id": "unsure1"},
                         headers=auth(tokens["chenjing"])).json()
    assert picked["tools"] and picked["tools"][0]["name"] == "call_debrief"
