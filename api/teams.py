"""Microsoft Teams bot (Microsoft 365 Agents SDK): ``POST /api/messages``.

Inbound, the Bot Connector's JWT is checked before anything is read or stored: the SDK's
``JwtTokenValidator`` verifies the RS256 signature against the Bot Framework key set (or
``teams_jwks_url``), the audience (= our app id), the issuer allow-list and the expiry; a
token whose ``serviceurl`` claim names another host than the activity is refused too.
A message activity is accepted once by (``teams``, activity id) in ``inbound_messages`` —
a retried activity is acknowledged and dropped — and answered in the conversation's lane:

* ``deliveryMode: expectReplies`` — the reply card comes back in the HTTP response
  (``ExpectedReplies``);
* otherwise — ``202`` at once, and the card is posted to the conversation's ``serviceUrl``
  by the SDK's connector client (``continue_conversation``) when the answer is ready.

Answers are Adaptive Cards: the answer, the evidence behind it, the confidence, the KPI
chart (inline, when it fits Teams' ~28 KB message limit) and adopt / dismiss buttons
(``Action.Execute``) for listed AI suggestions. The personal chat's conversation reference
is stored per user, so alerts reach them later through :func:`send_proactive`.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from jwt import PyJWKClient, PyJWTError
from jwt.exceptions import PyJWKClientConnectionError
from microsoft_agents.activity import (
    Activity,
    ActivityEventNames,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ConversationReference,
    DeliveryModes,
)
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    ActivityHandler,
    AgentAuthConfiguration,
    CardFactory,
    ClaimsIdentity,
    ConnectionManager,
    MessageFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.fastapi import CloudAdapter
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.capacity import busy
from core.errors import ConfigError, NotFoundError, RepcopilotError
from crm.models import ConversationRef, User

log = logging.getLogger("repcopilot.teams")
CHANNEL = "teams"
MAX_BODY = 256 * 1024
CARD_LIMIT_BYTES = 26_000  # Teams refuses messages over ~28 KB; the rest is left for the activity around the card
MAX_EVIDENCE = 8
MAX_SUGGESTION_BUTTONS = 3

router = APIRouter(tags=["teams"])

LABELS = {
    "zh": {"evidence": "依据", "confidence": "置信度", "more": "另有 {n} 条依据", "chart": "图表",
           "chart_too_big": "图表太大,无法在 Teams 中显示;请在网页版中查看。",
           "adopt": "采纳建议 {id}", "dismiss": "忽略建议 {id}",
           "not_enrolled": "您好,您还没有开通 repcopilot,请联系管理员。",
           "text_only": "目前只支持文字消息。", "personal_only": "为保护数据,请在与我的私聊中提问。",
           "error": "抱歉,处理出错,请稍后再试。"},
    "en": {"evidence": "Evidence", "confidence": "Confidence", "more": "{n} more items", "chart": "Chart",
           "chart_too_big": "The chart is too large for Teams; open it in the web chat.",
           "adopt": "Adopt suggestion {id}", "dismiss": "Dismiss suggestion {id}",
           "not_enrolled": "You are not enrolled in repcopilot yet; please ask your admin.",
           "text_only": "Only text messages are supported for now.",
           "personal_only": "To keep your data private, please ask me in a personal chat.",
           "error": "Sorry, something went wrong; please try again later."},
}


def _lang(language: str | None) -> str:
    return "zh" if (language or "").lower().startswith("zh") else "en"


def bilingual(key: str, locale: str | None) -> str:
    """Both languages, the activity's locale first: for users whose language we do not know."""
    first = _lang(locale)
    second = "en" if first == "zh" else "zh"
    return f"{LABELS[first][key]}\n\n{LABELS[second][key]}"


# -- inbound authentication -------------------------------------------------------------------

class _PinnedKeySet:
    """The SDK validator's key lookup, pointed at one JWKS URL (``teams_jwks_url``). It has the
    shape of the SDK's ``_JwkClientManager.get_signing_key(jwks_uri, header)``; the URI the SDK
    derived from the issuer is ignored."""

    def __init__(self, jwks_url: str) -> None:
        self._client = PyJWKClient(jwks_url, lifespan=3600)
        self._lock = threading.Lock()

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]):
        def fetch():
            with self._lock:
                return self._client.get_signing_key(header.get("kid") or "")

        return await asyncio.to_thread(fetch)


def token_validator(config: AgentAuthConfiguration, jwks_url: str | None) -> JwtTokenValidator:
    validator = JwtTokenValidator(config)
    if jwks_url:
        # the SDK derives the key-set URL from the token's issuer and offers no setting for it;
        # its one seam is the key lookup object, a class attribute shadowed here per instance
        validator._jwk_client_manager = _PinnedKeySet(jwks_url)
    return validator


async def bot_identity(request: Request) -> ClaimsIdentity:
    """The Bot Connector's verified claims, or 401 (503 when the signing keys cannot be fetched)."""
    bot: TeamsBot = request.app.state.teams
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token: only the Bot Connector may call this endpoint",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        identity = await bot.validator.validate_token(token.strip())
    except PyJWKClientConnectionError:
        log.exception("fetching the Bot Framework signing keys failed")
        raise HTTPException(503, "cannot fetch the token signing keys; try again") from None
    except (PyJWTError, ValueError, KeyError) as exc:
        log.warning("Teams token refused: %s", type(exc).__name__)
        raise HTTPException(401, "invalid token (signature, audience, issuer or expiry)",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    if "exp" not in identity.claims:
        raise HTTPException(401, "invalid token: no expiry", headers={"WWW-Authenticate": "Bearer"})
    return identity


def _host(url: str | None) -> str:
    match = re.match(r"^[a-z][a-z0-9+.-]*://([^/:?#]+)", url or "", re.I)
    return match.group(1).lower() if match else ""


@router.post("/api/messages", response_class=Response, max_body_size=MAX_BODY)
async def messages(request: Request, identity: Annotated[ClaimsIdentity, Depends(bot_identity)]) -> Response:
    body = await request.body()  # over MAX_BODY: 413 on Content-Length, or while streaming — never read whole
    try:
        activity = Activity.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        raise HTTPException(400, "body is not a Bot Framework activity (JSON with type and conversation.id)") from None
    if not activity.type or not activity.conversation or not activity.conversation.id:
        raise HTTPException(400, "activity must have type and conversation.id")
    claimed = identity.get_claim_value("serviceurl")
    if claimed and _host(claimed) != _host(activity.service_url):
        raise HTTPException(401, "the activity's serviceUrl does not match the token's serviceurl claim")
    request.state.claims_identity = identity
    bot: TeamsBot = request.app.state.teams
    if activity.type != "message":
        return await bot.adapter.process(request, bot.agent)
    gate = bot.runtime.agent_gate
    if not await gate.acquire():  # the Bot Connector retries a 503; nothing was accepted or stored
        raise busy(gate.retry_after_s)
    slot = AgentSlot(gate)
    token = _REQUEST_SLOT.set(slot)
    try:
        return await bot.adapter.process(request, bot.agent)
    finally:
        _REQUEST_SLOT.reset(token)
        slot.release_unless_handed_over()


class AgentSlot:
    """One of the process's agent slots, taken by the request and handed to the lane that answers it."""

    def __init__(self, gate) -> None:
        self.gate = gate
        self._handed_over = False

    def hand_over(self, work) -> None:
        self._handed_over = True
        work.add_done_callback(lambda _future: self.gate.release())

    def release_unless_handed_over(self) -> None:
        if not self._handed_over:
            self.gate.release()


# the slot the HTTP request took, seen by the turn it runs (the SDK awaits the turn in the request's task)
_REQUEST_SLOT: contextvars.ContextVar[AgentSlot | None] = contextvars.ContextVar("teams_agent_slot", default=None)


# -- the agent --------------------------------------------------------------------------------

@dataclass
class TeamsMessage:
    """A Teams message activity, normalised."""

    activity_id: str
    conversation_id: str
    aad_object_id: str
    text: str
    locale: str | None
    personal: bool
    reference: dict[str, Any]

    @property
    def thread_id(self) -> str:
        return f"teams:{self.conversation_id}"


_AT = re.compile(r"<at>.*?</at>", re.S)
_TAG = re.compile(r"<[^>]+>")


def normalise(activity: Activity) -> TeamsMessage | None:
    sender = activity.from_property
    aad_id = (sender.aad_object_id if sender else None) or ""
    if not activity.id or not aad_id:
        return None
    text = _TAG.sub("", _AT.sub("", activity.text or "")).strip()
    reference = activity.get_conversation_reference().model_dump(mode="json", by_alias=True, exclude_none=True)
    conversation_type = activity.conversation.conversation_type or "personal"
    return TeamsMessage(activity_id=activity.id, conversation_id=activity.conversation.id, aad_object_id=aad_id,
                        text=text, locale=activity.locale, personal=conversation_type == "personal", reference=reference)


def accept(runtime, msg: TeamsMessage):
    """Record the activity once (through the inbox's single writer); the future gives the row id,
    or None for a retry already accepted by this or another process."""
    return runtime.inbox.accept(channel=CHANNEL, platform_msg_id=msg.activity_id, conversation_id=msg.thread_id,
                                platform_user_id=msg.aad_object_id, kind="text" if msg.text else "other", text=msg.text)


class CopilotAgent(ActivityHandler):
    def __init__(self, bot: TeamsBot) -> None:
        self.bot = bot

    async def on_message_activity(self, turn_context: TurnContext):
        activity = turn_context.activity
        msg = normalise(activity)
        if msg is None:
            return
        runtime = self.bot.runtime
        inbound_id = await asyncio.wrap_future(accept(runtime, msg))
        if inbound_id is None:
            return  # a retry of an activity already accepted (by this or another process)
        expect_replies = activity.delivery_mode == DeliveryModes.expect_replies
        work = runtime.lanes.submit(msg.thread_id, self.bot.answer, inbound_id, msg, not expect_replies)
        slot = _REQUEST_SLOT.get()
        if slot is not None:  # the run holds the request's agent slot until the answer is out
            slot.hand_over(work)
        if expect_replies:
            await turn_context.send_activity(await asyncio.wrap_future(work))

    async def on_installation_update_add(self, turn_context: TurnContext):
        """The app was installed for a user (by them or an admin): keep the personal chat's
        reference, so alerts can reach them before they ever write."""
        msg = normalise(turn_context.activity)
        if msg is not None and msg.personal:
            await asyncio.wrap_future(self.bot.runtime.lanes.submit(msg.thread_id, self.bot.remember, msg))

    async def on_adaptive_card_invoke(self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue):
        """An ``Action.Execute`` button (adopt / dismiss a suggestion): the result as a message."""
        activity = turn_context.activity
        aad_id = (activity.from_property.aad_object_id if activity.from_property else None) or ""
        data = {**(invoke_value.action.data or {}), "verb": invoke_value.action.verb}
        future = self.bot.runtime.lanes.submit(f"teams:{activity.conversation.id}", self.bot.decide_suggestion,
                                               aad_id, data, activity.locale)
        return AdaptiveCardInvokeResponse(status_code=200, type="application/vnd.microsoft.activity.message",
                                          value=await asyncio.wrap_future(future))


# -- the bot ----------------------------------------------------------------------------------

class TeamsBot:
    """The SDK adapter and agent bound to the runtime, plus the synchronous work done in lanes."""

    def __init__(self, runtime, *, connections: ConnectionManager, auth: AgentAuthConfiguration) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.app_id: str = settings.teams_app_id
        self.validator = token_validator(auth, settings.teams_jwks_url)
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = self._on_turn_error
        self.agent = CopilotAgent(self)

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        if context.activity.name == ActivityEventNames.continue_conversation:
            raise error  # a proactive send: the caller records the failure
        log.error("Teams turn failed", exc_info=error)
        try:
            await context.send_activity(MessageFactory.text(bilingual("error", context.activity.locale)))
        except Exception:  # noqa: BLE001 — the connector itself may be what failed
            log.exception("sending the apology failed")

    # runs in the conversation's lane
    def answer(self, inbound_id: int, msg: TeamsMessage, deliver: bool) -> Activity:
        runtime = self.runtime
        user_id, language, status, reply_text = None, "en", "answered", ""
        try:
            with runtime.session_factory() as session:
                user = session.scalar(select(User).where(User.teams_aad_id == msg.aad_object_id))
                if user is not None:
                    user_id, language = user.id, _lang(user.language)
            if user_id is None:
                reply_text = bilingual("not_enrolled", msg.locale)
                reply = MessageFactory.text(reply_text)
            elif not msg.personal:
                reply_text = LABELS[language]["personal_only"]
                reply = MessageFactory.text(reply_text)
            else:
                store_reference(runtime, user_id, msg.reference)
                if not msg.text:
                    reply_text = LABELS[language]["text_only"]
                    reply = MessageFactory.text(reply_text)
                elif deliver and runtime.settings.llm_base_url:  # an LLM writes for a while: stream it
                    answer = asyncio.run(self.stream_reply(msg, user_id))
                    reply_text, deliver = answer.answer, False  # delivered as it was written
                    reply = card_activity(answer_card(answer), summary=answer.answer)
                else:
                    answer = runtime.ask(user_id, msg.text, thread_id=msg.thread_id)
                    reply_text = answer.answer
                    reply = card_activity(answer_card(answer), summary=answer.answer)
        except Exception:  # noqa: BLE001 — the user gets a message, the log gets the detail
            log.exception("answering Teams activity %s failed", msg.activity_id)
            reply_text = bilingual("error", msg.locale)
            reply = MessageFactory.text(reply_text)
        if deliver:
            try:
                self.send(msg.reference, reply, reply_to=msg.activity_id)
            except Exception:  # noqa: BLE001
                log.exception("delivering the answer to Teams activity %s failed", msg.activity_id)
                status = "failed"
        runtime.inbox.finish(inbound_id, status=status, answer=reply_text, user_id=user_id).result()
        return reply

    async def stream_reply(self, msg: TeamsMessage, user_id: int):
        """The answer streamed into the personal chat with the Agents SDK's StreamingResponse:
        "looking up lead #432 …" updates, the text as the model writes it, then the final message
        with the answer card. Where Teams refuses streaming, the SDK sends that one final message."""
        from microsoft_agents.hosting.core.app.streaming import StreamingResponse

        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def pump() -> None:  # Copilot.stream runs in one worker thread; events cross to the loop
            try:
                for event in self.runtime.stream(user_id, msg.text, msg.thread_id):
                    loop.call_soon_threadsafe(events.put_nowait, event)
            except Exception as exc:  # noqa: BLE001 — re-raised on the loop, where answer() reports it
                loop.call_soon_threadsafe(events.put_nowait, ("error", exc))

        continuation = ConversationReference.model_validate(msg.reference).get_continuation_activity()
        continuation.id = msg.activity_id
        done: list[Any] = []
        streamed: list[str] = []

        async def callback(context: TurnContext) -> None:
            stream = StreamingResponse(context)
            worker = loop.run_in_executor(None, pump)
            while not done:
                kind, item = await events.get()
                if kind == "error":
                    raise item
                if kind == "status":
                    stream.queue_informative_update(item["text"])
                elif kind == "token":
                    streamed.append(item)
                    stream.queue_text_chunk(item)
                else:
                    done.append(item)
                    # the streamed text is the final message's text: the card adds what follows it, not the text again
                    stream.set_attachments([CardFactory.adaptive_card(answer_card(item, with_text=not streamed))])
            await worker
            await stream.end_stream()

        await self.adapter.continue_conversation(self.app_id, continuation, callback)
        return done[0]

    def remember(self, msg: TeamsMessage) -> None:
        with self.runtime.session_factory() as session:
            user_id = session.scalar(select(User.id).where(User.teams_aad_id == msg.aad_object_id))
        if user_id is not None:
            store_reference(self.runtime, user_id, msg.reference)

    def decide_suggestion(self, aad_id: str, data: dict[str, Any], locale: str | None) -> str:
        """Adopt or dismiss an AI suggestion from a card button, as the user who pressed it."""
        from tools.suggestions import decide_suggestion

        verb = str(data.get("verb") or "")
        decision = {"suggestion.adopt": "adopted", "suggestion.dismiss": "dismissed"}.get(verb)
        with self.runtime.session_factory() as session:
            user = session.scalar(select(User).where(User.teams_aad_id == aad_id)) if aad_id else None
            if user is None:
                return bilingual("not_enrolled", locale)
            ctx = self.runtime.context(session, user)
            try:
                suggestion_id = int(data.get("suggestion_id"))
                if decision is None:
                    raise ValueError(verb)
                result = decide_suggestion(ctx=ctx, suggestion_id=suggestion_id, decision=decision)
            except (TypeError, ValueError):
                return ctx.t("这个按钮已失效。", "This button is no longer valid.")
            except RepcopilotError as exc:
                return str(exc)
            session.commit()
            return result.message

    def send(self, reference: dict[str, Any], activity: Activity, *, reply_to: str | None = None) -> str | None:
        """Post an activity into a stored conversation through the connector (synchronous: call it
        from a worker thread, not from inside an event loop). The id the channel gave it."""
        return asyncio.run(self.send_async(reference, activity, reply_to=reply_to))

    async def send_async(self, reference: dict[str, Any], activity: Activity, *,
                         reply_to: str | None = None) -> str | None:
        continuation = ConversationReference.model_validate(reference).get_continuation_activity()
        continuation.id = reply_to  # None: a new message, not a reply
        sent: list[Any] = []

        async def callback(context: TurnContext) -> None:
            sent.append(await context.send_activity(activity))

        await self.adapter.continue_conversation(self.app_id, continuation, callback)
        return sent[0].id if sent and sent[0] is not None else None


def store_reference(runtime, user_id: int, reference: dict[str, Any]) -> None:
    """Keep the user's latest personal-chat reference: where proactive messages go."""
    now = datetime.now(UTC).replace(tzinfo=None)
    for _ in range(2):
        with runtime.session_factory() as session:
            row = session.scalar(select(ConversationRef).where(ConversationRef.channel == CHANNEL,
                                                               ConversationRef.user_id == user_id))
            if row is None:
                session.add(ConversationRef(channel=CHANNEL, user_id=user_id, reference=reference, updated_at=now))
            else:
                row.reference, row.updated_at = reference, now
            try:
                session.commit()
                return
            except IntegrityError:  # a concurrent first message stored it: update that row
                session.rollback()


# -- cards ------------------------------------------------------------------------------------

def card_activity(card: dict[str, Any], *, summary: str | None = None) -> Activity:
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    if summary:
        activity.summary = summary[:200]  # the notification / chat-list preview
    return activity


def _evidence_line(item: dict[str, Any]) -> str:
    head = " ".join(str(part) for part in (item.get("kind"), item.get("id")) if part)
    when = f" · {item['time']}" if item.get("time") else ""
    text = str(item.get("text") or "")
    return f"- {head}{when} — {text[:160]}{'…' if len(text) > 160 else ''}"


def answer_card(answer, *, with_text: bool = True) -> dict[str, Any]:
    """The copilot's answer as an Adaptive Card (1.5): answer, chart, evidence, confidence,
    and adopt / dismiss buttons for the AI suggestions it lists. Labels follow the answer's language.
    ``with_text=False`` when the text was already streamed into the message the card ends."""
    labels = LABELS[_lang(answer.language)]
    answer_blocks = text_blocks(answer.answer[:6000]) if with_text else []
    evidence = answer.evidence or []
    body = [*evidence_blocks(evidence, labels), *confidence_blocks(answer.confidence, labels)]  # what follows the answer
    actions = [*suggestion_actions(evidence, labels), *choice_actions(getattr(answer, "choices", None) or [])]
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "version": "1.5", "body": [*answer_blocks, *body], "msteams": {"width": "Full"}}
    if actions:
        card["actions"] = actions
    for image in answer.images[:1]:
        card = with_chart(card, image, answer_blocks, body, labels)
    return card


def evidence_blocks(evidence: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The evidence heading and up to MAX_EVIDENCE lines (plus how many more there are); none without evidence."""
    if not evidence:
        return []
    lines = [_evidence_line(item) for item in evidence[:MAX_EVIDENCE]]
    if len(evidence) > MAX_EVIDENCE:
        lines.append(labels["more"].format(n=len(evidence) - MAX_EVIDENCE))
    return [{"type": "TextBlock", "text": labels["evidence"], "weight": "Bolder", "separator": True},
            {"type": "TextBlock", "text": "\n".join(lines), "wrap": True, "size": "Small"}]


def confidence_blocks(confidence: float | None, labels: dict[str, str]) -> list[dict[str, Any]]:
    if confidence is None:
        return []
    return [{"type": "TextBlock", "text": f"{labels['confidence']}: {confidence:.0%}", "isSubtle": True, "size": "Small"}]


def suggestion_actions(evidence: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Adopt / dismiss buttons (``Action.Execute``) for the first MAX_SUGGESTION_BUTTONS suggestions listed."""
    suggestion_ids = [str(item["id"]) for item in evidence if item.get("kind") == "suggestion" and item.get("id")]
    return [{"type": "Action.Execute", "title": labels[verb].format(id=sid), "verb": f"suggestion.{verb}",
             "data": {"suggestion_id": sid}}
            for sid in suggestion_ids[:MAX_SUGGESTION_BUTTONS] for verb in ("adopt", "dismiss")]


def choice_actions(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An unsure answer's readings: a tap posts the reading's number back as the user's message."""
    return [{"type": "Action.Submit", "title": choice["label"], "data": {"msteams": {"type": "imBack", "value": choice["reply"]}}}
            for choice in choices]


def with_chart(card: dict[str, Any], image: str, answer_blocks: list[dict[str, Any]], body: list[dict[str, Any]],
               labels: dict[str, str]) -> dict[str, Any]:
    """The card with the chart inline after the answer when it fits CARD_LIMIT_BYTES; otherwise a note
    where the answer's chart would be (the numbers are in the answer's table)."""
    chart = {"type": "Image", "url": "data:image/png;base64," + base64.b64encode(Path(image).read_bytes()).decode(),
             "altText": labels["chart"]}
    charted = {**card, "body": [*answer_blocks, chart, *body]}
    if _size(charted) <= CARD_LIMIT_BYTES:
        return charted
    note = {"type": "TextBlock", "text": labels["chart_too_big"], "isSubtle": True, "wrap": True}
    card["body"] = [*answer_blocks, note, *body]
    return card


_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def text_blocks(markdown: str) -> list[dict[str, Any]]:
    """The answer's markdown as card elements: Adaptive Cards render no markdown tables, so each
    ``| a | b |`` table (a KPI breakdown) becomes a ``Table`` element; the rest stays TextBlocks."""
    elements: list[dict[str, Any]] = []
    text: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        if _TABLE_ROW.match(lines[i]) and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            rows = [lines[i]]
            i += 2
            while i < len(lines) and _TABLE_ROW.match(lines[i]):
                rows.append(lines[i])
                i += 1
            cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
            if text and "".join(text).strip():
                elements.append({"type": "TextBlock", "text": "\n".join(text).strip(), "wrap": True})
            text = []
            elements.append({"type": "Table", "firstRowAsHeader": True, "columns": [{"width": 1}] * len(cells[0]),
                             "rows": [{"type": "TableRow", "cells": [
                                 {"type": "TableCell", "items": [{"type": "TextBlock", "text": cell, "wrap": True}]}
                                 for cell in row]} for row in cells]})
            continue
        text.append(lines[i])
        i += 1
    if "".join(text).strip() or not elements:
        elements.append({"type": "TextBlock", "text": "\n".join(text).strip(), "wrap": True})
    return elements


def _size(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode())


# -- proactive messages -----------------------------------------------------------------------

def send_proactive(runtime, user_id: int, card_or_text: dict[str, Any] | str) -> str | None:
    """Send an alert (an Adaptive Card dict, or text) to a user's personal Teams chat, through the
    conversation reference stored when they last wrote to the bot. Synchronous: call it from a job
    or a thread, not from inside an event loop. The id Teams gave the message."""
    bot: TeamsBot | None = getattr(runtime, "teams", None)
    if bot is None:
        raise ConfigError("Teams is not configured: set REPCOPILOT_TEAMS_APP_ID, _TEAMS_APP_PASSWORD and _TEAMS_TENANT_ID")
    with runtime.session_factory() as session:
        reference = session.scalar(select(ConversationRef.reference).where(ConversationRef.channel == CHANNEL,
                                                                           ConversationRef.user_id == user_id))
    if reference is None:
        raise NotFoundError(f"user {user_id} has no Teams conversation yet: they must message the bot in Teams once "
                            "(or have the app installed) before alerts can reach them")
    activity = card_activity(card_or_text) if isinstance(card_or_text, dict) else MessageFactory.text(card_or_text)
    return bot.send(reference, activity)


# -- wiring -----------------------------------------------------------------------------------

# Builds the outbound token provider from the connection's configuration: MSAL client credentials
# (``MsalAuth``) when None. Hosts with another credential (managed identity, a token sidecar) and the
# tests (a fixed token for the local connector) put their provider factory here before create_app.
OUTBOUND_TOKEN_PROVIDER: Callable[[AgentAuthConfiguration], AccessTokenProviderBase] | None = None


def connections_for(settings) -> ConnectionManager:
    """The app registration as the SDK's one service connection: validates inbound tokens
    (audience = app id, issuer allow-list on) and signs outbound replies."""
    config = AgentAuthConfiguration(client_id=settings.teams_app_id, tenant_id=settings.teams_tenant_id,
                                    client_secret=settings.teams_app_password, connection_name="SERVICE_CONNECTION",
                                    validate_issuer=True)
    factory = OUTBOUND_TOKEN_PROVIDER
    if factory is None:
        if not (settings.teams_app_password and settings.teams_tenant_id):
            raise ConfigError("Teams needs REPCOPILOT_TEAMS_APP_PASSWORD (the app registration's client secret) and "
                              "REPCOPILOT_TEAMS_TENANT_ID to send replies")
        from microsoft_agents.authentication.msal import MsalAuth

        factory = MsalAuth
    return ConnectionManager(provider_factory=factory, connections_configurations={"SERVICE_CONNECTION": config})


def mount(app: FastAPI, runtime) -> None:
    """Add the Teams endpoint to the app (nothing until Teams is configured)."""
    settings = runtime.settings
    runtime.teams = None
    if not settings.teams_app_id:
        return
    connections = connections_for(settings)
    bot = TeamsBot(runtime, connections=connections, auth=connections.get_default_connection_configuration())
    runtime.teams = bot
    app.state.teams = bot
    app.include_router(router)
