"""Chat turns over HTTP are stored per user: a streamed answer whose tools write (a lead lookup
logs its AI suggestion) is stored and rated; threads and answers of others stay out of reach."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.settings import Settings
from crm.db import make_engine, session_factory
from crm.models import AISuggestion, ChatMessage
from tests.api.conftest import demo_home_with_tokens


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("history-home")
    tokens = demo_home_with_tokens(home, ("chenjing", "lina"))
    with TestClient(create_app(Settings(home=home))) as client:
        yield client, tokens, home


def _events(raw: str) -> list[tuple[str, dict]]:
    out = []
    for block in raw.split("\n\n"):
        if block.strip():
            head, data = block.split("\n", 1)
            out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_a_streamed_answer_whose_tool_writes_is_stored_in_the_conversation_and_can_be_rated(served):
    client, tokens, home = served
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        suggestions_before = s.scalar(select(func.count()).select_from(AISuggestion))
    headers = {"Authorization": f"Bearer {tokens['chenjing']}"}
    with client.stream("POST", "/api/chat", json={"message": "线索638怎么样?", "stream": True,
                                                  "thread_id": "mine-1"}, headers=headers) as r:
        events = _events("".join(r.iter_text()))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and "error" not in kinds, events[-1]
    done = events[-1][1]
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(AISuggestion)) > suggestions_before  # the tool wrote
        stored = s.get(ChatMessage, done["message_id"])
        assert stored.role == "assistant" and stored.text == done["answer"] and stored.tools == done["tools"]
    engine.dispose()
    detail = client.get("/api/conversations/mine-1", headers=headers).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["title"] == "线索638怎么样?" and detail["messages"][1]["html"] == done["html"]
    r = client.post(f"/api/answers/{done['message_id']}/feedback", json={"rating": "down", "reason": "太长"}, headers=headers)
    assert r.json() == {"message_id": done["message_id"], "rating": "down", "reason": "太长", "tool": done["tools"][0]["name"]}
    assert client.get("/api/conversations/mine-1", headers=headers).json()["messages"][1]["rating"] == -1


def test_a_thread_id_that_is_not_a_plain_token_is_refused_with_advice(served):
    client, tokens, _ = served
    r = client.post("/api/chat", json={"message": "hi", "thread_id": "../other user"},
                    headers={"Authorization": f"Bearer {tokens['lina']}"})
    assert r.status_code == 422 and "thread_id" in r.text
    assert client.get("/api/conversations/mine-1", headers={"Authorization": f"Bearer {tokens['lina']}"}).status_code == 404
