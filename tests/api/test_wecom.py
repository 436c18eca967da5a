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
from crm.demo import build_demo
from crm.models import InboundMessage, User
from tests.conftest import AS_OF

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
    from wechatpy.work.crypto import WeChatCrypto

    xml = (f"<xml><ToUserName><![CDATA[{A['corp']}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
           f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
           f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")
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
    query, body = _encrypted_text("WangJianHua", "上个月线索72小时跟进率", "7000000002")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    _wait_processed(engine, 1, timeout_s=60)
    time.sleep(0.3)
    assert [m["msgtype"] for m in fake.sent] == ["markdown"] and fake.uploads == []
