"""WeCom (企业微信) self-built application: callback verification, encrypted messages,
an empty 200 at once, the answer through message/send, each MsgId processed once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
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

    def send_card(self, to_user: str, card: dict) -> dict:
        body = {"touser": to_user, "msgtype": "template_card", "agentid": self.agent_id, "template_card": card}
        return self._post("/cgi-bin/message/send", json=body)

    def update_card(self, to_user: str, response_code: str, replace_name: str) -> dict:
        """Replace the clicked card's buttons with a grey label (e.g. 已采纳)."""
        body = {"userids": [to_user], "agentid": self.agent_id, "response_code": response_code,
                "button": {"replace_name": replace_name}}
        return self._post("/cgi-bin/message/update_template_card", json=body)

    def download_media(self, media_id: str) -> bytes:
        """media/get: the file's bytes (a JSON body instead means an error)."""
        for attempt in range(2):
            r = self.http.get(f"{self.api_base}/cgi-bin/media/get",
                              params={"access_token": self.token(force=attempt > 0), "media_id": media_id})
            if "json" not in r.headers.get("content-type", "") and r.status_code == 200:
                return r.content
            data = r.json()
            if data.get("errcode") in (40014, 42001) and attempt == 0:
                continue
            raise RuntimeError(f"WeCom media/get failed: {data.get('errmsg')} ({data.get('errcode')})")
        raise RuntimeError("WeCom media/get failed")

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


@router.post("/callback", response_class=Response, max_body_size=MAX_BODY)
async def receive(request: Request, msg_signature: Annotated[str, Query(max_length=128)],
                  timestamp: Annotated[str, Query(max_length=32)], nonce: Annotated[str, Query(max_length=128)]) -> Response:
    body = await request.body()  # over MAX_BODY: 413 on Content-Length, or while streaming — never read whole
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
    message = normalize(msg)
    if message is None:  # an event we do not act on (enter_agent, subscribe …): acknowledged, not stored
        return Response(status_code=200)
    runtime = request.app.state.runtime
    accepted = await asyncio.wrap_future(accept(runtime, message))
    if accepted is not None:
        runtime.lanes.submit(message.conversation, process, runtime, accepted, message)
    return Response(status_code=200)  # WeCom retries anything slower than 5 s: ack now, answer later


@dataclass(frozen=True)
class Inbound:
    """A WeCom callback as the copilot sees it."""

    kind: str  # text / voice / card (a template-card button) / other
    source: str  # the sender's WeCom user id
    key: str  # what makes a retry recognisable: the MsgId, or the card task + button
    text: str = ""
    media_id: str | None = None
    response_code: str | None = None  # a card click's code for message/update_template_card

    @property
    def conversation(self) -> str:
        return f"wecom:{self.source}"


def normalize(msg) -> Inbound | None:
    if msg.type == "text":
        return Inbound("text", msg.source, str(msg.id), text=msg.content or "")
    if msg.type == "voice":
        return Inbound("voice", msg.source, str(msg.id), media_id=msg.media_id)
    data = getattr(msg, "_data", {}) or {}
    if data.get("MsgType") == "event" and data.get("Event") == "template_card_event":
        return Inbound("card", data.get("FromUserName", ""), f"card:{data.get('TaskId')}:{data.get('EventKey')}",
                       text=data.get("EventKey") or "", response_code=data.get("ResponseCode"))
    if data.get("MsgType") == "event" or msg.type == "event":
        return None
    msg_id = getattr(msg, "id", None)
    created = int(msg.create_time.timestamp()) if getattr(msg, "create_time", None) else 0
    return Inbound("other", msg.source, str(msg_id) if msg_id else f"{msg.source}:{created}")


def accept(runtime, message: Inbound) -> Future:
    """Record the message once (through the inbox's single writer); the future gives the
    row id, or None for a retry already stored by any process. Who the sender is, is
    looked up when the message is processed, off the ack path."""
    return runtime.inbox.accept(channel="wecom", platform_msg_id=message.key, conversation_id=message.conversation,
                                platform_user_id=message.source, kind=message.kind,
                                text=message.text or (f"media:{message.media_id}" if message.media_id else ""))


NOT_ENROLLED = "您好,您还没有开通 repcopilot,请联系管理员。/ You are not enrolled in repcopilot yet; please ask your admin."
UNSUPPORTED = "目前支持文字和语音消息。/ Text and voice messages are supported."


def process(runtime, inbound_id: int, message: Inbound) -> None:
    """Answer a message just accepted (stored once, status queued) and record how it ended."""
    user_id, lang = sender_of(runtime, message.source)
    client = runtime.wecom_client
    reply, images, suggestions = compose_reply(runtime, client, inbound_id, message, user_id, lang)
    status = deliver(client, message.source, reply, images)
    if status == "answered" and client is not None:
        send_suggestion_cards(client, message.source, suggestions, lang, inbound_id)
    runtime.inbox.finish(inbound_id, status=status, answer=reply, user_id=user_id).result()


def sender_of(runtime, wecom_userid: str) -> tuple[int | None, str]:
    """The enrolled user behind a WeCom user id and their reply language (zh unless en); (None, "zh") if unknown."""
    with runtime.session_factory() as session:
        user = session.scalar(select(User).where(User.wecom_userid == wecom_userid))
        return (user.id, user.language if user.language in ("zh", "en") else "zh") if user else (None, "zh")


def compose_reply(runtime, client: WeComClient | None, inbound_id: int, message: Inbound, user_id: int | None,
                  lang: str) -> tuple[str, list[str], list[dict]]:
    """The reply text, chart images and listed suggestions for one message: a notice for an unknown
    sender or an unsupported kind, a card click's decision, or the copilot's answer."""
    if user_id is None:
        return NOT_ENROLLED, [], []
    if message.kind == "card" and message.text.startswith(CHOICE_KEY):
        return _answer_a_choice(runtime, client, user_id, lang, message)
    if message.kind == "card":
        return _decide_from_card(runtime, user_id, lang, message), [], []
    if message.kind not in ("text", "voice"):
        return UNSUPPORTED, [], []
    try:
        return ask_copilot(runtime, client, message, user_id, lang)
    except VoiceError as exc:
        return str(exc), [], []
    except Exception as exc:  # noqa: BLE001 — the user gets a message, the log gets the detail
        log.exception("answering WeCom message %s failed", inbound_id)
        return f"抱歉,处理出错:{type(exc).__name__}。/ Sorry, something went wrong.", [], []


def ask_copilot(runtime, client: WeComClient | None, message: Inbound, user_id: int,
                lang: str) -> tuple[str, list[str], list[dict]]:
    """Ask the copilot a text or (transcribed) voice message; a voice reply quotes what was heard."""
    text, heard = message.text, ""
    if message.kind == "voice":
        text = heard = transcribe_voice(runtime, client, message, lang)
    answer = runtime.ask(user_id, text, thread_id=message.conversation)
    reply = answer.answer
    if heard:
        reply = f"> 🎤 {heard}\n\n" + reply
    suggestions = [e for e in answer.evidence if e.get("kind") == "suggestion" and e.get("id")]
    choices = [{"kind": "choice", **c} for c in answer.choices]  # the readings offered when the copilot is unsure
    return reply, answer.images, suggestions + choices


def send_suggestion_cards(client: WeComClient, to_user: str, cards: list[dict], lang: str, inbound_id: int) -> None:
    """After the answer went out: a button card for each of the first MAX_CARDS suggestions, and one
    card whose buttons are the readings offered when the copilot was unsure."""
    suggestions = [c for c in cards if c.get("kind") != "choice"][:MAX_CARDS]
    choices = [c for c in cards if c.get("kind") == "choice"]
    payloads = [suggestion_card(s, lang, inbound_id) for s in suggestions] + ([choice_card(choices, lang, inbound_id)] if choices else [])
    for card in payloads:
        try:  # a card that fails leaves the answer delivered; its content is still in the text
            client.send_card(to_user, card)
        except Exception:  # noqa: BLE001
            log.exception("sending the card %s failed", card.get("task_id"))


# -- readings to choose from, as one card of buttons ---------------------------------------------

CHOICE_KEY = "choice_"


def choice_card(choices: list[dict], lang: str, inbound_id: int) -> dict:
    """The 2–3 readings of an unclear question as buttons; a click answers as if the number were typed."""
    return {
        "card_type": "button_interaction",
        "source": {"desc": "repcopilot"},
        "main_title": {"title": "你想问的是哪一个?" if lang == "zh" else "Which did you mean?"},
        "task_id": f"ch-m{inbound_id}",
        "button_list": [{"text": c["label"][:24], "style": 1 if i == 0 else 2, "key": f"{CHOICE_KEY}{c['reply']}"}
                        for i, c in enumerate(choices[:3])],
    }


def _answer_a_choice(runtime, client: WeComClient | None, user_id: int, lang: str,
                     message: Inbound) -> tuple[str, list[str], list[dict]]:
    """A click on a reading: the copilot gets its number, in the same conversation, and the card
    shows which one was picked."""
    number = message.text.removeprefix(CHOICE_KEY)
    if not number.isdigit():
        return "无法识别的按钮。/ Unknown button.", [], []
    if client is not None and message.response_code:
        try:
            client.update_card(message.source, message.response_code, f"✓ {number}")
        except Exception:  # noqa: BLE001 — the answer still goes out
            log.exception("updating the choice card failed")
    return ask_copilot(runtime, client, Inbound("text", message.source, message.key, text=number), user_id, lang)


# -- suggestions as template cards (button_interaction) ------------------------------------------

MAX_CARDS = 3
CARD_LABELS = {"zh": {"title": "AI 建议", "adopt": "采纳", "dismiss": "忽略", "adopted": "已采纳", "dismissed": "已忽略"},
               "en": {"title": "AI suggestion", "adopt": "Adopt", "dismiss": "Dismiss", "adopted": "Adopted",
                      "dismissed": "Dismissed"}}


def suggestion_card(suggestion: dict, lang: str, inbound_id: int) -> dict:
    """A button card for one suggestion: the keys carry the decision and the suggestion id
    (WeCom allows letters, digits and _-@ in keys and task ids)."""
    labels = CARD_LABELS[lang]
    sid = int(suggestion["id"])
    return {
        "card_type": "button_interaction",
        "source": {"desc": "repcopilot"},
        "main_title": {"title": f"{labels['title']} #{sid}"},
        "sub_title_text": suggestion.get("text", "")[:500],
        "task_id": f"sg{sid}-m{inbound_id}",
        "button_list": [{"text": labels["adopt"], "style": 1, "key": f"adopt_{sid}"},
                        {"text": labels["dismiss"], "style": 2, "key": f"dismiss_{sid}"}],
    }


def _decide_from_card(runtime, user_id: int, lang: str, message: Inbound) -> str:
    from core.errors import RepcopilotError
    from tools.suggestions import decide_suggestion

    verb, _, sid = message.text.partition("_")
    if verb not in ("adopt", "dismiss") or not sid.isdigit():
        return "无法识别的按钮。/ Unknown button."
    decision = "adopted" if verb == "adopt" else "dismissed"
    with runtime.session_factory() as session:
        ctx = runtime.context(session, user_id, lang)
        try:
            result = decide_suggestion(ctx=ctx, suggestion_id=int(sid), decision=decision)
            session.commit()
        except RepcopilotError as exc:
            return str(exc)
    client = runtime.wecom_client
    if client is not None and message.response_code and result.changed:
        try:  # the clicked card shows the decision instead of its buttons
            client.update_card(message.source, message.response_code, CARD_LABELS[lang][decision])
        except Exception:  # noqa: BLE001
            log.exception("updating the card of suggestion %s failed", sid)
    return result.message if not result.changed else (
        f"已{CARD_LABELS['zh'][decision][1:]}建议 #{sid}。" if lang == "zh" else f"Suggestion #{sid} {decision}.")


# -- voice messages → the speech pipeline ------------------------------------------------------

class VoiceError(Exception):
    """A voice message that could not be turned into text; its message goes to the user."""


def transcribe_voice(runtime, client: WeComClient | None, message: Inbound, lang: str) -> str:
    """Download the voice message (AMR) and transcribe it with the speech pipeline, in the
    user's language (forced: auto-detection misreads short clips)."""
    if client is None:
        raise VoiceError("语音消息需要配置企业微信接口。/ Voice messages need the WeCom API configured.")
    folder = runtime.home / "voice"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.key}.amr"
    try:
        path.write_bytes(client.download_media(message.media_id))
    except Exception as exc:  # noqa: BLE001 — expired media, API error, network: the user can resend
        log.warning("downloading voice %s failed: %s", message.media_id, exc)
        raise VoiceError("没能取到这条语音,请再发一次或改发文字。" if lang == "zh"
                         else "I could not fetch that voice message; please send it again or type it.") from None
    from speech.errors import SpeechError
    from speech.pipeline import transcribe_query

    try:
        text = transcribe_query(path, language=lang, model=runtime.settings.whisper_model, home=runtime.home)
    except SpeechError as exc:
        raise VoiceError(("没能识别这条语音:" if lang == "zh" else "Could not read this voice message: ") + str(exc)) from None
    finally:
        path.unlink(missing_ok=True)  # transcribed here and now; its words are the message — HOME keeps no voice
    if not text:
        raise VoiceError("没有听清这条语音,请再说一遍或改发文字。" if lang == "zh"
                         else "I could not make out any words in that voice message; please say it again or type it.")
    return text


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
