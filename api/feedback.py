"""👍 / 👎 on a web chat answer, with an optional reason: stored with the question, the answer,
its tools and evidence (the "answer helpfulness" KPI counts them; ``repcopilot eval
export-feedback`` turns the 👎 ones into eval cases)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.conversations import utc_now
from api.deps import CurrentUser, IdPath, RuntimeDep
from api.schemas import FeedbackOut
from crm.models import AnswerFeedback, ChatMessage, Conversation

router = APIRouter(prefix="/api", tags=["feedback"])
RATINGS = {"up": 1, "down": -1}


class FeedbackIn(BaseModel):
    rating: Literal["up", "down"] = Field(description="up = 👍 helpful, down = 👎 not helpful")
    reason: str = Field("", max_length=1000, description="optional: what was wrong or missing")


def rate_answer(session: Session, *, user_id: int, message_id: int, rating: str, reason: str) -> dict[str, Any] | None:
    """Store (or change) the user's verdict on one of their answers; None when the message is not
    an answer in one of the user's conversations."""
    reply = session.get(ChatMessage, message_id)
    conv = session.get(Conversation, reply.conversation_id) if reply is not None else None
    if reply is None or reply.role != "assistant" or conv is None or conv.user_id != user_id:
        return None
    question = session.scalar(select(ChatMessage.text).where(
        ChatMessage.conversation_id == conv.id, ChatMessage.role == "user", ChatMessage.id < reply.id)
        .order_by(ChatMessage.id.desc()).limit(1)) or ""
    row = session.scalar(select(AnswerFeedback).where(AnswerFeedback.message_id == message_id,
                                                      AnswerFeedback.user_id == user_id))
    if row is None:
        row = AnswerFeedback(message_id=message_id, user_id=user_id)
        session.add(row)
    tools = reply.tools or []
    row.rating, row.reason = RATINGS[rating], reason.strip()
    row.question, row.answer, row.language = question, reply.text, reply.language
    row.tool = (tools[0].get("name") if tools else None) or "none"
    row.tools, row.evidence, row.created_at = tools, reply.evidence or [], utc_now()
    session.flush()
    return {"message_id": message_id, "rating": rating, "reason": row.reason, "tool": row.tool}


@router.post("/answers/{message_id}/feedback", response_model=FeedbackOut)
async def post_feedback(message_id: IdPath, body: FeedbackIn, user: CurrentUser, runtime: RuntimeDep) -> dict:
    """Rate an answer 👍 (``up``) or 👎 (``down``) with an optional reason; rating it again changes
    the verdict. An answer that is not in one of your conversations is 404."""
    factory = runtime.session_factory

    def run() -> dict | None:
        with factory() as session, session.begin():
            return rate_answer(session, user_id=user.id, message_id=message_id, rating=body.rating, reason=body.reason)

    stored = await run_in_threadpool(run)
    if stored is None:
        raise HTTPException(404, "no answer of yours with that id; the id is the answer's message_id from the chat")
    return stored
