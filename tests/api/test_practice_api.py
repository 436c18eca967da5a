"""Practice over HTTP: scenarios in the caller's language, a session from a phrase, typed and
recorded rep turns (the pause measured by the speech pipeline), the report, access by role —
another user's session answers exactly like one that does not exist — and refused uploads that
say what to do and leave nothing behind."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.practice import parse_script
from api.app import create_app
from core.settings import Settings
from evals.practice_eval import SCRIPTS_DIR
from tests.api.conftest import demo_home_with_tokens
from tools.practice.scenario import BUILTIN_DIR, load_file

LOGINS = ("zhangwei", "lina", "davidchen", "chenjing", "huanglei", "linfang")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("practice-home")
    tokens = demo_home_with_tokens(home, LOGINS)
    app = create_app(Settings(home=home, max_upload_mb=1, whisper_model="tiny.en"))
    with TestClient(app) as client:
        yield client, tokens, home


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _start(client, token: str, scenario: str) -> dict:
    r = client.post("/api/practice/sessions", json={"scenario": scenario}, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()


def _practice_uploads(home: Path) -> list[Path]:
    folder = home / "uploads" / "practice"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_scenarios_are_listed_in_the_callers_language_and_need_a_token(served):
    client, tokens, _ = served
    assert client.get("/api/practice/scenarios").status_code == 401
    zh = {s["code"]: s["title"] for s in client.get("/api/practice/scenarios", headers=auth(tokens["zhangwei"])).json()["scenarios"]}
    en = {s["code"]: s["title"] for s in client.get("/api/practice/scenarios", headers=auth(tokens["davidchen"])).json()["scenarios"]}
    s = load_file(BUILTIN_DIR / "hospital-price-objection.yaml")
    assert len(zh) >= 8 and set(zh) == set(en)
    assert zh["hospital-price-objection"] == s.title.zh and en["hospital-price-objection"] == s.title.en
    forced = client.get("/api/practice/scenarios?lang=en", headers=auth(tokens["zhangwei"])).json()["scenarios"]
    assert {x["code"]: x["title"] for x in forced} == en
    bad = client.get("/api/practice/scenarios?lang=fr", headers=auth(tokens["zhangwei"]))
    assert bad.status_code == 422 and "lang=zh" in bad.json()["detail"]


def test_a_rep_reads_the_brief_without_the_hidden_pain_points_a_trainer_with_them(served):
    client, tokens, _ = served
    rep = client.get("/api/practice/scenarios/hospital-price-objection", headers=auth(tokens["zhangwei"])).json()
    trainer = client.get("/api/practice/scenarios/hospital-price-objection", headers=auth(tokens["linfang"])).json()
    assert rep["opening"] == trainer["opening"] and rep["situation"]
    assert "pain_points" not in rep or isinstance(rep["pain_points"], int)  # a count at most, never the pains
    assert "rubric" not in rep and {p["id"] for p in trainer["pain_points"]} >= {"downtime"} and trainer["rubric"]
    by_phrase = client.get("/api/practice/scenarios/hospital price objection", headers=auth(tokens["davidchen"]))
    assert by_phrase.status_code == 200 and by_phrase.json()["code"] == "hospital-price-objection"
    missing = client.get("/api/practice/scenarios/underwater-basket-weaving", headers=auth(tokens["davidchen"]))
    assert missing.status_code == 404 and "choose from" in missing.json()["detail"] and "hospital-price-objection" in missing.json()["detail"]


def test_a_session_started_from_a_chinese_phrase_opens_with_the_customers_line(served):
    client, tokens, _ = served
    view = _start(client, tokens["zhangwei"], "医院采购价格异议")
    s = load_file(BUILTIN_DIR / "hospital-price-objection.yaml")
    assert view["scenario"] == "hospital-price-objection" and view["opening"] == s.opening and view["title"] == s.title.zh
    assert view["turns_url"] == f"/api/practice/sessions/{view['session_id']}/turns"
    mine = client.get("/api/practice/sessions", headers=auth(tokens["zhangwei"])).json()
    assert view["session_id"] in {r["id"] for r in mine}


@pytest.mark.parametrize(("body", "status", "says"), [
    ({}, 422, "scenario"),
    ({"scenario": ""}, 422, "scenario"),
    ({"scenario": "hospital-price-objection", "persona": "llm"}, 422, "persona"),
    ({"scenario": "北京明天天气怎么样"}, 404, "可选"),
])
def test_a_bad_start_request_is_refused_with_advice_and_starts_nothing(served, body, status, says):
    client, tokens, _ = served
    before = len(client.get("/api/practice/sessions", headers=auth(tokens["lina"])).json())
    r = client.post("/api/practice/sessions", json=body, headers=auth(tokens["lina"]))
    assert r.status_code == status and says in str(r.json()["detail"]), r.text
    assert len(client.get("/api/practice/sessions", headers=auth(tokens["lina"])).json()) == before


def test_a_typed_session_runs_to_a_report_with_cited_verdicts_and_then_takes_no_more_turns(served):
    client, tokens, _ = served
    sid = _start(client, tokens["davidchen"], "mfg-cfo-no-budget")["session_id"]
    script = parse_script((SCRIPTS_DIR / "mfg-cfo-no-budget.strong.txt").read_text(encoding="utf-8").splitlines())
    turns = []
    for text, pause in script:
        body = {"text": text} | ({"pause_s": pause} if pause is not None else {})
        r = client.post(f"/api/practice/sessions/{sid}/turns", json=body, headers=auth(tokens["davidchen"]))
        assert r.status_code == 200, r.text
        turns.append(r.json())
        if turns[-1]["ended"]:
            break
    assert [t["rep"]["text"] for t in turns] == [text for text, _ in script[:len(turns)]]
    assert all(t["customer"]["text"] and t["customer"]["idx"] == t["rep"]["idx"] + 1 for t in turns)
    assert turns[-1]["running"]["pain_points_found"] >= 2 and turns[-1]["running"]["why_questions"] >= 2
    end = client.post(f"/api/practice/sessions/{sid}/end", headers=auth(tokens["davidchen"]))
    assert end.status_code == 200, end.text
    report = end.json()
    assert {"transcript", "scores", "rubric", "pain_points_found", "report"} <= set(report)
    assert report["scores"]["rubric"] == 100.0 and report["report"]["do_differently"] is not None
    by_idx = {t["idx"]: t["text"] for t in report["transcript"]}
    assert all(by_idx[v["turn"]] == v["quote"] for v in report["rubric"] if v["passed"])
    again = client.post(f"/api/practice/sessions/{sid}/end", headers=auth(tokens["davidchen"])).json()
    assert again["scores"] == report["scores"]  # ending twice gives the same report
    late = client.post(f"/api/practice/sessions/{sid}/turns", json={"text": "One more thing?"}, headers=auth(tokens["davidchen"]))
    assert late.status_code == 422 and "has ended" in late.json()["detail"]
    rows = client.get("/api/practice/report?scenario=mfg-cfo-no-budget", headers=auth(tokens["linfang"])).json()["rows"]
    assert any(r["rep"] == "davidchen" and r["last"] == report["scores"]["overall"] for r in rows)


@pytest.mark.parametrize(("body", "says"), [
    ({"text": "   "}, "empty"),
    ({"words": "hello"}, "text"),
    ({"text": "Why?", "pause_s": -1}, "pause_s"),
])
def test_a_bad_typed_turn_is_refused_with_advice_and_changes_nothing(served, body, says):
    client, tokens, _ = served
    sid = _start(client, tokens["lina"], "gov-tender-policy")["session_id"]
    r = client.post(f"/api/practice/sessions/{sid}/turns", json=body, headers=auth(tokens["lina"]))
    assert r.status_code == 422 and says in r.json()["detail"], r.text
    view = client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens["lina"])).json()
    assert len(view["transcript"]) == 1  # only the customer's opening


def test_another_users_session_answers_like_a_missing_one_and_a_manager_reads_only_the_team(served):
    client, tokens, _ = served
    sid = _start(client, tokens["zhangwei"], "hospital-price-objection")["session_id"]
    client.post(f"/api/practice/sessions/{sid}/turns", json={"text": "您好 周主任"}, headers=auth(tokens["zhangwei"]))
    missing = 999_999
    for login in ("lina", "chenjing", "huanglei", "linfang"):
        for method, path, kw in (("post", "turns", {"json": {"text": "为什么?"}}), ("post", "end", {})):
            theirs = getattr(client, method)(f"/api/practice/sessions/{sid}/{path}", headers=auth(tokens[login]), **kw)
            none = getattr(client, method)(f"/api/practice/sessions/{missing}/{path}", headers=auth(tokens[login]), **kw)
            assert theirs.status_code == none.status_code == 404, (login, path, theirs.text)
            assert theirs.json()["detail"].replace(str(sid), "N") == none.json()["detail"].replace(str(missing), "N")
    for login in ("lina", "huanglei"):  # a colleague, another team's manager
        assert client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens[login])).status_code == 404
        assert sid not in {r["id"] for r in client.get("/api/practice/sessions", headers=auth(tokens[login])).json()}
    for login in ("chenjing", "linfang"):  # the rep's manager, a trainer
        assert client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens[login])).json()["ended"] is False
        assert sid in {r["id"] for r in client.get("/api/practice/sessions", headers=auth(tokens[login])).json()}
    view = client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens["zhangwei"])).json()
    assert [t["speaker"] for t in view["transcript"]] == ["customer", "rep", "customer"]  # nobody else's turn got in
    assert {r["rep"] for r in client.get("/api/practice/report", headers=auth(tokens["lina"])).json()["rows"]} <= {"lina"}


@pytest.mark.parametrize(("name", "body", "status", "says"), [
    ("turn.docx", b"PK\x03\x04 not audio", 415, "unsupported file type '.docx'"),
    ("turn.wav", b"RIFF....WAVEjunk that is no audio", 415, "convert it to WAV"),
    ("turn.mp3", b"", 422, "is empty"),
    ("big.wav", b"\0" * (1024 * 1024 + 10), 413, "REPCOPILOT_MAX_UPLOAD_MB"),
])
def test_a_refused_recording_says_what_to_do_keeps_no_file_and_adds_no_turn(served, name, body, status, says):
    client, tokens, home = served
    sid = _start(client, tokens["davidchen"], "hospital-equipment-discovery")["session_id"]
    r = client.post(f"/api/practice/sessions/{sid}/turns", files={"file": (name, body)}, headers=auth(tokens["davidchen"]))
    assert r.status_code == status and says in r.json()["detail"], r.text
    assert _practice_uploads(home) == []
    assert len(client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens["davidchen"])).json()["transcript"]) == 1


def test_a_turn_without_text_or_file_names_both_ways_to_send_one(served):
    client, tokens, _ = served
    sid = _start(client, tokens["davidchen"], "hospital-equipment-discovery")["session_id"]
    form = client.post(f"/api/practice/sessions/{sid}/turns", data={"text": "hi"}, files={"other": ("a.wav", b"x")},
                       headers=auth(tokens["davidchen"]))
    assert form.status_code == 422 and "'file'" in form.json()["detail"]
    plain = client.post(f"/api/practice/sessions/{sid}/turns", content=b"Why?", headers=auth(tokens["davidchen"]) | {"content-type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["detail"]


def _turn_recording(folder: Path, text: str, pause_s: float) -> Path:
    """A recorded rep turn: it starts when the customer stops, so ``pause_s`` of silence, then the rep speaks."""
    from speech.synth import SR, say

    speech = say(text, "en", folder / "speech.wav")
    data = np.concatenate([np.zeros(int(pause_s * SR), np.float32), speech, np.zeros(int(0.5 * SR), np.float32)])
    path = folder / "turn.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(data, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def test_a_recorded_turn_is_transcribed_and_its_pause_measured_and_the_file_is_not_kept(served, tmp_path):
    from speech.synth import tools_missing

    if tools_missing():
        pytest.skip(tools_missing())
    client, tokens, home = served
    sid = _start(client, tokens["davidchen"], "hospital-equipment-discovery")["session_id"]
    first = client.post(f"/api/practice/sessions/{sid}/turns", json={"text": "Could you walk me through how equipment service works today?"},
                        headers=auth(tokens["davidchen"]))
    assert first.status_code == 200 and first.json()["rep"]["pause_s"] is None  # typed: nothing measured
    wav = _turn_recording(tmp_path, "Why does service take so long?", 2.1)
    r = client.post(f"/api/practice/sessions/{sid}/turns", files={"file": ("turn.wav", wav.read_bytes(), "audio/wav")},
                    headers=auth(tokens["davidchen"]))
    assert r.status_code == 200, r.text
    rep = r.json()["rep"]
    assert "why" in rep["text"].lower() and rep["kind"] == "why_question"
    assert rep["pause_s"] == pytest.approx(2.1, abs=0.15)
    assert r.json()["running"]["why_questions"] == 1 and _practice_uploads(home) == []


def test_turns_sent_at_once_to_one_session_are_all_kept_in_order(served):
    """Each turn rewrites the transcript: concurrent turns must queue, not overwrite each other."""
    from concurrent.futures import ThreadPoolExecutor

    client, tokens, _ = served
    sid = _start(client, tokens["davidchen"], "hospital-equipment-discovery")["session_id"]
    texts = [f"Question number {i}: how many devices do you look after in building {i}?" for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda t: client.post(f"/api/practice/sessions/{sid}/turns", json={"text": t},
                                                    headers=auth(tokens["davidchen"])).status_code, texts))
    assert codes == [200] * 6
    transcript = client.get(f"/api/practice/sessions/{sid}", headers=auth(tokens["davidchen"])).json()["transcript"]
    assert [t["idx"] for t in transcript] == list(range(1, 14))
    assert sorted(t["text"] for t in transcript if t["speaker"] == "rep") == sorted(texts)
    assert [t["speaker"] for t in transcript[1:]] == ["rep", "customer"] * 6
