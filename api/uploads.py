"""Call upload: the file is checked and stored, a transcription job is queued, the request
returns the job at once (202); the worker does the rest (tools/jobs.py)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from api.deps import MAX_ID, CurrentUser, IdPath, Limit, RuntimeDep
from api.schemas import JobOut, UploadedJobOut
from core.blobs import LocalBlobStore
from crm.access import scope_for, visible_leads
from crm.models import Account, Job, Lead, User
from crm.policy import is_manager, is_rep, manages, may_upload_calls, sees_everything
from speech.errors import SpeechError
from tools.calls import AUDIO_SUFFIXES, TRANSCRIPT_SUFFIXES
from tools.jobs import job_view

router = APIRouter(prefix="/api", tags=["calls"])
CHUNK = 1 << 20


def check_suffix(name: str, allowed: set[str] | frozenset[str]) -> str:
    """The file's lower-case suffix, or 415 naming the types to send instead."""
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise HTTPException(415, f"unsupported file type {suffix or '(none)'!r}: send one of {', '.join(sorted(allowed))}")
    return suffix


async def receive_file(file: UploadFile, path: Path, *, name: str, max_mb: int, audio: bool,
                       what: str = "the call") -> tuple[int, str]:
    """Stream an upload to ``path``: (size in bytes, sha256 hex). Over ``max_mb`` → 413, empty → 422,
    audio that cannot be decoded → 415, each saying what to do; a refused file is deleted."""
    limit = max_mb * 1024 * 1024
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as out:
            while block := await file.read(CHUNK):
                size += len(block)
                if size > limit:
                    raise HTTPException(413, f"the file is over {max_mb} MB "
                                             "(REPCOPILOT_MAX_UPLOAD_MB); split the recording or compress it")
                digest.update(block)
                out.write(block)
        if size == 0:
            raise HTTPException(422, f"{name} is empty (0 bytes); record or export {what} again")
        if audio:
            from speech.pipeline import probe

            try:
                _channels, duration_s = await run_in_threadpool(probe, path)
            except SpeechError as exc:
                raise HTTPException(415, str(exc).replace(str(path.name), name)) from None
            if duration_s <= 0:  # a header with no samples (a WAV cut off at 44 bytes) used to fail later, in the job
                raise HTTPException(415, f"{name} has no audio samples (0 seconds of sound); record or export {what} again")
    except BaseException:
        path.unlink(missing_ok=True)  # a refused upload leaves nothing behind
        raise
    return size, digest.hexdigest()


def store_upload(blobs, path: Path) -> str:
    """The received file (``HOME/uploads/<uuid><suffix>``) into the blob store; its key. With files in
    HOME it already is where the store keeps it; with the database store the local copy goes once the
    blob is in — and also when storing it failed, so a refused upload leaves nothing behind."""
    key = f"uploads/{path.name}"
    if isinstance(blobs, LocalBlobStore):
        return key
    try:
        blobs.put_file(key, path)  # several nodes: the worker may be on another machine
    finally:
        path.unlink(missing_ok=True)
    return key


def _target_rep(session, user: User, rep_login: str | None) -> User:
    """A rep uploads their own calls; a manager a rep of their team's; an admin anyone's."""
    if not rep_login or rep_login == user.login:
        if not may_upload_calls(user):
            raise HTTPException(403, "only reps, their managers and admins upload calls")
        return user
    rep = session.scalar(select(User).where(User.login == rep_login))
    allowed = rep is not None and (sees_everything(user) or manages(user, rep))
    if not allowed:  # the same answer whether the login exists or not: nothing leaks
        raise HTTPException(404, f"no rep {rep_login!r} you may upload for")
    return rep


def _check_account(session, user: User, account_id: int | None) -> None:
    """The call may be filed under an account the uploader may see (its owner is in their scope, or a
    lead they may see is on it) — 404 with the same words for one that is not theirs and one that is missing."""
    if account_id is None:
        return
    scope = scope_for(session, user)
    if scope.everything:
        visible = session.get(Account, account_id) is not None
    elif not (is_rep(user) or is_manager(user)):
        visible = False
    else:
        owned = exists().where(Account.id == account_id, Account.owner_id.in_(scope.owner_ids))
        leads = visible_leads(session, user).where(Lead.account_id == account_id).exists()
        visible = bool(session.scalar(select(owned | leads)))
    if not visible:
        raise HTTPException(404, f"no account {account_id} you may file calls under; leave account_id out, or ask "
                                 "about your accounts in the chat to find their ids")


def _store_job(session_factory, *, uploader_id: int, payload: dict) -> tuple[dict, bool]:
    """Insert-or-return on the unique (uploader, dedupe key): of any number of simultaneous uploads of
    the same file by the same uploader for the same rep exactly one job is queued; the others get it.
    A failed job gives its key up, so a file that failed can be sent again."""
    key = f"{payload['rep_id']}:{payload['content_hash']}"
    for _attempt in range(5):
        with session_factory() as session:
            try:
                with session.begin():
                    existing = session.scalar(select(Job).where(Job.user_id == uploader_id, Job.dedupe_key == key))
                    if existing is not None and existing.status != "failed":
                        return job_view(existing), False
                    if existing is not None:
                        existing.dedupe_key = None
                        session.flush()
                    now = datetime.now(UTC).replace(tzinfo=None)
                    job = Job(kind="ingest_call", status="queued", user_id=uploader_id, payload=payload, attempts=0,
                              created_at=now, updated_at=now, dedupe_key=key)
                    session.add(job)
                    session.flush()
                    return job_view(job), True
            except IntegrityError:  # a simultaneous upload of the same file won: return its job
                continue
    raise HTTPException(503, "too many simultaneous uploads of this file; try again in a second",
                        headers={"Retry-After": "1"})


@router.post("/calls", status_code=202, response_model=UploadedJobOut,
             responses={200: {"model": UploadedJobOut, "description": "the same file was uploaded before: its first job"}})
async def upload_call(
    runtime: RuntimeDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="a recording (WAV, MP3, M4A, OGG, AMR …) or a Teams VTT/JSON transcript")],
    rep: Annotated[str | None, Form(description="login of the rep on the call (default: you)")] = None,
    account_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    language: Annotated[str, Form(pattern="^(auto|zh|en)$")] = "auto",
    rep_channel: Annotated[str, Form(pattern="^(left|right)$")] = "left",
    rep_speaker: Annotated[str | None, Form(max_length=128)] = None,
):
    """Queue a call for transcription and metrics. Returns the job (202); poll
    ``GET /api/jobs/{id}``. The same file uploaded again returns its first job (200)."""
    name = Path(file.filename or "call").name
    suffix = check_suffix(name, AUDIO_SUFFIXES | TRANSCRIPT_SUFFIXES)
    with runtime.session_factory() as session:
        rep_user = _target_rep(session, user, rep)
        rep_id = rep_user.id
        _check_account(session, session.get(User, user.id), account_id)
    uploads = runtime.home / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / f"{uuid.uuid4().hex}{suffix}"
    size, content_hash = await receive_file(file, path, name=name, max_mb=runtime.settings.max_upload_mb,
                                            audio=suffix in AUDIO_SUFFIXES)

    key = await run_in_threadpool(store_upload, runtime.blobs, path)
    payload = {"blob": key, "filename": name, "content_hash": content_hash, "rep_id": rep_id,
               "account_id": account_id, "language": language, "rep_channel": rep_channel, "rep_speaker": rep_speaker,
               "size": size}
    try:
        view, created = await run_in_threadpool(lambda: _store_job(runtime.session_factory, uploader_id=user.id, payload=payload))
    except BaseException:  # no job names the blob (503, a database error, the client gone): nothing may keep it
        await run_in_threadpool(runtime.blobs.delete, key)
        raise
    if not created:  # the first upload's job has its own blob
        await run_in_threadpool(runtime.blobs.delete, key)
        return JSONResponse(view | {"duplicate": True, "status_url": f"/api/jobs/{view['id']}"}, status_code=200)
    if runtime.worker is not None:
        runtime.worker.wake()
    return view | {"duplicate": False, "status_url": f"/api/jobs/{view['id']}"}


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: IdPath, user: CurrentUser, runtime: RuntimeDep) -> dict:
    """A job's state: queued / running / done (with its result) / failed (with the reason)."""
    with runtime.session_factory() as session:
        job = session.get(Job, job_id)
        owner = session.get(User, job.user_id) if job and job.user_id else None
        visible = job is not None and (sees_everything(user) or job.user_id == user.id or manages(user, owner))
        if not visible:
            raise HTTPException(404, "no such job")
        return job_view(job)


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(user: CurrentUser, runtime: RuntimeDep, limit: Limit = 20) -> list[dict]:
    """Your latest jobs, newest first."""
    with runtime.session_factory() as session:
        jobs = session.scalars(select(Job).where(Job.user_id == user.id).order_by(Job.id.desc()).limit(min(limit, 100)))
        return [job_view(j) for j in jobs]
