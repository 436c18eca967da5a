"""The HTTP API: health, chat (JSON or streamed), KPI questions with their chart."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from agent.planners import detect_language
from agent.service import Answer
from api.capacity import busy, run_agent
from api.conversations import answer_links, record_turn
from api.deps import CurrentUser, IdPath, Limit, RuntimeDep, not_yours_or_missing
from api.render import answer_html
from api.schemas import KpiOut, SuggestionDecisionOut, SuggestionOut
from core.blobs import BlobMissing
from core.errors import NotFoundError, PermissionDenied

log = logging.getLogger("repcopilot.api")

router = APIRouter(prefix="/api", tags=["api"])
health = APIRouter(tags=["health"])


@health.get("/health")
def get_health() -> dict:
    return {"status": "ok"}


def _unready(status: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=503, headers={"Retry-After": "1"})


def chroma_problem(chroma_url: str | None) -> str | None:
    """Why the configured Chroma server does not answer its heartbeat, or None (also when none is configured)."""
    if not chroma_url:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(f"{chroma_url.rstrip('/')}/api/v2/heartbeat", timeout=2) as reply:
            reply.read()
    except OSError as exc:
        return f"the Chroma server at REPCOPILOT_CHROMA_URL does not answer ({type(exc).__name__}); start it or fix the URL"
    return None


@health.get("/ready")
def get_ready(request: Request):
    """200 once the database (and the Chroma server, when one is configured) answers and the knowledge
    store and models are open; 503 with the reason otherwise — a load balancer sends no traffic then."""
    runtime = request.app.state.runtime
    try:
        with runtime.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — any driver error means the same: not ready
        return _unready("database unavailable", f"the database does not answer ({type(exc).__name__}); "
                                                "check REPCOPILOT_DATABASE_URL and that the server is up")
    if problem := chroma_problem(runtime.settings.chroma_url):
        return _unready("chroma unavailable", problem)
    if not runtime.ready.is_set():
        return JSONResponse({"status": "starting", "detail": "opening the knowledge store and models"}, status_code=503,
                            headers={"Retry-After": "1"})
    return {"status": "ready"} | ({"warning": runtime.warm_up_error} if runtime.warm_up_error else {})


def public_paths(value, home: Path):
    """``value`` with the server's file paths replaced: a chart by its URL, anything else in the
    data home by its name — no answer shows where the server keeps its files."""
    if isinstance(value, str):
        root = str(home)
        if root not in value:
            return value
        return value.replace(f"{root}/charts/", "/api/charts/").replace(root + "/", "").replace(root, "")
    if isinstance(value, list):
        return [public_paths(v, home) for v in value]
    if isinstance(value, dict):
        return {k: public_paths(v, home) for k, v in value.items()}
    return value


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=4000)
    thread_id: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    stream: bool = False


class ChatOut(BaseModel):
    answer: str
    html: str  # the answer's Markdown rendered and sanitized (api/render.py)
    language: str
    tools: list[dict]
    evidence: list[dict]
    confidence: float | None
    thread_id: str
    message_id: int  # what 👍/👎 refers to: POST /api/answers/{message_id}/feedback
    images: list[str] = []  # chart URLs (GET with the same token)
    links: list[dict] = []  # pages the answer points to (a debrief: its call page)
    choices: list[dict] = []  # when unsure: the likeliest readings, {label, reply}; sending reply picks one


def _finish(runtime, user_id: int, short_thread: str, question: str, answer: Answer) -> ChatOut:
    """Store the turn in the user's conversation and shape the answer for the web."""
    if answer.images:
        publish_charts(runtime, answer.images)  # any node serves the chart
    images = [f"/api/charts/{Path(p).name}" for p in answer.images]
    with runtime.session_factory() as session, session.begin():
        message_id = record_turn(session, user_id=user_id, thread_id=short_thread, question=question,
                                 answer=answer, images=images)
    data = public_paths(answer.to_json(), runtime.home) | {"images": images}  # no server path in any answer
    return ChatOut(**data, html=answer_html(data["answer"]), thread_id=short_thread,
                   message_id=message_id, links=answer_links(answer.tools, answer.evidence))


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def _chat_events(runtime, user_id: int, short_thread: str, question: str) -> AsyncIterator[str]:
    """The copilot's stream, produced in a worker thread and sent as it comes: ``status`` while a
    tool runs, ``token`` pieces of the answer (an LLM's tokens as the model produces them), then
    ``done`` with the stored, rendered answer — or ``error`` with what to do."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    thread = f"web:{user_id}:{short_thread}"

    def produce() -> None:
        try:
            answer = None
            for kind, item in runtime.stream(user_id, question, thread):
                if kind == "done":
                    answer = item  # stored once the turn's own transaction has committed (SQLite: one writer)
                    continue
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            if answer is not None:
                loop.call_soon_threadsafe(queue.put_nowait, ("done", _finish(runtime, user_id, short_thread, question, answer)))
        except Exception as exc:  # noqa: BLE001 — the browser gets the reason, the log the trace
            log.exception("chat stream failed")
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    worker = asyncio.ensure_future(run_in_threadpool(produce))
    while (item := await queue.get()) is not None:
        kind, payload = item
        if kind == "token":
            yield _sse("token", {"text": payload})
        elif kind == "status":
            yield _sse("status", payload)
        elif kind == "done":
            yield _sse("done", payload.model_dump())
        else:
            zh = detect_language(question) == "zh"
            yield _sse("error", {"detail": ("回答失败,请稍后重试;如果一直失败,请联系管理员查看服务日志。" if zh else
                                            "The answer failed; try again shortly, and if it keeps failing ask an admin "
                                            "to check the server log.") + f" ({type(payload).__name__})"})
    await worker


@router.post("/chat", response_model=ChatOut)
async def chat(body: ChatIn, user: CurrentUser, request: Request, runtime: RuntimeDep):
    """Ask the copilot. ``stream: true`` answers as server-sent events (status, token …, done);
    otherwise one JSON answer. Every turn is stored in your conversation ``thread_id``."""
    short = body.thread_id or uuid.uuid4().hex[:12]
    if body.stream:
        gate = runtime.agent_gate
        if not await gate.acquire():  # the stream holds an agent slot from its first byte to its last
            raise busy(gate.retry_after_s)
        return StreamingResponse(_released(gate, _chat_events(runtime, user.id, short, body.message)),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answer = await run_agent(request, runtime.ask, user.id, body.message, f"web:{user.id}:{short}")
    return await run_in_threadpool(_finish, runtime, user.id, short, body.message, answer)


async def _released(gate, events: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event
    finally:
        gate.release()


class KpiIn(BaseModel):
    question: str = Field(min_length=1, max_length=500)


@router.post("/kpi", response_model=KpiOut)
async def kpi(body: KpiIn, user: CurrentUser, request: Request, runtime: RuntimeDep) -> dict:

    def run() -> dict:
        from tools.kpi import answer_question

        with runtime.session_factory() as session:
            language = "zh" if any("\u4e00" <= c <= "\u9fff" for c in body.question) else "en"
            ctx = runtime.context(session, user, language)
            chart_id = uuid.uuid4().hex
            chart = runtime.home / "charts" / f"{user.id}-{chart_id}.png"
            answer = answer_question(ctx=ctx, question=body.question, chart_path=chart)
            data = answer.to_json()
            data["chart"] = f"/api/charts/{user.id}-{chart_id}.png" if answer.chart else None
            if answer.chart:
                publish_charts(runtime, [chart])
            data["text"] = answer.render(chart_path=False)  # the chart's URL, never its file path
            if data["chart"]:
                data["text"] += ("\n图表:" if language == "zh" else "\nChart: ") + data["chart"]
            return public_paths(data, runtime.home)

    return await run_agent(request, run)  # a domain error leaves as its HTTP answer (api.errors)


def publish_charts(runtime, paths) -> None:
    """Charts drawn on this node, stored where every node can serve them (the blob store; with
    the local store they are already in place)."""
    for path in paths:
        path = Path(path)
        if path.is_file():
            runtime.blobs.put_file(f"charts/{path.name}", path)


CHART_NAME = re.compile(r"^[0-9]+-[0-9a-f]{32}\.png$")


@router.get("/charts/{name}")
def chart(name: str, user: CurrentUser, runtime: RuntimeDep):
    """A chart of yours, drawn by this node or any other."""
    if not name.startswith(f"{user.id}-") or not CHART_NAME.match(name):
        raise HTTPException(404, "no such chart")
    path: Path = runtime.home / "charts" / name
    if path.is_file():
        return FileResponse(path, media_type="image/png")
    try:
        return StreamingResponse(runtime.blobs.read(f"charts/{name}"), media_type="image/png")
    except BlobMissing:
        raise HTTPException(404, "no such chart") from None


# -- AI suggestions ---------------------------------------------------------------------------

@router.get("/suggestions", response_model=list[SuggestionOut])
async def list_suggestions_route(user: CurrentUser, runtime: RuntimeDep, status: str | None = None, limit: Limit = 50,
                                 lang: str | None = None) -> list[dict]:
    """The AI suggestions shown to the caller (a manager: to the team), newest first."""

    def run() -> list[dict]:
        from tools.suggestions import list_suggestions

        with runtime.session_factory() as session:
            ctx = runtime.context(session, user, lang)
            return [r.to_json() for r in list_suggestions(ctx=ctx, status=status, limit=limit)]

    return await run_in_threadpool(run)  # a domain error leaves as its HTTP answer (api.errors)


@router.post("/suggestions/{suggestion_id}/{decision}", response_model=SuggestionDecisionOut)
async def decide_suggestion_route(suggestion_id: IdPath, decision: str, user: CurrentUser, runtime: RuntimeDep,
                                  lang: str | None = None) -> dict:
    """Adopt or dismiss a suggestion (``decision`` = adopt | dismiss). Repeating the same
    decision is a no-op (``changed: false``); reversing one is refused (422)."""
    if decision not in ("adopt", "dismiss"):
        raise HTTPException(404, "use /api/suggestions/{id}/adopt or /api/suggestions/{id}/dismiss")

    def run() -> dict:
        from tools.suggestions import decide_suggestion

        with runtime.session_factory() as session:
            ctx = runtime.context(session, user, lang)
            try:
                result = decide_suggestion(ctx=ctx, suggestion_id=suggestion_id,
                                           decision="adopted" if decision == "adopt" else "dismissed")
            except (PermissionDenied, NotFoundError):  # someone else's and a missing one: the same 404
                raise not_yours_or_missing("建议", "suggestion", suggestion_id, ctx.language, "GET /api/suggestions") from None
            session.commit()
            return result.to_json()

    return await run_in_threadpool(run)  # a domain error leaves as its HTTP answer (api.errors)
