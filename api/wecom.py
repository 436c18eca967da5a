"""WeCom (企业微信) self-built application: callback verification, encrypted messages,
an empty 200 at once, the answer through message/send, each MsgId processed once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import select
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto

from crm.models import User

log = logging.getLogger("repcopilot.wecom")
MAX_BODY = 64 * 1024
WECOM_API = "https://qyapi.weixin.qq.com"

router = APIRouter(prefix="/wecom", tags=["wecom"])


class WeComClient:
    """message/send with a cached access token (refreshed before expiry and on 40014/42001)."""

    def __init__(self, *, corp_id: str, secret: str, agent_id: str, api_base: str = WECOM_API) -> None:
        self.corp_id, self.secret, self.agent_id, self.api_base = corp_id, secret, agent_id, api_base.rstrip("/")
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.http = httpx.Client(timeout=10)

    def token(self, force: bool = False) -> str:
        with self._lock:
            if force or not self._token or time.time() > self._expires:
                r = self.http.get(f"{self.api_base}/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
                data = r.json()
                if data.get("errcode", 0) != 0:
                    raise RuntimeError(f"WeCom gettoken failed: {data.get('errmsg')} ({data.get('errcode')})")
                self._token = data["access_token"]
                self._expires = time.time() + int(data.get("expires_in", 7200)) - 300
            return self._token

    def _post(self, path: str, *, params: dict | None = None, **kwargs) -> dict:
        """POST with the access token; an expired or invalid token (40014/42001) is refreshed
        and the call made once more."""
        data: dict = {}
        for attempt in range(2):
            r = self.http.post(f"{self.api_base}{path}", params={"access_token": self.token(force=attempt > 0)} | (params or {}),
                               **kwargs)
            data = r.json()
            if data.get("errcode") in (40014, 42001) and attempt == 0:
                continue
            return data
        return data

    def send_markdown(self, to_user: str, content: str) -> dict:
        body = {"touser": to_user, "msgtype": "markdown", "agentid": self.agent_id, "markdown": {"content": content[:4000]}}
        return self._post("/cgi-bin/message/send", json=body)

    def upload_image(self, path: Path) -> str:
        """media/upload?type=image (PNG ≤ 10 MB) → the media_id, valid for three days."""
        data = self._post("/cgi-bin/media/upload", params={"type": "image"},
                          files={"media": (path.name, path.read_bytes(), "image/png")})
        if data.get("errcode", 0) != 0 or "media_id" not in data:
            raise RuntimeError(f"WeCom media/upload failed: {data.get('errmsg')} ({data.get('errcode')})")
        return data["media_id"]

    def send_image(self, to_user: str, path: Path) -> dict:
        body = {"touser": to_user, "msgtype": "image", "agentid": self.agent_id, "image": {"media_id": self.upload_image(path)}}
        return self._post("/cgi-bin/message/send", json=body)


def crypto_for(request: Request) -> WeChatCrypto:
    s = request.app.state.runtime.settings
    if not (s.wecom_token and s.wecom_aes_key and s.wecom_corp_id):
        raise HTTPException(503, "WeCom is not configured: set REPCOPILOT_WECOM_TOKEN, _WECOM_AES_KEY and _WECOM_CORP_ID")
    return WeChatCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corp_id)


@router.get("/callback", response_class=Response)
def verify_url(request: Request, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> Response:
    try:
        plain = crypto_for(request).check_signature(msg_signature, timestamp, nonce, echostr)
    except InvalidSignatureException:
        raise HTTPException(403, "bad signature: check REPCOPILOT_WECOM_TOKEN and _WECOM_AES_KEY") from None
    return Response(content=plain if isinstance(plain, bytes) else plain.encode(), media_type="text/plain")


@router.post("/callback", response_class=Response)
async def receive(request: Request, msg_signature: Annotated[str, Query()], timestamp: Annotated[str, Query()],
                  nonce: Annotated[str, Query()]) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"body over {MAX_BODY} bytes")
    crypto = crypto_for(request)
    try:
        xml = crypto.decrypt_message(body.decode("utf-8", "replace"), msg_signature, timestamp, nonce)
    except InvalidSignatureException:
        raise HTTPException(403, "bad signature") from None
    except Exception:  # noqa: BLE001 — malformed XML / bad ciphertext: the sender's fault
        raise HTTPException(400, "malformed or undecryptable message body") from None
    try:
        msg = parse_message(xml)
    except Exception:  # noqa: BLE001
        raise HTTPException(400, "unreadable message XML") from None
    runtime = request.app.state.runtime
    accepted = await asyncio.wrap_future(accept(runtime, msg))
    if accepted is not None:
        runtime.lanes.submit(f"wecom:{msg.source}", process, runtime, accepted, msg)
    return Response(status_code=200)  # WeCom retries anything slower than 5 s: ack now, answer later


def _msg_key(msg) -> str:
    msg_id = getattr(msg, "id", None)
    return str(msg_id) if msg_id else f"{msg.source}:{int(msg.create_time.timestamp()) if msg.create_time else 0}"


def accept(runtime, msg) -> Future:
    """Record the message once (through the inbox's single writer); the future gives the
    row id, or None for a retry of a MsgId already stored by any process. Who the sender
    is, is looked up when the message is processed, off the ack path."""
    return runtime.inbox.accept(channel="wecom", platform_msg_id=_msg_key(msg), conversation_id=f"wecom:{msg.source}",
                                platform_user_id=msg.source, kind=msg.type, text=getattr(msg, "content", "") or "")


def process(runtime, inbound_id: int, msg) -> None:
    """Answer a message just accepted (stored once, status queued) and record how it ended."""
    images: list[str] = []
    to_user, kind, text, conversation = msg.source, msg.type, getattr(msg, "content", "") or "", f"wecom:{msg.source}"
    with runtime.session_factory() as session:
        user_id = session.scalar(select(User.id).where(User.wecom_userid == to_user))
    if user_id is None:
        reply = "您好,您还没有开通 repcopilot,请联系管理员。/ You are not enrolled in repcopilot yet; please ask your admin."
    elif kind != "text":
        reply = "目前只支持文字消息。/ Only text messages are supported for now."
    else:
        try:
            answer = runtime.ask(user_id, text, thread_id=conversation)
            reply, images = answer.answer, answer.images
        except Exception as exc:  # noqa: BLE001 — the user gets a message, the log gets the detail
            log.exception("answering WeCom message %s failed", inbound_id)
            reply = f"抱歉,处理出错:{type(exc).__name__}。/ Sorry, something went wrong."
    status = deliver(runtime.wecom_client, to_user, reply, images)
    runtime.inbox.finish(inbound_id, status=status, answer=reply, user_id=user_id).result()


def deliver(client: WeComClient | None, to_user: str, reply: str, images: list[str]) -> str:
    """Send the answer as markdown, then each chart as an image; the message's final status."""
    if client is None:
        return "answered"
    try:
        result = client.send_markdown(to_user, reply)
        if result.get("errcode", 0) != 0:
            return "failed"
    except Exception:  # noqa: BLE001
        log.exception("message/send failed")
        return "failed"
    for image in images:
        try:  # the chart follows the text as an image message; a failed chart leaves the text delivered
            result = client.send_image(to_user, Path(image))
            if result.get("errcode", 0) != 0:
                log.warning("sending chart %s failed: %s", image, result)
        except Exception:  # noqa: BLE001
            log.exception("sending chart %s failed", image)
    return "answered"
