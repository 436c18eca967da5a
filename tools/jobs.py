"""Background jobs (call transcription, then indexing of its transcript) whose state lives in the ``jobs`` table.

- ``enqueue`` stores a job as *queued*; the caller (an upload request) returns at once.
- A worker claims the oldest queued job with a conditional UPDATE (only one worker wins,
  also across processes and on PostgreSQL), marks it *running* and refreshes its
  ``updated_at`` while it runs (the lease).
- A job ends *done* with its result or *failed* with an error a user can act on.
- A job whose worker died (its lease not refreshed for ``lease_s``) is queued again, up
  to ``MAX_ATTEMPTS`` runs, then failed with the reason — so a restart loses nothing: an
  accepted upload is always processed or reported failed.

The server runs one worker thread in its own process by default; ``repcopilot worker``
runs the same loop as a separate process against the same database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import RepcopilotError
from crm.db import session_factory
from crm.models import Call, Job, User

log = logging.getLogger("repcopilot.jobs")
MAX_ATTEMPTS = 3
LEASE_S = 120.0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, user_id: int | None) -> Job:
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind!r}")
    now = _now()
    job = Job(kind=kind, status="queued", user_id=user_id, payload=payload, attempts=0, created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def job_view(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "status": job.status, "result": job.result, "error": job.error,
            "attempts": job.attempts, "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat()}


# --- handlers -------------------------------------------------------------------------------


def _ingest_call(factory: sessionmaker[Session], payload: dict[str, Any], home: Path, settings) -> dict[str, Any]:
    """An uploaded recording or transcript → a stored call with turns and metrics. The call names
    the upload's blob as its source (``blob:<key>``), so any node can play the recording; an upload
    that did not become a call (a duplicate, or a file that failed) leaves no blob behind."""
    from core.blobs import BLOB_PREFIX
    from tools.calls import ingest_paths

    with factory() as session:
        rep = session.get(User, payload["rep_id"])
        if rep is None:
            raise RepcopilotError(f"the rep (user {payload['rep_id']}) no longer exists")
        login = rep.login
    source = f"{BLOB_PREFIX}{payload['blob']}" if "blob" in payload else None
    with _uploaded_file(factory, payload, home, settings) as path:
        report = ingest_paths(factory, [path], rep_login=login, home=home, account_id=payload.get("account_id"),
                              language=payload.get("language", "auto"), rep_channel=payload.get("rep_channel", "left"),
                              model=settings.whisper_model, rep_speaker=payload.get("rep_speaker"), source_file=source)
    result = report.results[0]
    discard_unused_upload(factory, payload, home, settings, call_id=result.call_id if result.status != "failed" else None)
    if result.status == "failed":
        raise RepcopilotError(result.message)
    out = {"call_id": result.call_id, "status": result.status, "message": result.message, "file": payload.get("filename")}
    # its transcript goes into the knowledge base next, as a job of its own — also when a worker that died after
    # storing the call left it "already ingested" (indexing an indexed call changes nothing)
    if result.status == "ingested" or (result.status == "skipped" and result.call_id and payload.get("_attempt", 1) > 1):
        with factory() as session, session.begin():
            out["index_job"] = enqueue(session, "index_call", {"call_id": result.call_id}, user_id=payload["rep_id"]).id
    return out


def discard_unused_upload(factory: sessionmaker[Session], payload: dict[str, Any], home: Path, settings, *,
                          call_id: int | None) -> bool:
    """Delete the upload's blob unless call ``call_id`` keeps it as its recording (a rerun after a dead
    worker finds the call it stored: the blob stays). True when it was deleted."""
    from core.blobs import BLOB_PREFIX

    key = payload.get("blob")
    if key is None:
        return False
    if call_id is not None:
        with factory() as session:
            kept = session.scalar(select(Call.source_file).where(Call.id == call_id))
        if kept == f"{BLOB_PREFIX}{key}":
            return False
    _blob_store(factory, home, settings).delete(key)
    return True


def _blob_store(factory: sessionmaker[Session], home: Path, settings):
    from crm.blobs import blob_store_for

    return blob_store_for(settings, factory.kw["bind"], home)


@contextmanager
def _uploaded_file(factory: sessionmaker[Session], payload: dict[str, Any], home: Path, settings) -> Iterator[Path]:
    """The upload as a local file: where it is (one node), or fetched from the blob store into this
    worker's HOME for the job and removed after it (several nodes)."""
    from core.blobs import BlobMissing, LocalBlobStore

    if "blob" not in payload:  # queued by an earlier version: a path on this machine
        path = Path(payload["path"])
        if not path.is_file():
            raise RepcopilotError(f"the uploaded file is gone from {path}; upload it again")
        yield path
        return
    store = _blob_store(factory, home, settings)
    local = isinstance(store, LocalBlobStore)
    target = home / "uploads" / "fetched" / Path(payload["blob"]).name
    try:
        path = store.fetch_to(payload["blob"], target)
    except BlobMissing:
        raise RepcopilotError(f"the uploaded file {payload.get('filename')!r} is gone from the blob store; upload it again") from None
    try:
        yield path
    finally:
        if not local:
            target.unlink(missing_ok=True)


def _index_call(factory: sessionmaker[Session], payload: dict[str, Any], home: Path, settings) -> dict[str, Any]:
    """A stored call's transcript → the knowledge base (its team × language partition, with
    the rep and team for access control), so colleagues' searches can find it."""
    from tools.knowledge import open_store, transcripts_for_index

    with factory() as session:
        calls = transcripts_for_index(session, [payload["call_id"]])
    if not calls:
        raise RepcopilotError(f"call {payload['call_id']} is gone; nothing to index")
    report = open_store(settings, home).index_transcripts(calls)
    return {"call_id": payload["call_id"], "indexed": report.summary() if hasattr(report, "summary") else str(report)}


HANDLERS: dict[str, Callable[[sessionmaker[Session], dict[str, Any], Path, Any], dict[str, Any]]] = {
    "ingest_call": _ingest_call,
    "index_call": _index_call,
}


# --- the worker -----------------------------------------------------------------------------


class JobWorker:
    def __init__(self, engine: Engine, *, home: Path, settings, name: str | None = None,
                 poll_s: float = 0.5, lease_s: float = LEASE_S) -> None:
        self.factory = session_factory(engine)
        self.home, self.settings = home, settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10_000}"
        self.poll_s, self.lease_s = poll_s, lease_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # one step at a time (tests, `repcopilot worker --once`)
    def recover(self) -> int:
        """Queue again the running jobs whose worker stopped renewing its lease; fail those
        that have used up their attempts. Returns how many jobs it touched."""
        cutoff = _now() - timedelta(seconds=self.lease_s)
        touched = 0
        with self.factory() as session, session.begin():
            stale = session.scalars(select(Job).where(Job.status == "running", Job.updated_at < cutoff)).all()
            for job in stale:
                touched += 1
                job.locked_by = None
                job.updated_at = _now()
                if job.attempts >= MAX_ATTEMPTS:
                    job.status = "failed"
                    job.error = (f"the worker stopped {job.attempts} times while running this job; "
                                 "check the server log, then upload the file again")
                else:
                    job.status = "queued"
        return touched

    def claim(self) -> int | None:
        """Take the oldest queued job; None when there is none (or another worker won it).
        One statement, so there is no read-then-write window between two workers."""
        oldest = select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1).scalar_subquery()
        with self.factory() as session, session.begin():
            return session.execute(
                update(Job).where(Job.id == oldest, Job.status == "queued")
                .values(status="running", locked_by=self.name, attempts=Job.attempts + 1, updated_at=_now())
                .returning(Job.id)
            ).scalar_one_or_none()

    def run_job(self, job_id: int) -> None:
        with self.factory() as session:
            job = session.get(Job, job_id)
            kind, payload = job.kind, dict(job.payload) | {"_attempt": job.attempts}  # > 1: a rerun after a dead worker
        beat = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(job_id, beat), daemon=True)
        heartbeat.start()
        try:
            result, error = HANDLERS[kind](self.factory, payload, self.home, self.settings), None
        except RepcopilotError as exc:
            result, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 — the job says what happened; the log has the trace
            log.exception("job %s (%s) failed", job_id, kind)
            result, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            beat.set()
            heartbeat.join()
        with self.factory() as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.locked_by == self.name).values(
                status="failed" if error else "done", result=result, error=error, locked_by=None, updated_at=_now()))

    def _heartbeat(self, job_id: int, done: threading.Event) -> None:
        while not done.wait(self.lease_s / 4):
            with self.factory() as session, session.begin():
                session.execute(update(Job).where(Job.id == job_id, Job.locked_by == self.name).values(updated_at=_now()))

    def run_pending(self) -> int:
        """Recover, then run queued jobs until none is left; how many ran."""
        self.recover()
        ran = 0
        while not self._stop.is_set() and (job_id := self.claim()) is not None:
            self.run_job(job_id)
            ran += 1
        return ran

    # the loop (a thread in the server, or the foreground of `repcopilot worker`)
    def loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # noqa: BLE001 — a database hiccup must not end the worker
                log.exception("job worker step failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def wake(self) -> None:
        """A job was just queued: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> JobWorker:
        self._thread = threading.Thread(target=self.loop, name="job-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
