"""Operations: /metrics in the Prometheus format, /ready that checks the database and Chroma, a
request id on every response and log line, and no token or phone number in any log line."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.observability import REQUEST_ID, configure_logging, redact
from core.settings import Settings
from crm.db import make_engine, session_scope
from crm.models import User
from tests.api.conftest import demo_home_with_tokens
from tests.chroma_server import free_port
from tools.jobs import enqueue


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("ops-home")
    tokens = demo_home_with_tokens(home, ("zhangwei",))
    app = create_app(Settings(home=home, inline_worker=False, embedding_model="hash"))
    with TestClient(app) as client:
        yield client, tokens, home


def samples(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_latency_is_recorded_per_route_template_not_per_raw_path(served):
    client, tokens, _home = served
    before = samples(client)
    for job_id in (901, 902, 903):
        assert client.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {tokens['zhangwei']}"}).status_code == 404
    after = samples(client)
    key = {"route": "/api/jobs/{job_id}", "method": "GET", "status": "404"}
    assert value(after, "repcopilot_request_seconds_count", **key) - value(before, "repcopilot_request_seconds_count", **key) == 3
    assert not any("/api/jobs/901" in str(labels) for _name, labels in after)


def test_the_job_queue_depth_and_age_come_from_the_database(served):
    client, _tokens, home = served
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as s:
        user = s.query(User).filter_by(login="zhangwei").one()
        for _ in range(2):
            enqueue(s, "index_call", {"call_id": 1}, user_id=user.id)
    engine.dispose()
    found = samples(client)
    assert value(found, "repcopilot_jobs_queued") >= 2
    assert value(found, "repcopilot_jobs_oldest_queued_age_seconds") >= 0


def test_a_request_id_is_returned_and_a_given_one_is_kept(served):
    client, _tokens, _home = served
    assert re.fullmatch(r"[0-9a-f]{16}", client.get("/health").headers["x-request-id"])
    assert client.get("/health", headers={"X-Request-ID": "lb-42.a"}).headers["x-request-id"] == "lb-42.a"
    assert client.get("/health", headers={"X-Request-ID": "bad id"}).headers["x-request-id"] != "bad id"


def test_ready_is_a_503_that_names_chroma_when_the_configured_server_is_down_and_counts_it(served, tmp_path):
    _client, _tokens, home = served
    app = create_app(Settings(home=home, inline_worker=False, embedding_model="hash",
                              chroma_url=f"http://127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        before = samples(client)
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["status"] == "chroma unavailable" and "REPCOPILOT_CHROMA_URL" in r.json()["detail"]
        after = samples(client)
    assert value(after, "repcopilot_rejected_total", route="/ready") - value(before, "repcopilot_rejected_total", route="/ready") == 1


def test_ready_is_a_503_when_the_database_does_not_answer(tmp_path):
    settings = Settings(home=tmp_path, inline_worker=False, embedding_model="hash")
    demo_home_with_tokens(tmp_path, ("zhangwei",))
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.runtime.engine.dispose()
        (tmp_path / "repcopilot.db").rename(tmp_path / "gone.db")
        (tmp_path / "repcopilot.db").mkdir()  # the file is now a folder: SQLite cannot open it
        r = client.get("/ready")
    assert r.status_code == 503 and r.json()["status"] == "database unavailable", r.text


PHONE = "13812345678"
TOKEN = "rc_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"


def test_no_token_or_phone_number_reaches_a_json_log_line():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = configure_logging("json", stream=stream)
    try:
        log = logging.getLogger("repcopilot.test")
        marker = REQUEST_ID.set("req-7")
        try:
            log.info("lookup by %s for Authorization: Bearer %s", PHONE, TOKEN)
            log.warning("GET /api/wecom/callback?msg_signature=abc123&timestamp=1&nonce=xyz&echostr=SECRETECHO HTTP/1.1")
            log.info("contact +49 30 1234 5678 and +86 138-1234-5678 and token=%s", TOKEN)
            try:
                raise ValueError(f"call {PHONE} with {TOKEN}")
            except ValueError:
                log.exception("failed")
        finally:
            REQUEST_ID.reset(marker)
    finally:
        root.removeHandler(handler)
        root.handlers[:], root.level = saved[0], saved[1]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 4 and all(line["request_id"] == "req-7" for line in lines)
    text = stream.getvalue()
    for secret in (PHONE, TOKEN[3:], "SECRETECHO", "abc123", "1234 5678", "138-1234-5678"):
        assert secret not in text, secret
    assert "[phone]" in lines[0]["message"] and "Bearer [redacted]" in lines[0]["message"]
    assert "timestamp=1" in lines[1]["message"]  # what is not secret stays readable


@pytest.mark.parametrize("line, kept", [("job 12 done in 1733450000000 ms", "1733450000000"),
                                         ("2026-12-06T03:10:05.123+00:00 ready", "+00:00"),
                                         ("call 138 minutes", "138")])
def test_redaction_leaves_ids_times_and_numbers_that_are_not_phones(line, kept):
    assert kept in redact(line)


def test_an_agent_run_and_its_tools_are_timed(served):
    client, tokens, _home = served
    before = samples(client)
    r = client.post("/api/chat", json={"message": "本季度赢单率是多少?"}, headers={"Authorization": f"Bearer {tokens['zhangwei']}"})
    assert r.status_code == 200, r.text
    tools = [t["name"] for t in r.json()["tools"]]
    after = samples(client)
    assert value(after, "repcopilot_agent_run_seconds_count") - value(before, "repcopilot_agent_run_seconds_count") == 1
    assert tools and all(value(after, "repcopilot_tool_seconds_count", tool=name)
                         - value(before, "repcopilot_tool_seconds_count", tool=name) >= 1 for name in tools)


def test_scraper_allowed_only_with_the_exact_bearer_token_when_one_is_set():
    from api.observability import scraper_allowed

    assert scraper_allowed(None, None) and scraper_allowed("", "Bearer anything")
    assert scraper_allowed("s3cr3t-metrics-token", "Bearer s3cr3t-metrics-token")
    assert scraper_allowed("s3cr3t-metrics-token", "bearer s3cr3t-metrics-token")
    assert not scraper_allowed("s3cr3t-metrics-token", None)
    assert not scraper_allowed("s3cr3t-metrics-token", "Bearer s3cr3t-metrics-tokeN")
    assert not scraper_allowed("s3cr3t-metrics-token", "Basic s3cr3t-metrics-token")
    assert not scraper_allowed("s3cr3t-metrics-token", "s3cr3t-metrics-token")


def test_with_a_metrics_token_set_metrics_answers_401_without_it_and_200_with_it(served):
    _client, tokens, home = served
    app = create_app(Settings(home=home, inline_worker=False, embedding_model="hash", metrics_token="scrape-7f3a9c2e1d"))
    with TestClient(app) as client:
        bare = client.get("/metrics")
        assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
        assert "REPCOPILOT_METRICS_TOKEN" in bare.json()["detail"]
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
        # a user's API token is not the scraper's
        assert client.get("/metrics", headers={"Authorization": f"Bearer {tokens['zhangwei']}"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-7f3a9c2e1d"})
        assert ok.status_code == 200 and "repcopilot_request_seconds" in ok.text


def test_production_refuses_a_placeholder_metrics_token():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="REPCOPILOT_METRICS_TOKEN"):
        Settings(environment="production", metrics_token="changeme")
