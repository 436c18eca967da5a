"""Calls as a service: analyze a recording or transcript, ingest it into the CRM, keep
every call's conversation metrics computed by the one metric implementation in speech/.

Writing a call or its metrics marks the capability profiles stale in the same transaction, so
the next profile read recomputes them (``tools.capability.ensure_profiles``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import NotFoundError, UserInputError
from crm.models import Account, Call, CallMetric, CallTurn, User
from speech import CallAnalysis, SpeechError, Turn, analyze_file, compute_metrics
from speech.importers import read_json_turns, read_vtt
from tools.capability import mark_profiles_stale

TRANSCRIPT_SUFFIXES = {".vtt", ".json"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".flac", ".aac", ".webm", ".mp4", ".amr", ".wma"}


@dataclass
class FileResult:
    path: str
    status: str  # ingested / skipped / failed
    call_id: int | None = None
    message: str = ""


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders recursively (audio and transcript files only), in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES | TRANSCRIPT_SUFFIXES))
        else:
            out.append(p)
    return out


def analyze(
    path: Path,
    *,
    home: Path,
    rep_channel: str = "left",
    language: str = "auto",
    model: str = "base",
    rep_speaker: str | None = None,
    on_progress: Callable[[float, float], None] | None = None,
) -> CallAnalysis:
    """Turns and metrics of one recording (stereo/mono audio) or transcript (VTT/JSON)."""
    if not path.exists():
        raise UserInputError(f"{path}: no such file")
    if path.suffix.lower() in TRANSCRIPT_SUFFIXES:
        turns = read_vtt(path, rep_speaker=rep_speaker) if path.suffix.lower() == ".vtt" else read_json_turns(path, rep_speaker=rep_speaker)
        return analysis_from_turns(turns, language=language)
    return analyze_file(path, rep_channel=rep_channel, language=language, model=model, home=home, on_progress=on_progress)


def analysis_from_turns(turns: list[Turn], *, language: str = "auto") -> CallAnalysis:
    from speech.text import detect_language

    if language == "auto":
        language = detect_language(" ".join(t.text for t in turns[:40])) if turns else "en"
    separated = any(t.speaker == "rep" for t in turns) and any(t.speaker == "customer" for t in turns)
    duration = max((t.end_s for t in turns), default=0.0)
    notes = [] if separated else ["no rep/customer speakers in the transcript: metrics that need speakers are unavailable"]
    return CallAnalysis(
        duration_s=duration, language=language, channels=0, speaker_separation=separated,
        turns=turns, metrics=compute_metrics(turns, language), notes=notes,
    )


def ingest_paths(
    factory: sessionmaker[Session],
    paths: Iterable[Path],
    *,
    rep_login: str,
    home: Path,
    account_id: int | None = None,
    language: str = "auto",
    rep_channel: str = "left",
    model: str = "base",
    rep_speaker: str | None = None,
    on_file: Callable[[Path, int, int], None] | None = None,
    on_audio: Callable[[float, float], None] | None = None,
    source_file: str | None = None,
) -> IngestReport:
    """Store each file as a call with its turns and metrics.

    ``source_file``: what the call records as its source instead of the file's path (one file: an
    upload's blob, ``blob:uploads/<uuid>.wav``, which any node can read while the path is a temporary copy).

    Idempotent by content hash: a file already stored is skipped, so re-running an
    interrupted batch resumes it without duplicates. Each file commits on its own, so a
    bad file costs only itself.
    """
    files = expand_paths(paths)
    with factory() as session:
        rep = session.scalar(select(User).where(User.login == rep_login))
        if rep is None:
            raise NotFoundError(f"no user with login {rep_login!r}; see `repcopilot demo users`")
        if account_id is not None and session.get(Account, account_id) is None:
            raise NotFoundError(f"no account with id {account_id}")
        rep_id = rep.id
    report = IngestReport()
    for i, path in enumerate(files):
        if on_file:
            on_file(path, i, len(files))
        report.results.append(_ingest_one(
            factory, path, rep_id=rep_id, home=home, account_id=account_id, language=language,
            rep_channel=rep_channel, model=model, rep_speaker=rep_speaker, on_audio=on_audio, source_file=source_file,
        ))
    return report


def _ingest_one(factory, path: Path, *, rep_id: int, home: Path, account_id, language, rep_channel, model, rep_speaker, on_audio,
                source_file: str | None = None) -> FileResult:
    if not path.is_file():
        return FileResult(str(path), "failed", message="no such file")
    try:
        digest = content_hash(path)
    except OSError as exc:
        return FileResult(str(path), "failed", message=f"cannot read it ({exc.strerror})")
    with factory() as session:
        existing = session.scalar(select(Call.id).where(Call.content_hash == digest, Call.rep_id == rep_id))
    if existing is not None:
        return FileResult(str(path), "skipped", existing, f"already ingested as call {existing}")
    try:
        analysis = analyze(path, home=home, rep_channel=rep_channel, language=language, model=model,
                           rep_speaker=rep_speaker, on_progress=on_audio)
    except (SpeechError, UserInputError) as exc:
        return FileResult(str(path), "failed", message=str(exc))
    with factory() as session, session.begin():
        call = Call(
            rep_id=rep_id, account_id=account_id, started_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
            duration_s=round(analysis.duration_s, 2), language=analysis.language, source_file=source_file or str(path.resolve()),
            content_hash=digest, speaker_separation=analysis.speaker_separation, is_exemplar=False,
        )
        session.add(call)
        session.flush()
        session.add_all(CallTurn(call_id=call.id, idx=i, speaker=t.speaker, start_s=round(t.start_s, 3),
                                 end_s=round(t.end_s, 3), text=t.text) for i, t in enumerate(analysis.turns))
        session.add_all(CallMetric(call_id=call.id, name=k, value=_num(v)) for k, v in analysis.metrics.items())
        mark_profiles_stale(session)  # the rep's profile rests on this call: the next read recomputes it
        call_id = call.id
    note = "; ".join(analysis.notes)
    return FileResult(str(path), "ingested", call_id, note)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def recompute_call_metrics(session: Session, call_ids: Iterable[int] | None = None) -> int:
    """(Re)compute the stored metrics of calls from their stored turns — demo calls included."""
    stmt = select(Call)
    if call_ids is not None:
        stmt = stmt.where(Call.id.in_(list(call_ids)))
    calls = list(session.scalars(stmt))
    if not calls:
        return 0
    turns_by_call: dict[int, list[Turn]] = {c.id: [] for c in calls}
    ids = list(turns_by_call)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        for row in session.execute(select(CallTurn.call_id, CallTurn.speaker, CallTurn.start_s, CallTurn.end_s, CallTurn.text)
                                   .where(CallTurn.call_id.in_(part)).order_by(CallTurn.call_id, CallTurn.idx)):
            turns_by_call[row.call_id].append(Turn(row.speaker, row.start_s, row.end_s, row.text))
        session.execute(delete(CallMetric).where(CallMetric.call_id.in_(part)))
    rows = []
    for call in calls:
        metrics = compute_metrics(turns_by_call[call.id], call.language)
        rows.extend({"call_id": call.id, "name": k, "value": _num(v)} for k, v in metrics.items())
    if rows:
        session.execute(CallMetric.__table__.insert(), rows)
    mark_profiles_stale(session)  # the same ids may come back with other values: do not trust the fingerprint alone
    return len(calls)
