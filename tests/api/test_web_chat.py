"""The web chat page in a real browser: Debian's headless Chromium driven by Playwright,
against the app served by uvicorn on 127.0.0.1 over the demo company."""

from __future__ import annotations

import shutil
import socket
import threading
import time
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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-home")
    tokens = demo_home_with_tokens(home, ("chenjing", "zhangwei"))
    HOMES["site"] = home
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(home=home)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(timeout=10)


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
