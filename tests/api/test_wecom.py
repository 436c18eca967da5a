"""WeCom callback: the published crypto vectors, an immediate empty 200, the answer via
message/send (a fake WeCom API on 127.0.0.1), and each MsgId processed once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from core.settings import Settings
from crm.db import make_engine, session_scope, upgrade_schema
from crm.models import InboundMessage, User
from tests.conftest import AS_OF
from tools.demo_setup import build_demo

A = {"token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "aes": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "corp": "ww1436e0e65a779aee"}
A_POST_BODY = """<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>
<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>
<AgentID><![CDATA[1000002]]></AgentID>
</xml>"""
A_POST_QUERY = {"msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "timestamp": "1476422779", "nonce": "1597212914"}


class FakeWeComApi:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.uploads: list[bytes] = []
        self.card_updates: list[dict] = []
        self.media: dict[str, bytes] = {}  # media_id → bytes served by media/get
        self.token_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, data):
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                if url.path == "/cgi-bin/media/get":
                    media = outer.media.get(parse_qs(url.query)["media_id"][0])
                    if media is None:
                        self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "voice/amr")
                    self.send_header("Content-Length", str(len(media)))
                    self.end_headers()
                    self.wfile.write(media)
                    return
                outer.token_calls += 1
                self._json({"errcode": 0, "access_token": f"tok{outer.token_calls}", "expires_in": 7200})

            def do_POST(self):  # noqa: N802
                url = urlparse(self.path)
                q = parse_qs(url.query)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if url.path == "/cgi-bin/media/upload":  # multipart/form-data, field "media"
                    assert q["type"] == ["image"] and "multipart/form-data" in self.headers["Content-Type"]
                    outer.uploads.append(raw)
                    self._json({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": f"media{len(outer.uploads)}",
                                "created_at": "1380000000"})
                    return
                body = json.loads(raw)
                if url.path == "/cgi-bin/message/update_template_card":
                    outer.card_updates.append(body)
                    self._json({"errcode": 0, "errmsg": "ok", "invaliduser": []})
                    return
                outer.sent.append({"token": q["access_token"][0], **body})
                self._json({"errcode": 0, "errmsg": "ok"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def wecom(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    fake = FakeWeComApi()
    settings = Settings(home=tmp_path, wecom_token=A["token"], wecom_aes_key=A["aes"], wecom_corp_id=A["corp"],
                        wecom_secret="test-secret", wecom_agent_id="1000002", wecom_api_base=fake.base)
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, engine, fake
    fake.httpd.shutdown()


def _wait_processed(engine, n: int, timeout_s: float = 20.0) -> list[InboundMessage]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with session_scope(engine) as s:
            rows = list(s.scalars(select(InboundMessage)))
            if len(rows) >= n and all(r.status != "queued" for r in rows):
                return rows
        time.sleep(0.05)
    raise AssertionError("messages not processed in time")


def test_url_verification_returns_the_bare_plaintext_for_vector_a(wecom):
    client, _, _ = wecom
    r = client.get("/wecom/callback", params={
        "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "timestamp": "1476416373", "nonce": "47744683",
        "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="})
    assert r.status_code == 200 and r.content == b"1288432023552776189"


def test_url_verification_of_vector_c_with_a_url_encoded_echostr(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade_schema(engine)
    app = create_app(Settings(home=tmp_path, wecom_token="QDG6eK", wecom_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
                              wecom_corp_id="wx5823bf96d3bd56c7"))
    with TestClient(app) as client:
        url = ("/wecom/callback?msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780"
               "&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D")
        r = client.get(url)
    assert r.status_code == 200 and r.text == "1616140317555161061"


def test_a_wrong_signature_is_refused_and_nothing_is_stored(wecom):
    client, engine, _ = wecom
    r = client.post("/wecom/callback", params={**A_POST_QUERY, "msg_signature": "0" * 40}, content=A_POST_BODY)
    assert r.status_code == 403
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


@pytest.mark.parametrize("body", ["not xml at all", "<xml><Encrypt><![CDATA[@@@]]></Encrypt></xml>", "x" * 70_000])
def test_malformed_bodies_are_4xx_and_the_server_keeps_serving(wecom, body):
    client, _, _ = wecom
    r = client.post("/wecom/callback", params=A_POST_QUERY, content=body)
    assert 400 <= r.status_code < 500
    assert client.get("/health").status_code == 200


def test_an_unknown_wecom_user_gets_a_polite_not_enrolled_reply_and_no_data(wecom):
    client, engine, fake = wecom
    r = client.post("/wecom/callback", params=A_POST_QUERY, content=A_POST_BODY)
    assert r.status_code == 200 and r.content == b""
    rows = _wait_processed(engine, 1)
    assert rows[0].platform_user_id == "ChenJiaShun" and rows[0].text == "你好" and rows[0].platform_msg_id == "1456453720"
    assert len(fake.sent) == 1 and "not enrolled" in fake.sent[0]["markdown"]["content"]


def test_a_retried_message_is_answered_once(wecom):
    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "chenjing").values(wecom_userid="ChenJiaShun"))
    for _ in range(3):  # WeCom's three tries
        assert client.post("/wecom/callback", params=A_POST_QUERY, content=A_POST_BODY).status_code == 200
    rows = _wait_processed(engine, 1)
    time.sleep(0.3)
    assert len(rows) == 1 and rows[0].status == "answered"
    assert len(fake.sent) == 1 and fake.sent[0]["touser"] == "ChenJiaShun" and fake.sent[0]["msgtype"] == "markdown"
    assert fake.token_calls == 1


def test_a_retry_landing_on_a_second_server_process_is_not_answered_again(wecom, tmp_path):
    client, engine, fake = wecom
    settings = Settings(home=tmp_path, wecom_token=A["token"], wecom_aes_key=A["aes"], wecom_corp_id=A["corp"],
                        wecom_secret="test-secret", wecom_agent_id="1000002", wecom_api_base=fake.base)
    with TestClient(create_app(settings)) as second:  # another replica on the same database
        assert client.post("/wecom/callback", params=A_POST_QUERY, content=A_POST_BODY).status_code == 200
        assert second.post("/wecom/callback", params=A_POST_QUERY, content=A_POST_BODY).status_code == 200
        _wait_processed(engine, 1)
        time.sleep(0.3)
    assert len(fake.sent) == 1


def _encrypted_text(from_user: str, text: str, msg_id: str) -> tuple[dict, str]:
    """A text message as WeCom would POST it, encrypted with the test app's key."""
    return _encrypted_xml(
        f"<xml><ToUserName><![CDATA[{A['corp']}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def _message(client, engine, from_user: str, text: str, msg_id: str, *, processed: int = 1) -> None:
    """A text message from an enrolled WeCom user, acknowledged at once and answered by the lane."""
    query, body = _encrypted_text(from_user, text, msg_id)
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    _wait_processed(engine, processed, timeout_s=60)
    time.sleep(0.3)


def _encrypted_xml(xml: str) -> tuple[dict, str]:
    from wechatpy.work.crypto import WeChatCrypto

    crypto = WeChatCrypto(A["token"], A["aes"], A["corp"])
    envelope = crypto.encrypt_message(xml, "1597212914", "1700000000")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(envelope)
    query = {"msg_signature": root.findtext("MsgSignature"), "timestamp": root.findtext("TimeStamp"),
             "nonce": root.findtext("Nonce")}
    body = f"<xml><ToUserName><![CDATA[{A['corp']}]]></ToUserName><Encrypt><![CDATA[{root.findtext('Encrypt')}]]></Encrypt></xml>"
    return query, body


@pytest.mark.parametrize("question", ["上个月各区域线索72小时跟进率", "win rate by region last quarter"])
def test_a_kpi_breakdown_reaches_wecom_as_text_then_its_chart_as_an_image(wecom, question):
    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "wangjianhua").values(wecom_userid="WangJianHua"))
    query, body = _encrypted_text("WangJianHua", question, "7000000001")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    rows = _wait_processed(engine, 1, timeout_s=60)
    time.sleep(0.3)
    assert rows[0].status == "answered"
    assert [m["msgtype"] for m in fake.sent] == ["markdown", "image"]
    assert fake.sent[1]["touser"] == "WangJianHua" and fake.sent[1]["image"]["media_id"] == "media1"
    assert len(fake.uploads) == 1 and b"\x89PNG\r\n\x1a\n" in fake.uploads[0]
    assert ".png" not in fake.sent[0]["markdown"]["content"]  # no server file path in the text


def test_a_single_kpi_number_is_sent_as_text_only(wecom):
    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "wangjianhua").values(wecom_userid="WangJianHua"))
    _message(client, engine, "WangJianHua", "上个月线索72小时跟进率", "7000000002")
    assert [m["msgtype"] for m in fake.sent] == ["markdown"] and fake.uploads == []


# -- suggestions as template cards, and their buttons ------------------------------------------------

def _lead_with_open_suggestion(engine, login: str) -> int:
    from crm.access import get_user
    from tools.context import ToolContext
    from tools.leads import lead_summary

    with session_scope(engine) as s:
        user = get_user(s, login)
        from crm.models import Lead

        for lead_id in s.scalars(select(Lead.id).where(Lead.owner_id == user.id).order_by(Lead.id)):
            ctx = ToolContext(user=user, session=s, language="zh")
            if any(sg.status == "shown" for sg in lead_summary(ctx=ctx, lead_id=lead_id).suggestions):
                s.rollback()  # leave nothing logged: the copilot logs it when it answers
                return lead_id
    raise AssertionError(f"no lead of {login} has a next best action in the demo")


def _card_click(from_user: str, key: str, task_id: str, code: str) -> tuple[dict, str]:
    return _encrypted_xml(
        f"<xml><ToUserName><![CDATA[{A['corp']}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>1700000100</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
        f"<TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
        f"<ResponseCode><![CDATA[{code}]]></ResponseCode><AgentID>1000002</AgentID></xml>")


def test_a_suggestion_comes_as_a_button_card_and_its_adopt_button_records_the_decision_once(wecom):
    from crm.models import AISuggestion

    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "zhangwei").values(wecom_userid="ZhangWei"))
    lead_id = _lead_with_open_suggestion(engine, "zhangwei")
    _message(client, engine, "ZhangWei", f"线索{lead_id}怎么样?", "7000000100")
    cards = [m for m in fake.sent if m["msgtype"] == "template_card"]
    assert fake.sent[0]["msgtype"] == "markdown" and cards
    card = cards[0]["template_card"]
    assert card["card_type"] == "button_interaction" and card["main_title"]["title"].startswith("AI 建议 #")
    keys = [b["key"] for b in card["button_list"]]
    sid = int(keys[0].split("_")[1])
    assert keys == [f"adopt_{sid}", f"dismiss_{sid}"]
    with session_scope(engine) as s:
        row = s.get(AISuggestion, sid)
        assert row.lead_id == lead_id and row.status == "shown" and row.text[:20] in card["sub_title_text"]

    click = _card_click("ZhangWei", f"adopt_{sid}", card["task_id"], "rc-1")
    for _ in range(2):  # WeCom retries the click event too
        assert client.post("/wecom/callback", params=click[0], content=click[1]).status_code == 200
    _wait_processed(engine, 2, timeout_s=30)
    time.sleep(0.3)
    with session_scope(engine) as s:
        assert s.get(AISuggestion, sid).status == "adopted"
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2  # the retry stored nothing
    assert fake.card_updates == [{"userids": ["ZhangWei"], "agentid": "1000002", "response_code": "rc-1",
                                  "button": {"replace_name": "已采纳"}}]
    assert f"#{sid}" in fake.sent[-1]["markdown"]["content"]


def test_a_card_button_of_someone_elses_suggestion_changes_nothing(wecom):
    from crm.models import AISuggestion

    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "zhangwei").values(wecom_userid="ZhangWei"))
        s.execute(update(User).where(User.login == "huming").values(wecom_userid="HuMing"))  # another team's rep
    lead_id = _lead_with_open_suggestion(engine, "zhangwei")
    query, body = _encrypted_text("ZhangWei", f"线索{lead_id}怎么样?", "7000000200")
    client.post("/wecom/callback", params=query, content=body)
    _wait_processed(engine, 1, timeout_s=60)
    time.sleep(0.3)
    card = next(m for m in fake.sent if m["msgtype"] == "template_card")["template_card"]
    sid = int(card["button_list"][0]["key"].split("_")[1])
    click = _card_click("HuMing", f"dismiss_{sid}", card["task_id"], "rc-2")
    client.post("/wecom/callback", params=click[0], content=click[1])
    _wait_processed(engine, 2, timeout_s=30)
    time.sleep(0.3)
    with session_scope(engine) as s:
        assert s.get(AISuggestion, sid).status == "shown"
    assert fake.card_updates == [] and "不是给你的" in fake.sent[-1]["markdown"]["content"]


# -- voice messages -------------------------------------------------------------------------------------

def _amr(wav_path, amr_path) -> bytes:
    """AMR-NB (8 kHz mono), what WeCom voice messages are, encoded with PyAV's opencore codec."""
    import av

    with av.open(str(wav_path)) as src, av.open(str(amr_path), "w", format="amr") as dst:
        stream = dst.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        stream.bit_rate = 12200
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        for frame in src.decode(audio=0):
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return amr_path.read_bytes()


def _voice_xml(from_user: str, media_id: str, msg_id: str) -> tuple[dict, str]:
    return _encrypted_xml(
        f"<xml><ToUserName><![CDATA[{A['corp']}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>1700000200</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[{media_id}]]></MediaId>"
        f"<Format><![CDATA[amr]]></Format><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def test_a_voice_message_is_transcribed_in_the_users_language_and_answered(wecom, tmp_path):
    from speech.synth import say, tools_missing

    if tools_missing():
        pytest.skip(tools_missing())
    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "davidchen").values(wecom_userid="DavidChen"))  # an English-speaking rep
    wav = tmp_path / "q.wav"
    say("What is the win rate by team this year?", "en", wav)
    fake.media["voice-1"] = _amr(wav, tmp_path / "q.amr")
    query, body = _voice_xml("DavidChen", "voice-1", "7000000300")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    rows = _wait_processed(engine, 1, timeout_s=180)
    assert rows[0].kind == "voice" and rows[0].status == "answered", (rows[0].status, rows[0].answer)
    text = fake.sent[0]["markdown"]["content"]
    heard = text.split("\n", 1)[0].lower()
    assert heard.startswith("> 🎤") and "win rate" in heard, text
    assert "win rate" in text.split("\n", 1)[1].lower(), text  # answered as the KPI question it was


def test_a_voice_message_that_cannot_be_fetched_gets_a_reply_not_silence(wecom):
    client, engine, fake = wecom
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "davidchen").values(wecom_userid="DavidChen"))
    query, body = _voice_xml("DavidChen", "no-such-media", "7000000301")
    client.post("/wecom/callback", params=query, content=body)
    rows = _wait_processed(engine, 1, timeout_s=30)
    assert rows[0].status == "answered" and len(fake.sent) == 1
    assert "could not fetch that voice message" in fake.sent[0]["markdown"]["content"]


def test_an_unclear_question_comes_with_its_readings_as_buttons_and_a_click_answers_that_reading(wecom, monkeypatch):
    from agent.planners import OfflinePlanner

    client, engine, fake = wecom
    monkeypatch.setattr(OfflinePlanner, "confident", 1.01)  # no reading is likely enough: every question is unclear
    monkeypatch.setattr(OfflinePlanner, "knowledge_fallback", 1.01)
    with session_scope(engine) as s:
        s.execute(update(User).where(User.login == "zhangwei").values(wecom_userid="ZhangWei"))
    _message(client, engine, "ZhangWei", "我这周该练什么", "7000000300")
    assert "请选一个" in fake.sent[0]["markdown"]["content"]
    card = next(m for m in fake.sent if m["msgtype"] == "template_card")["template_card"]
    buttons = card["button_list"]
    assert 2 <= len(buttons) <= 3 and [b["key"] for b in buttons] == [f"choice_{i}" for i in range(1, len(buttons) + 1)]
    assert [b["text"] for b in buttons] == [line.split(". ", 1)[1][:24] for line in fake.sent[0]["markdown"]["content"].splitlines()[1:]]
    picked = next(i for i, b in enumerate(buttons, 1) if b["text"] == "本周该练什么")  # the drills reading, wherever it ranks
    sent_before = len(fake.sent)
    click = _card_click("ZhangWei", f"choice_{picked}", card["task_id"], "rc-9")
    assert client.post("/wecom/callback", params=click[0], content=click[1]).status_code == 200
    _wait_processed(engine, 2, timeout_s=60)
    time.sleep(0.3)
    answer = fake.sent[sent_before]["markdown"]["content"]
    assert "本周" in answer and "练习" in answer and "请选一个" not in answer  # the drills answer, in the same conversation
    assert fake.card_updates[-1]["button"] == {"replace_name": f"✓ {picked}"}
