"""The web chat page in a real browser: Debian's headless Chromium driven by Playwright,
against the app served by uvicorn on 127.0.0.1 over the demo company."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import demo_home_with_tokens

HOMES: dict[str, Path] = {}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: a playbook whose passage carries markup: the chat must show it as text, never run it
XSS_PLAYBOOK = """# Tender committee objection

When the tender committee says the maintenance fee is too high, quote the clause verbatim:
<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> then ask why the maintenance fee matters to the committee.
"""


@contextmanager
def serving(app):
    """The app under uvicorn on a free 127.0.0.1 port, in a thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tools.knowledge import open_store

    home = tmp_path_factory.mktemp("web-home")
    tokens = demo_home_with_tokens(home, ("chenjing", "zhangwei", "lina"))
    playbook = home / "tender-committee-playbook.md"
    playbook.write_text(XSS_PLAYBOOK, encoding="utf-8")
    assert open_store(Settings(home=home), home).index_files([playbook]).indexed
    HOMES["site"] = home
    with serving(create_app(Settings(home=home))) as base:
        yield base, tokens


@pytest.fixture(scope="module")
def llm_site(site):
    """A second node over the same database whose planner is the LLM: the scripted
    OpenAI-compatible server on 127.0.0.1 (each test sets its script)."""
    from evals.scripted_llm import ScriptedServer

    with ScriptedServer([]) as llm, serving(create_app(Settings(home=HOMES["site"], llm_base_url=llm.base_url,
                                                                llm_model="scripted"))) as base:
        yield base, llm


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _log_in(page, base: str, token: str, lang: str) -> None:
    page.goto(base + "/")
    page.select_option("#lang", lang)
    page.fill("#token", token)
    page.click("#loginForm button[type=submit]")
    page.wait_for_selector("#chat.show")


def test_a_manager_logs_in_asks_a_kpi_breakdown_and_sees_the_streamed_answer_its_evidence_and_chart(site, browser):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["chenjing"], "en")
    page.fill("#question", "win rate by team this year")
    page.press("#question", "Enter")
    bot = page.locator(".msg.bot").last
    bot.locator(".evidence li").first.wait_for(timeout=60_000)
    assert "win rate" in bot.inner_text().lower()
    bot.locator("img").wait_for(timeout=30_000)
    assert page.evaluate("() => document.querySelector('.msg.bot img').naturalWidth") > 100  # the PNG decoded
    page.close()


def test_the_page_speaks_chinese_and_a_follow_up_stays_in_the_same_thread(site, browser):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["chenjing"], "zh")
    assert page.inner_text("#send") == "发送"
    page.fill("#question", "本季度华东区线索72小时跟进率")
    page.press("#question", "Enter")
    page.locator(".msg.bot .evidence").first.wait_for(timeout=60_000)
    page.fill("#question", "那上个月呢?")
    page.press("#question", "Enter")
    page.locator(".msg.bot >> nth=1").locator(".evidence").wait_for(timeout=60_000)
    second = page.locator(".msg.bot").nth(1).inner_text()
    assert "线索72小时跟进率" in second  # the follow-up kept the metric of the thread
    page.close()


def test_a_bad_token_is_refused_with_advice_and_the_chat_stays_closed(site, browser):
    base, _ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.select_option("#lang", "en")
    page.fill("#token", "rc_not-a-real-token")
    page.click("#loginForm button[type=submit]")
    page.wait_for_function("() => document.querySelector('#loginError').textContent.length > 0")
    assert "repcopilot users token" in page.inner_text("#loginError")
    assert not page.locator("#chat").is_visible()
    page.close()


def test_a_rep_uploads_a_transcript_sees_the_job_finish_and_gets_its_debrief_in_the_chat(site, browser, tmp_path):
    base, tokens = site
    vtt = tmp_path / "meeting.vtt"
    source = Path(__file__).resolve().parents[1] / "speech" / "data" / "teams-meeting.vtt"
    vtt.write_bytes(source.read_bytes() + b"\nNOTE web upload\n")
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "en")
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#callFile", str(vtt))
    page.fill("#repSpeaker", "Wei Zhang")
    page.click("#uploadBtn")
    page.locator("#debriefBtn").wait_for(timeout=60_000)
    status = page.inner_text("#uploadStatus")
    assert "meeting.vtt: done · call" in status
    call_id = status.split("· call ", 1)[1].split()[0]
    page.click("#debriefBtn")
    # the debrief of the uploaded call, with its metric table
    page.wait_for_function("id => [...document.querySelectorAll('#log .msg.bot')].some("
                           "d => d.textContent.includes('Debrief of call ' + id) && d.textContent.includes('talk ratio'))",
                           arg=call_id, timeout=60_000)
    # the debrief and the upload tab both link the call page
    link = page.locator(f"#log a.call-link[href='/calls/{call_id}']")
    link.wait_for(timeout=30_000)
    assert page.locator("#callPageLink").get_attribute("href") == f"/calls/{call_id}"
    link.click()
    page.locator("ol.transcript li.turn").first.wait_for(timeout=30_000)
    assert page.url.endswith(f"/calls/{call_id}") and "Wei Zhang" not in page.inner_text("#call h2")
    page.close()


def test_a_refused_upload_shows_the_servers_advice(site, browser, tmp_path):
    base, tokens = site
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"PK\x03\x04 not a call")
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "zh")
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#callFile", str(doc))
    page.click("#uploadBtn")
    page.wait_for_function("() => document.querySelector('#uploadStatus').classList.contains('error')")
    assert "415" in page.inner_text("#uploadStatus") and ".docx" in page.inner_text("#uploadStatus")
    page.close()


def test_a_login_link_with_the_token_in_the_fragment_opens_the_chat_and_leaves_no_token_in_the_address(site, browser):
    base, tokens = site
    page = browser.new_page()
    page.goto(f"{base}/#token={tokens['chenjing']}")
    page.wait_for_selector("#chat.show")
    assert "token" not in page.url
    page.close()


def test_a_rep_practises_a_scenario_turn_by_turn_and_sees_the_rubric_with_cited_turns(site, browser):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "zh")
    page.click("button.tab[data-tab=practice]")
    page.wait_for_function("() => document.querySelectorAll('#scenario option').length >= 8")
    page.select_option("#scenario", "hospital-price-objection")
    page.click("#startPractice")
    page.locator("#practiceLog .customer").first.wait_for(timeout=30_000)
    for line in ["您好周主任,方便先说说这次采购最想解决什么问题吗?", "为什么设备停机这么影响科室?", "为什么维修响应会这么慢?"]:
        replies = page.locator("#practiceLog .customer").count()
        page.fill("#turn", line)
        page.press("#turn", "Enter")
        page.wait_for_function(f"() => document.querySelectorAll('#practiceLog .customer').length > {replies}", timeout=30_000)
    page.click("#endPractice")
    report = page.locator("#practiceLog .report")
    report.wait_for(timeout=30_000)
    text = report.inner_text()
    assert "总分" in text and "挖掘到的痛点" in text
    passed = report.locator("li.pass")
    assert passed.count() >= 1 and "#" in passed.first.inner_text()  # a passed check cites its turn
    assert report.locator("li.fail").count() >= 1  # a short session leaves checks failed, each with its reason
    page.close()


def test_a_rep_sees_their_alerts_with_evidence_and_adopting_one_is_recorded(site, browser):
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from crm.access import get_user
    from crm.db import make_engine, session_factory
    from crm.models import Alert
    from tests.conftest import AS_OF
    from tools.context import ToolContext
    from tools.signals import run_signals

    base, tokens = site
    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    at = datetime.combine(AS_OF, datetime.min.time())
    with session_factory(engine)() as s:  # the signal rules over the demo's last two weeks, as an admin
        run_signals(ctx=ToolContext(user=get_user(s, "wangjianhua"), session=s, clock=lambda: at),
                    since=at - timedelta(days=14), until=at)
        s.commit()
        mine = s.scalars(select(Alert).where(Alert.owner_id == get_user(s, "zhangwei").id, Alert.status == "shown")).all()
    assert mine, "the demo's planted journeys fire no alert for zhangwei"
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "en")
    page.click("button.tab[data-tab=alerts]")
    first = page.locator("#alertList .alert").first
    first.wait_for(timeout=30_000)
    assert page.locator("#alertList .alert").count() == len(mine)
    assert "Suggested:" in first.inner_text() and first.locator(".evidence li").count() >= 1
    alert_id = int(first.get_attribute("data-id"))
    first.locator("button[data-action=adopt]").click()
    first.locator(".status").wait_for(timeout=30_000)
    with session_factory(engine)() as s:
        assert s.get(Alert, alert_id).status == "adopted"
    engine.dispose()
    page.close()


# -- rendered answers, real streaming, conversations, feedback, busy retry, phone size ------------

PHONE = {"width": 390, "height": 844}


def phone_problems(page) -> dict:
    """What breaks the page at phone width: horizontal scrolling, and visible tap targets
    (buttons, selects, inputs, button-links) smaller than 40 × 40 px."""
    return page.evaluate("""() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        small: [...document.querySelectorAll('button, select, input, textarea, a.button, header a')]
          .filter(e => e.offsetParent !== null && e.type !== 'hidden')
          .map(e => { const r = e.getBoundingClientRect();
                      return {what: e.outerHTML.slice(0, 90), w: Math.round(r.width), h: Math.round(r.height)}; })
          .filter(r => r.w < 40 || r.h < 40)})""")


def _last_bot(page):
    return page.locator(".msg.bot").last


def _ask(page, question: str):
    before = page.locator(".msg.bot").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_function(f"() => document.querySelectorAll('.msg.bot').length > {before}")
    bot = page.locator(".msg.bot").nth(before)  # this answer's bubble, not whichever is last later
    bot.locator(".feedback").wait_for(timeout=90_000)  # the done event: rendered answer + 👍/👎
    return bot


def test_answers_are_rendered_markdown_and_a_knowledge_passage_with_script_or_onerror_shows_as_text(site, browser, tmp_path):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "en")
    bot = _ask(page, "How do I answer the tender committee when the maintenance fee is too high?")
    text = bot.locator(".md").inner_text()
    assert "<script>window.__pwned = 1</script>" in text and 'onerror="window.__pwned = 2"' in text  # shown …
    assert page.evaluate("() => window.__pwned") is None  # … and never run
    assert bot.locator(".md script, .md img, [onerror]").count() == 0
    assert "tender-committee-playbook.md" in bot.locator(".evidence").inner_text()
    page.screenshot(path=tmp_path / "web-xss-as-text.png", full_page=True)
    page.close()
    page = browser.new_page()
    _log_in(page, base, tokens["chenjing"], "zh")
    bot = _ask(page, "今年各团队赢单率")
    assert bot.locator(".md strong").first.inner_text() == "赢单率"  # **赢单率** is bold, not asterisks
    table = bot.locator(".md table")
    assert table.locator("th").all_inner_texts() == ["团队", "赢单率"] and "|---|" not in bot.inner_text()
    page.screenshot(path=tmp_path / "web-rendered-table.png", full_page=True)
    page.close()


def _own_lead(login: str) -> int:
    from sqlalchemy import select

    from crm.access import get_user
    from crm.db import make_engine, session_factory
    from crm.models import Lead

    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    with session_factory(engine)() as s:
        lead_id = s.scalar(select(Lead.id).where(Lead.owner_id == get_user(s, login).id).order_by(Lead.id).limit(1))
    engine.dispose()
    return lead_id


def test_with_the_llm_planner_the_first_token_reaches_the_browser_before_the_model_writes_its_last(llm_site, site, browser, tmp_path):
    """Real streaming: the scripted model holds its last word until the test has seen the first
    ones in the page, with the tool call announced as a status line."""
    from evals.scripted_llm import held_text_reply, tool_call_reply

    base, llm = llm_site
    _, tokens = site
    lead_id = _own_lead("zhangwei")
    release = threading.Event()
    llm.script[:] = [tool_call_reply("lead_lookup", {"query": f"lead {lead_id}", "lead_id": lead_id}),
                     held_text_reply(f"Lead {lead_id} is **warm**: call the buyer today about the tender", release)]
    page = browser.new_page()
    try:
        _log_in(page, base, tokens["zhangwei"], "en")
        page.fill("#question", f"how is lead {lead_id}?")
        page.press("#question", "Enter")
        page.wait_for_function("() => { const b = [...document.querySelectorAll('.msg.bot')].pop();"
                               " const s = b && b.querySelector('.stream'); return s && s.textContent.includes('about the'); }",
                               timeout=60_000)
        bot = _last_bot(page)
        assert "tender" not in bot.inner_text()  # the model has not written its last word yet
        assert bot.locator(".feedback").count() == 0
        assert bot.locator(".status").inner_text() == f"looking up lead #{lead_id} …"
        page.screenshot(path=tmp_path / "web-streaming.png")
    finally:
        release.set()
    bot.locator(".feedback").wait_for(timeout=60_000)
    assert bot.locator(".md strong").inner_text() == "warm"
    assert "tender" in bot.locator(".md").inner_text() and bot.locator(".status").count() == 0
    assert [r.get("stream") for r in llm.requests[-2:]] == [True, True]  # the real client asked to stream
    page.close()


def _db():
    from crm.db import make_engine, session_factory

    engine = make_engine(f"sqlite:///{HOMES['site'] / 'repcopilot.db'}")
    return engine, session_factory(engine)


def test_conversations_are_listed_with_their_first_question_and_reopen_with_their_answers(site, browser, tmp_path):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["lina"], "zh")
    _ask(page, "我本季度的线索72小时跟进率")  # a rep's own figure (the region's is her manager's)
    _ask(page, "那上个月呢?")
    page.click("#newThread")
    assert page.locator("#log .msg").count() == 0
    _ask(page, "今年赢单率")
    page.click("#historyBtn")
    page.locator("#convList button.conv").nth(1).wait_for(timeout=30_000)
    titles = page.locator("#convList .title").all_inner_texts()
    assert titles == ["今年赢单率", "我本季度的线索72小时跟进率"]  # latest first, titled by the first question
    assert "2 条回答" in page.locator("#convList .date").nth(1).inner_text()
    page.screenshot(path=tmp_path / "web-history.png", full_page=True)
    page.locator("#convList button.conv").nth(1).click()
    page.wait_for_function("() => document.querySelectorAll('#log .msg.bot .feedback').length === 2")
    assert page.locator("#log .msg.user").all_inner_texts() == ["我本季度的线索72小时跟进率", "那上个月呢?"]
    # the reopened thread goes on where it stopped: a bare follow-up keeps its metric
    bot = _ask(page, "那本季度呢?")
    assert "线索72小时跟进率" in bot.inner_text()
    page.close()
    # stored in the database, per user: another node lists them; another user sees none of them
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(home=HOMES["site"]))) as other_node:
        mine = other_node.get("/api/conversations", headers={"Authorization": f"Bearer {tokens['lina']}"}).json()
        # the reopened thread was answered last, so it now comes first
        assert [c["title"] for c in mine][:2] == titles[::-1] and mine[0]["answers"] == 3
        theirs = other_node.get("/api/conversations", headers={"Authorization": f"Bearer {tokens['zhangwei']}"}).json()
        assert not {c["thread_id"] for c in theirs} & {c["thread_id"] for c in mine}
        r = other_node.get(f"/api/conversations/{mine[0]['thread_id']}", headers={"Authorization": f"Bearer {tokens['zhangwei']}"})
        assert r.status_code == 404


def test_thumbs_down_with_a_reason_is_stored_with_the_question_tools_and_evidence(site, browser, tmp_path):
    from sqlalchemy import select

    from crm.models import AnswerFeedback

    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["chenjing"], "en")
    up = _ask(page, "win rate this year")
    up.locator(".feedback button.up").click()
    page.wait_for_function("() => [...document.querySelectorAll('.feedback button.up')].pop().classList.contains('chosen')")
    down = _ask(page, "win rate by industry this year")
    down.locator(".feedback button.down").click()
    down.locator(".feedback form.reason input").fill("I wanted last year for comparison")
    page.screenshot(path=tmp_path / "web-feedback.png", full_page=True)
    down.locator(".feedback form.reason button").click()
    page.wait_for_function("() => ![...document.querySelectorAll('.feedback')].pop().querySelector('form')")
    assert "Recorded" in down.locator(".feedback .thanks").inner_text()
    up_id = int(up.locator(".feedback").get_attribute("data-message"))
    down_id = int(down.locator(".feedback").get_attribute("data-message"))
    page.close()
    engine, factory = _db()
    with factory() as s:
        rows = {r.message_id: r for r in s.scalars(select(AnswerFeedback).where(AnswerFeedback.message_id.in_([up_id, down_id])))}
    engine.dispose()
    assert rows[up_id].rating == 1 and rows[up_id].question == "win rate this year" and rows[up_id].reason == ""
    bad = rows[down_id]
    assert (bad.rating, bad.reason, bad.question, bad.tool, bad.language) == (
        -1, "I wanted last year for comparison", "win rate by industry this year", "kpi_query", "en")
    assert bad.tools[0]["name"] == "kpi_query" and any(e["kind"] == "metric" for e in bad.evidence)
    assert "win rate" in bad.answer
    # someone else cannot rate it
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(home=HOMES["site"]))) as client:
        r = client.post(f"/api/answers/{down_id}/feedback", json={"rating": "up"}, headers={"Authorization": f"Bearer {tokens['zhangwei']}"})
        assert r.status_code == 404
        r = client.post(f"/api/answers/{down_id}/feedback", json={"rating": "meh"}, headers={"Authorization": f"Bearer {tokens['chenjing']}"})
        assert r.status_code == 422


def test_a_busy_server_is_shown_as_busy_and_the_question_is_retried(site, browser):
    base, tokens = site
    page = browser.new_page()
    _log_in(page, base, tokens["zhangwei"], "zh")
    refused = []

    def busy_once(route):
        if not refused:
            refused.append(route.request.url)
            route.fulfill(status=503, headers={"Retry-After": "2"}, body=json.dumps({"detail": "busy"}),
                          content_type="application/json")
        else:
            route.continue_()

    page.route("**/api/chat", busy_once)
    page.fill("#question", "今年赢单率")
    page.press("#question", "Enter")
    page.wait_for_function("() => { const b = [...document.querySelectorAll('.msg.bot')].pop();"
                           " return b && b.classList.contains('busy') && b.textContent.includes('服务繁忙,正在重试'); }")
    _last_bot(page).locator(".feedback").wait_for(timeout=60_000)
    assert len(refused) == 1 and "赢单率" in _last_bot(page).inner_text()
    page.close()


def test_the_chat_fits_a_phone_screen_without_horizontal_scrolling_and_with_40px_tap_targets(site, browser, tmp_path):
    base, tokens = site
    page = browser.new_page(viewport=PHONE)
    _log_in(page, base, tokens["chenjing"], "zh")
    bot = _ask(page, "今年各团队赢单率,按月看")
    bot.locator(".feedback button.down").click()
    bot.locator(".feedback form.reason").wait_for()
    problems = phone_problems(page)
    page.screenshot(path=tmp_path / "web-phone-chat.png", full_page=True)
    assert problems == {"overflow": 0, "small": []}
    page.click("#historyBtn")
    page.locator("#convList li").first.wait_for()
    assert phone_problems(page) == {"overflow": 0, "small": []}
    for tab in ("upload", "practice", "alerts"):
        page.click(f"button.tab[data-tab={tab}]")
        page.wait_for_load_state("networkidle")
        assert phone_problems(page) == {"overflow": 0, "small": []}, tab
    page.close()
