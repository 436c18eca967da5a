"""The call page /calls/{id} in headless Chromium: who spoke when (SVG from the turns), the
transcript with the speech detectors' highlights, metrics against the rep and the team, the
kept recording, access as for calls elsewhere, and a phone-sized layout."""

from __future__ import annotations

import wave
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.test_web_chat import CHROMIUM, HOMES, PHONE, _log_in, browser, phone_problems, site  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def call_site(site):
    """The demo with its call metrics computed, as `repcopilot demo` leaves it."""
    from crm.db import make_engine, session_factory
    from tools.calls import recompute_call_metrics

    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        assert recompute_call_metrics(s) > 0
        s.commit()
    engine.dispose()
    return site


def _calls_of(login: str):
    """(call, turns, stored metrics) of the login's calls, richest in pain points first."""
    from crm.access import get_user
    from crm.db import make_engine, session_factory
    from crm.models import Call, CallMetric, CallTurn
    from speech.text import is_pain_point

    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    out = []
    with session_factory(engine)() as s:
        for call in s.scalars(select(Call).where(Call.rep_id == get_user(s, login).id).order_by(Call.id)):
            turns = list(s.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.idx)))
            metrics = {m.name: m.value for m in s.scalars(select(CallMetric).where(CallMetric.call_id == call.id))}
            pains = sum(t.speaker == "customer" and is_pain_point(t.text, call.language) for t in turns)
            out.append((pains, call.id, call.language, call.duration_s, turns, metrics))
    engine.dispose()
    return sorted(out, key=lambda x: -x[0])


def _open_call(page, base: str, token: str, lang: str, call_id: int) -> None:
    _log_in(page, base, token, lang)
    page.goto(f"{base}/calls/{call_id}")


def test_the_call_page_shows_who_spoke_when_the_highlighted_transcript_and_the_metrics_against_rep_and_team(call_site, browser, tmp_path):
    from speech.text import is_pain_point

    base, tokens = call_site
    pains, call_id, language, duration_s, turns, metrics = _calls_of("zhangwei")[0]
    assert pains >= 2, "the demo's richest call for zhangwei has fewer than two pain points"
    page = browser.new_page(viewport=PHONE)
    _open_call(page, base, tokens["zhangwei"], "en", call_id)
    page.locator("svg.timeline").wait_for(timeout=30_000)
    # the timeline: one bar per turn, in its speaker's row, a pause mark after each pain point the rep answered
    assert page.locator("svg .seg").count() == len(turns)
    assert page.locator("svg .seg.rep").count() == sum(t.speaker == "rep" for t in turns)
    answered = [(a, b) for a, b in pairwise(turns)
                if a.speaker == "customer" and b.speaker == "rep" and is_pain_point(a.text, language)]
    assert page.locator("svg rect.pause").count() == len(answered) >= 1
    first_pause = page.locator("svg rect.pause").first
    assert float(first_pause.get_attribute("data-t")) == pytest.approx(answered[0][0].end_s, abs=0.01)
    # the transcript: every turn with speaker and time; highlights from the speech detectors
    items = page.locator("ol.transcript li.turn")
    assert items.count() == len(turns)
    assert items.first.locator("button.time").inner_text() == f"{int(turns[0].start_s // 60):02d}:{int(turns[0].start_s % 60):02d}"
    assert page.locator("li.turn.pain").count() == pains
    assert page.locator("li.turn.why").count() == int(metrics["why_question_count"])  # as the pipeline counted them
    assert page.locator("li.turn .pause-note").count() == len(answered)
    # the metrics: this call's stored values against the rep's average and the team's top quartile
    talk = page.locator("tr[data-metric=talk_ratio] td")
    assert talk.nth(0).inner_text().rstrip(" ▼") == f"{metrics['talk_ratio'] * 100:.0f}%"
    assert talk.nth(2).inner_text().endswith("%")
    page.screenshot(path=tmp_path / "web-call-page-phone.png", full_page=True)
    assert phone_problems(page) == {"overflow": 0, "small": []}
    page.select_option("#lang", "zh")
    page.wait_for_function("() => document.querySelector('#call h3') && document.querySelector('#call h3').textContent === '谁在什么时候说话'")
    assert "痛点后停顿" in page.locator("li.turn .pause-note").first.inner_text()
    page.screenshot(path=tmp_path / "web-call-page-zh.png", full_page=True)
    page.close()


def test_someone_elses_call_is_not_found_but_their_manager_sees_it(call_site, browser):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.settings import Settings

    base, tokens = call_site
    call_id = _calls_of("lina")[0][1]
    page = browser.new_page()
    _open_call(page, base, tokens["zhangwei"], "zh", call_id)
    page.wait_for_selector("#call p.error")
    assert "找不到这通电话" in page.inner_text("#call") and page.locator("svg.timeline").count() == 0
    page.close()
    with TestClient(create_app(Settings(home=HOMES["site"]))) as client:
        as_rep = {"Authorization": f"Bearer {tokens['zhangwei']}"}
        assert client.get(f"/api/calls/{call_id}/view", headers=as_rep).status_code == 404
        assert client.get(f"/api/calls/{call_id}/audio", headers=as_rep).status_code == 404
        assert client.get("/api/calls/999999/view", headers=as_rep).status_code == 404
        assert client.get(f"/api/calls/{call_id}/view").status_code == 401
        as_manager = {"Authorization": f"Bearer {tokens['chenjing']}"}
        assert client.get(f"/api/calls/{call_id}/view?lang=en", headers=as_manager).status_code == 200


def test_a_kept_recording_plays_and_a_click_on_a_moment_jumps_there(call_site, browser, tmp_path):
    from crm.db import make_engine, session_factory
    from crm.models import Call

    base, tokens = call_site
    _, call_id, _, duration_s, turns, _ = _calls_of("zhangwei")[1]
    recording = tmp_path / "call.wav"
    with wave.open(str(recording), "wb") as w:  # a silent 8 kHz recording as long as the call
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * (duration_s + 1)))
    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        s.get(Call, call_id).source_file = str(recording)
        s.commit()
    engine.dispose()
    page = browser.new_page()
    _open_call(page, base, tokens["zhangwei"], "en", call_id)
    page.wait_for_function("() => { const p = document.getElementById('player'); return p && p.readyState >= 1; }", timeout=30_000)
    target = turns[len(turns) // 2]
    page.locator(f"li.turn[data-idx='{target.idx}'] button.time").click()
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {target.start_s}) < 0.6")
    assert "playing" in page.locator(f"li.turn[data-idx='{target.idx}']").get_attribute("class")
    # a click on the timeline seeks too
    page.locator("svg rect.pause").first.click(force=True)
    at = float(page.locator("svg rect.pause").first.get_attribute("data-t"))
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {at}) < 0.6")
    page.close()
