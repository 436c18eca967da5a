"""Practice sessions over HTTP: the copilot plays the customer, the rep answers by text or by a
recorded turn (the speech pipeline measures the pause before it, as on a real call).

    GET  /api/practice/scenarios                 the scenarios, in the caller's language
    GET  /api/practice/scenarios/{code}          one scenario's brief (trainers: + hidden pain points, rubric)
    POST /api/practice/sessions                  {"scenario": code or phrase} → session id + the customer's opening
    POST /api/practice/sessions/{id}/turns       {"text", "pause_s"?} as JSON, or multipart ``file`` = a recorded turn
    POST /api/practice/sessions/{id}/end         → {"transcript", "scores", "rubric", "pain_points_found", "report"}
    GET  /api/practice/sessions/{id}             the same for a session you may see
    GET  /api/practice/sessions                  own (rep) / team (manager) / all (trainer, admin)
    GET  /api/practice/report                    the trainer's view: by rep and scenario, first → last, trend

Access comes from the bearer token. A session that is not the caller's to use answers 404 with
the same words as one that does not exist, so nothing about it leaks.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from api.capacity import run_agent
from api.deps import CurrentUser, IdPath, RuntimeDep, http_error
from api.schemas import (
    PracticeReportOut,
    PracticeResultOut,
    PracticeSessionOut,
    PracticeSessionRowOut,
    PracticeStartOut,
    PracticeTurnOut,
    ScenarioBriefOut,
    ScenarioListOut,
)
from api.uploads import check_suffix, receive_file
from core.errors import NotFoundError, PermissionDenied
from crm.models import User
from tools.calls import AUDIO_SUFFIXES

router = APIRouter(prefix="/api/practice", tags=["practice"])

class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1, max_length=200,
                          description="a scenario code (hospital-price-objection) or a phrase (医院采购价格异议)")


class TurnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000, description="what the rep says to the customer")
    pause_s: float | None = Field(None, ge=0, le=120, description="the pause before the turn, when measured elsewhere")


def _lang(lang: str | None) -> str | None:
    if lang is None:
        return None
    if lang not in ("zh", "en"):
        raise HTTPException(422, f"lang={lang!r}: write lang=zh or lang=en (or leave it out for your own language)")
    return lang


_SESSION_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _session_lock(session_id: int) -> threading.Lock:
    """Turns of one session run one at a time in this process (SQLite has no row locks; on
    PostgreSQL the row is also locked FOR UPDATE, which covers several server processes)."""
    with _LOCKS_GUARD:
        return _SESSION_LOCKS.setdefault(session_id, threading.Lock())


def _not_yours(session_id: int, language: str) -> HTTPException:
    """The one answer for a session that does not exist and for one that is not the caller's."""
    if language == "zh":
        return HTTPException(404, f"没有编号为 {session_id} 的练习;用 GET /api/practice/sessions 查看你的练习。")
    return HTTPException(404, f"there is no practice session {session_id} of yours; list yours with GET /api/practice/sessions")


async def _run(request: Request, user: User, lang: str | None, fn, *, commit: bool = False, session_id: int | None = None,
               lock: threading.Lock | None = None, agent: bool = False):
    """``fn(ctx)`` in the thread pool with a ToolContext of the caller; errors → 4xx that say what to do.
    ``lock`` is held around the whole database session, so the work reads what the previous holder committed;
    ``agent``: the work is an agent run (the customer's reply), held to the process's agent slots (503 beyond them)."""
    runtime = request.app.state.runtime
    language = _lang(lang)

    def work():
        with lock or nullcontext(), runtime.session_factory() as session:
            ctx = runtime.context(session, user, language)
            try:
                out = fn(ctx)
            except (PermissionDenied, NotFoundError) as exc:
                session.rollback()
                if session_id is not None:  # another user's session is answered like a missing one
                    raise _not_yours(session_id, ctx.language) from None
                raise http_error(exc) from None
            if commit:
                session.commit()
            return out

    if agent:  # a domain error leaves as its HTTP answer (api.errors)
        return await run_agent(request, work)
    return await run_in_threadpool(work)


def _own_session(ctx, session_id: int, *, write: bool):
    """The session row when the caller may use it (``write``: only the rep who started it)."""
    from tools.practice.service import load_session

    row = load_session(ctx, session_id, write=write)
    if write and row.user_id != ctx.user.id:
        raise PermissionDenied("not yours")
    return row


# -- scenarios ----------------------------------------------------------------------------------

@router.get("/scenarios", response_model=ScenarioListOut)
async def list_scenarios_route(user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """Built-in and trainer-created scenarios: code, title (in your language), industry, skill, persona,
    how many pain points are hidden. Trainers also see trainer files that do not validate (``errors``)."""
    from tools.practice.service import list_scenarios

    return await _run(request, user, lang, list_scenarios)


@router.get("/scenarios/{code}", response_model=ScenarioBriefOut)
async def show_scenario_route(code: str, user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """The brief a rep reads before starting; trainers and admins also get the hidden pain points,
    objections and the rubric. A code or a phrase ("hospital price objection") is accepted."""
    from tools.practice.service import show_scenario

    return await _run(request, user, lang, lambda ctx: show_scenario(ctx, code))


# -- sessions -----------------------------------------------------------------------------------

@router.post("/sessions", status_code=201, response_model=PracticeStartOut)
async def start_session_route(body: StartBody, user: CurrentUser, request: Request, runtime: RuntimeDep, lang: str | None = None) -> dict:
    """Start practising: ``{"scenario": "医院采购价格异议"}`` → ``{"session_id", "scenario", "title",
    "situation", "persona", "opening", "turns_url", …}``. An unknown scenario → 404 listing the codes."""
    from agent.practice import make_persona, start_session

    view = await _run(request, user, lang, lambda ctx: start_session(ctx, body.scenario, persona=make_persona(runtime.settings)),
                      commit=True, agent=True)
    sid = view["session_id"]
    return view | {"turns_url": f"/api/practice/sessions/{sid}/turns", "end_url": f"/api/practice/sessions/{sid}/end"}


async def _turn_input(request: Request) -> tuple[str | None, float | None, UploadFile | None]:
    """(text, pause, audio file) from a JSON body ``{"text", "pause_s"?}`` or a multipart form with ``file``."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise HTTPException(422, "the form has no 'file' field: send the recorded turn as multipart field 'file' "
                                     "(WAV, MP3, M4A, OGG …), or send JSON {\"text\": \"…\"}")
        return None, None, file
    if ctype.startswith("application/json"):
        try:
            raw = await request.json()
        except ValueError:
            raise HTTPException(422, "the body is not valid JSON; send {\"text\": \"what you say to the customer\"}") from None
        try:
            body = TurnBody.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
            raise HTTPException(422, f"{problems} — send {{\"text\": \"what you say to the customer\"}} "
                                     "(optionally \"pause_s\": seconds before it)") from None
        if not body.text.strip():
            raise HTTPException(422, "the turn is empty; send {\"text\": \"what you say to the customer\"}")
        return body.text, body.pause_s, None
    raise HTTPException(415, f"send the turn as JSON {{\"text\": \"…\"}} (Content-Type: application/json) or a recording "
                             f"as multipart/form-data field 'file', not {ctype.split(';')[0] or '(no content type)'}")


TURN_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": TurnBody.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "a recording of the rep's turn (WAV, MP3, M4A, OGG …)"}}}}}}}


@router.post("/sessions/{session_id}/turns", openapi_extra=TURN_BODY, response_model=PracticeTurnOut)
async def rep_turn_route(session_id: IdPath, user: CurrentUser, request: Request, runtime: RuntimeDep, lang: str | None = None) -> dict:
    """One rep turn → the customer's reply and the running scores:
    ``{"session_id", "rep": {"idx", "kind", "text", "pause_s"}, "customer": {"idx", "text"}, "running": {…},
    "ended"}`` (+ ``"scores"`` and ``"report"`` when the customer agreed a next step or the turn limit was hit).

    - JSON ``{"text": "…"}`` (optionally ``"pause_s"``): a typed turn; no pause is measured.
    - multipart field ``file``: a recording of the rep's turn that starts when the customer stopped speaking;
      the speech pipeline gives the words, the pause before them and the turn's length. Limited by
      ``REPCOPILOT_MAX_UPLOAD_MB``; not audio → 415.
    """
    from agent.practice import make_persona, rep_turn

    language = _lang(lang)
    text, pause_s, file = await _turn_input(request)
    # the session is checked before a recording is stored or transcribed: someone else's → 404, ended → 422
    await _run(request, user, language, lambda ctx: _check_open(ctx, session_id), session_id=session_id)
    path: Path | None = None
    if file is not None:
        name = Path(file.filename or "turn").name
        suffix = check_suffix(name, AUDIO_SUFFIXES)
        folder = runtime.home / "uploads" / "practice"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}{suffix}"
        await receive_file(file, path, name=name, max_mb=runtime.settings.max_upload_mb, audio=True, what="your turn")
    persona = make_persona(runtime.settings)

    try:
        return await _run(request, user, language,
                          lambda ctx: rep_turn(ctx, session_id, text, audio=path, pause_s=pause_s, persona=persona,
                                               whisper_model=runtime.settings.whisper_model),
                          commit=True, session_id=session_id, lock=_session_lock(session_id), agent=True)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)  # the recording is not kept: its words and timing are in the transcript


def _check_open(ctx, session_id: int) -> None:
    from core.errors import UserInputError

    row = _own_session(ctx, session_id, write=True)
    if row.ended_at is not None:
        raise UserInputError(ctx.t(f"练习 {session_id} 已经结束;用 POST /api/practice/sessions 开始新的练习。",
                                   f"practice session {session_id} has ended; start a new one with POST /api/practice/sessions"))


@router.post("/sessions/{session_id}/end", response_model=PracticeResultOut)
async def end_session_route(session_id: IdPath, user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """End your session (again: the same report): ``{"session_id", "scenario", "transcript", "scores", "rubric",
    "pain_points_found", "report"}`` — each rubric verdict cites the turn that shows it or says why it failed."""
    from agent.practice import end_session

    def run(ctx) -> dict[str, Any]:
        _own_session(ctx, session_id, write=True)
        return end_session(ctx, session_id)

    return await _run(request, user, lang, run, commit=True, session_id=session_id, lock=_session_lock(session_id))


@router.get("/sessions/{session_id}", response_model=PracticeSessionOut)
async def get_session_route(session_id: IdPath, user: CurrentUser, request: Request, lang: str | None = None) -> dict:
    """A session you may see (yours; a manager: the team's; a trainer or admin: any): transcript so far,
    and for an ended one the scores, rubric verdicts and report."""
    from agent.practice import session_result

    def run(ctx) -> dict[str, Any]:
        row = _own_session(ctx, session_id, write=False)
        return session_result(row) | {"ended": row.ended_at is not None}

    return await _run(request, user, lang, run, session_id=session_id)


@router.get("/sessions", response_model=list[PracticeSessionRowOut])
async def list_sessions_route(user: CurrentUser, request: Request, rep: str | None = None, scenario: str | None = None,
                              lang: str | None = None) -> list[dict]:
    """Sessions you may see — a rep: own; a manager: the team's; a trainer or admin: all — oldest first:
    ``[{"id", "rep", "scenario", "started_at", "ended_at", "turns", "overall", "discovery", "rubric", …}]``."""
    from tools.practice.service import list_sessions

    return await _run(request, user, lang, lambda ctx: list_sessions(ctx, rep, scenario))


@router.get("/report", response_model=PracticeReportOut)
async def report_route(user: CurrentUser, request: Request, rep: str | None = None, scenario: str | None = None,
                       lang: str | None = None) -> dict:
    """The trainer's view of every ended session the caller may see, by rep and scenario:
    ``{"sessions", "rows": [{"rep", "scenario", "sessions", "first", "last", "best", "trend", …}], "by_rep", "by_scenario"}``."""
    from tools.practice.service import trainer_report

    return await _run(request, user, lang, lambda ctx: trainer_report(ctx, rep, scenario))
