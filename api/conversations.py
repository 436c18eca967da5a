"""Web chat conversations: each user's threads (title from the first question, date), their
messages with tools, evidence and charts, reopened from the database — so any node can
show them. ``record_turn`` is called by the chat route after every answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.service import Answer
from api.deps import CurrentUser, Limit, RuntimeDep
from api.render import answer_html
from api.schemas import ConversationDetailOut, ConversationSummaryOut
from crm.models import AnswerFeedback, ChatMessage, Conversation

router = APIRouter(prefix="/api", tags=["conversations"])
TITLE_CHARS = 60


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def conversation_title(question: str) -> str:
    """The first question, on one line, cut at ``TITLE_CHARS`` characters."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1] + "…"


def record_turn(session: Session, *, user_id: int, thread_id: str, question: str, answer: Answer,
                images: list[str]) -> int:
    """Store a question and its answer in the user's conversation ``thread_id`` (created on its
    first question); returns the answer's message id (what feedback refers to)."""
    now = utc_now()
    conv = session.scalar(select(Conversation).where(Conversation.user_id == user_id, Conversation.thread_id == thread_id))
    if conv is None:
        conv = Conversation(user_id=user_id, thread_id=thread_id, channel="web", title=conversation_title(question),
                            created_at=now, updated_at=now)
        session.add(conv)
        session.flush()
    conv.updated_at = now
    session.add(ChatMessage(conversation_id=conv.id, role="user", text=question, language=answer.language,
                            tools=[], evidence=[], images=[], created_at=now))
    reply = ChatMessage(conversation_id=conv.id, role="assistant", text=answer.answer, language=answer.language,
                        tools=answer.tools, evidence=answer.evidence, confidence=answer.confidence, images=images,
                        created_at=now)
    session.add(reply)
    session.flush()
    return reply.id


def message_view(m: ChatMessage, rating: int | None = None) -> dict[str, Any]:
    view = {"id": m.id, "role": m.role, "text": m.text, "language": m.language, "created_at": m.created_at.isoformat()}
    if m.role == "assistant":
        view |= {"html": answer_html(m.text), "tools": m.tools, "evidence": m.evidence, "confidence": m.confidence,
                 "images": m.images, "rating": rating, "links": answer_links(m.tools, m.evidence)}
    return view


def answer_links(tools: list[dict[str, Any]], evidence: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """Pages an answer points to: a debrief (or any answer citing a call) links the call page."""
    ids: list[str] = []
    for call in tools or []:
        call_id = (call.get("args") or {}).get("call_id")
        if call.get("name") == "call_debrief" and isinstance(call_id, int):
            ids.append(str(call_id))
    if any(c.get("name") == "call_debrief" for c in tools or []):
        ids += [str(e.get("id")) for e in evidence or [] if e.get("kind") == "call" and str(e.get("id") or "").isdigit()]
    return [{"kind": "call", "url": f"/calls/{i}", "call_id": i} for i in dict.fromkeys(ids)]


def list_conversations(session: Session, *, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    counts = (select(ChatMessage.conversation_id, func.count().label("n"))
              .where(ChatMessage.role == "assistant").group_by(ChatMessage.conversation_id).subquery())
    rows = session.execute(
        select(Conversation, counts.c.n).outerjoin(counts, counts.c.conversation_id == Conversation.id)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit))
    return [{"thread_id": c.thread_id, "title": c.title, "created_at": c.created_at.isoformat(),
             "updated_at": c.updated_at.isoformat(), "answers": n or 0} for c, n in rows]


def conversation_detail(session: Session, *, user_id: int, thread_id: str) -> dict[str, Any] | None:
    conv = session.scalar(select(Conversation).where(Conversation.user_id == user_id, Conversation.thread_id == thread_id))
    if conv is None:
        return None
    ratings = dict(session.execute(
        select(AnswerFeedback.message_id, AnswerFeedback.rating)
        .join(ChatMessage, ChatMessage.id == AnswerFeedback.message_id)
        .where(ChatMessage.conversation_id == conv.id, AnswerFeedback.user_id == user_id)).all())
    return {"thread_id": conv.thread_id, "title": conv.title, "created_at": conv.created_at.isoformat(),
            "messages": [message_view(m, ratings.get(m.id)) for m in conv.messages]}


@router.get("/conversations", response_model=list[ConversationSummaryOut])
async def get_conversations(user: CurrentUser, runtime: RuntimeDep, limit: Limit = 50) -> list[dict]:
    """Your web chat conversations, the latest first: thread id, title (the first question), dates."""
    factory = runtime.session_factory

    def run() -> list[dict]:
        with factory() as session:
            return list_conversations(session, user_id=user.id, limit=max(1, min(limit, 200)))

    return await run_in_threadpool(run)


@router.get("/conversations/{thread_id}", response_model=ConversationDetailOut)
async def get_conversation(thread_id: str, user: CurrentUser, runtime: RuntimeDep) -> dict:
    """One of your conversations with every question and answer (answers rendered as safe HTML,
    with their evidence, charts and your 👍/👎). Someone else's thread is 404, as is a missing one."""
    factory = runtime.session_factory

    def run() -> dict | None:
        with factory() as session:
            return conversation_detail(session, user_id=user.id, thread_id=thread_id)

    found = await run_in_threadpool(run)
    if found is None:
        raise HTTPException(404, "no such conversation of yours; list yours with GET /api/conversations")
    return found
