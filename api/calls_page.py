"""The call page ``/calls/{id}``: who spoke when (an SVG timeline of rep and customer drawn from
the turns, pain-point pauses marked), the transcript with speaker and time and the detected
questions / why-questions / pain points highlighted, the call's metrics against the rep's
average and the team's top quartile (``call_debrief``), and the recording when it is kept.

``/calls/{id}`` is a static shell (a browser cannot send the bearer token on navigation); its
script fetches ``/api/calls/{id}/view``, which renders the page body here, server-side, with
every transcript text escaped. Access is the debrief's: a call you may not see is 404."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from sqlalchemy import select

from api.deps import CurrentUser, IdPath, RuntimeDep
from api.schemas import CallViewOut
from core.blobs import blob_key_of
from core.errors import NotFoundError, PermissionDenied
from crm.models import Call, CallTurn
from speech.registry import load_registry as speech_metrics
from speech.text import is_pain_point, is_question, is_why_question
from tools.calls import AUDIO_SUFFIXES
from tools.context import ToolContext
from tools.debrief import GOOD_DIRECTION, CallDebrief, call_debrief

router = APIRouter(prefix="/api", tags=["calls"])
pages = APIRouter(include_in_schema=False)
SHELL = Path(__file__).parent / "web" / "call.html"
TIMELINE_W = 1000  # SVG user units across the whole call
ROW_H, ROW_GAP = 22, 10


@dataclass
class MarkedTurn:
    idx: int
    speaker: str
    start_s: float
    end_s: float
    text: str
    question: bool = False
    why_question: bool = False
    pain_point: bool = False
    pause_after_pain_s: float | None = None  # a pain point: the silence before the rep's next turn


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def mark_turns(turns: list[CallTurn], language: str) -> list[MarkedTurn]:
    """The turns with the speech package's own detectors applied (the ones the metrics use)."""
    out = []
    for t in turns:
        rep = t.speaker == "rep"
        question = rep and is_question(t.text, language)
        out.append(MarkedTurn(t.idx, t.speaker, t.start_s, t.end_s, t.text, question=question,
                              why_question=question and is_why_question(t.text, language),
                              pain_point=t.speaker == "customer" and is_pain_point(t.text, language)))
    for cur, nxt in pairwise(out):
        if cur.pain_point and nxt.speaker == "rep":
            cur.pause_after_pain_s = round(max(0.0, nxt.start_s - cur.end_s), 1)
    return out


def timeline_svg(turns: list[MarkedTurn], duration_s: float, t) -> str:
    """Two rows (rep above, customer below), one bar per turn; pain points and the pause after
    each marked; every mark carries ``data-t`` (seconds) so a click can seek the recording."""
    span = max(duration_s, max((m.end_s for m in turns), default=0.0), 1.0)

    def x(seconds: float) -> float:
        return round(seconds / span * TIMELINE_W, 2)

    rows = {"rep": 0, "customer": ROW_H + ROW_GAP}
    parts = [f'<rect class="lane" x="0" y="{y}" width="{TIMELINE_W}" height="{ROW_H}"/>' for y in rows.values()]
    for m in turns:
        y = rows.get(m.speaker, rows["customer"])
        kind = "rep" if m.speaker == "rep" else "customer"
        cls = f"seg {kind}" + (" pain" if m.pain_point else "") + (" question" if m.question else "")
        title = f"{clock(m.start_s)} {t('销售', 'rep') if kind == 'rep' else t('客户', 'customer')}: {m.text[:80]}"
        parts.append(f'<rect class="{cls}" data-t="{m.start_s:.2f}" x="{x(m.start_s)}" y="{y}" '
                     f'width="{max(x(m.end_s) - x(m.start_s), 1.5)}" height="{ROW_H}"><title>{escape(title)}</title></rect>')
        if m.pause_after_pain_s is not None:
            label = t(f"痛点后停顿 {m.pause_after_pain_s:.1f} 秒", f"{m.pause_after_pain_s:.1f} s pause after a pain point")
            parts.append(f'<rect class="pause" data-t="{m.end_s:.2f}" x="{x(m.end_s)}" y="0" '
                         f'width="{max(x(m.end_s + m.pause_after_pain_s) - x(m.end_s), 2)}" height="{2 * ROW_H + ROW_GAP}">'
                         f'<title>{escape(label)}</title></rect>')
        if m.question:  # a tick on top of the rep's bar (a circle would stretch with the timeline)
            parts.append(f'<rect class="q{" why" if m.why_question else ""}" x="{x(m.start_s)}" y="0" width="4" height="7"/>')
    height = 2 * ROW_H + ROW_GAP
    return (f'<svg class="timeline" viewBox="0 0 {TIMELINE_W} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="{escape(t("说话时间线", "talk-time timeline"))}">{"".join(parts)}</svg>')


def _value(name: str, value: float | None, t) -> str:
    if value is None:
        return "—"
    unit = speech_metrics()[name].unit if name in speech_metrics() else ""
    if unit in ("ratio", "share") or name.endswith(("_share", "_ratio")):
        return f"{value * 100:.0f}%"
    if unit == "seconds" or name.endswith("_s"):
        return t(f"{value:.1f} 秒", f"{value:.1f} s")
    return f"{value:.1f}" if value != int(value) else f"{int(value)}"


def metrics_table(debrief: CallDebrief, t) -> str:
    head = (f"<tr><th>{t('指标', 'metric')}</th><th>{t('本次', 'this call')}</th><th>{t('本人平均', 'rep average')}</th>"
            f"<th>{t('团队前25%', 'team top quartile')}</th></tr>")
    rows = []
    registry = speech_metrics()
    for c in debrief.comparisons:
        label = t(registry[c.name].label_zh, registry[c.name].label_en)
        behind = c.gap is not None and c.gap > 0
        verdict = t("低于前25%", "behind the top quartile") if behind else t("达到前25%", "at the top quartile")
        better = t("越高越好", "higher is better") if GOOD_DIRECTION[c.name] == "higher" else t("越低越好", "lower is better")
        rows.append(f'<tr class="{"behind" if behind else "ahead"}" data-metric="{c.name}"><th scope="row">{escape(label)}'
                    f'<small>{escape(better)}</small></th><td title="{escape(verdict)}">{_value(c.name, c.value, t)}'
                    f'{" ▼" if behind else ""}</td><td>{_value(c.name, c.own_average, t)}</td>'
                    f'<td>{_value(c.name, c.team_top_quartile, t)}</td></tr>')
    return f'<table class="metrics"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def transcript_html(turns: list[MarkedTurn], t) -> str:
    items = []
    for m in turns:
        tags = []
        if m.why_question:
            tags.append(("why", t("为什么类问题", "why-question")))
        elif m.question:
            tags.append(("question", t("提问", "question")))
        if m.pain_point:
            tags.append(("pain", t("痛点", "pain point")))
        tag_html = "".join(f'<span class="tag {k}">{escape(v)}</span>' for k, v in tags)
        speaker = t("销售", "Rep") if m.speaker == "rep" else t("客户", "Customer") if m.speaker == "customer" else "?"
        pause = ""
        if m.pause_after_pain_s is not None:
            pause_note = t(f"痛点后停顿 {m.pause_after_pain_s:.1f} 秒", f"{m.pause_after_pain_s:.1f} s pause before the rep spoke")
            pause = (f'<div class="pause-note">{escape(pause_note)}</div>')
        classes = " ".join(["turn", m.speaker] + [k for k, _ in tags])
        items.append(f'<li class="{classes}" data-idx="{m.idx}"><button type="button" class="time" data-t="{m.start_s:.2f}" '
                     f'aria-label="{escape(t("跳到", "jump to"))} {clock(m.start_s)}">{clock(m.start_s)}</button>'
                     f'<div class="body"><span class="speaker">{escape(speaker)}</span>{tag_html}'
                     f'<p class="text">{escape(m.text)}</p>{pause}</div></li>')
    return f'<ol class="transcript">{"".join(items)}</ol>'


def recording_key(call: Call) -> str | None:
    """The blob key of an uploaded call's recording (``source_file`` = ``blob:uploads/….wav``), else None."""
    key = blob_key_of(call.source_file)
    return key if key and Path(key).suffix.lower() in AUDIO_SUFFIXES else None


def has_recording(call: Call, blobs) -> bool:
    key = recording_key(call)
    if key is not None:
        return blobs is not None and blobs.exists(key)
    return recording_path(call) is not None


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range of a ``Range: bytes=…`` header as (start, end) inclusive; None for the whole file
    (no header, or several ranges); 416 when it lies outside the file."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(size - int(last), 0), size - 1
    except ValueError:
        return None
    if start > end or start >= size:
        raise HTTPException(416, f"the range {header!r} is outside the recording ({size} bytes)",
                            headers={"Content-Range": f"bytes */{size}"})
    return start, end


def blob_response(blobs, key: str, range_header: str | None) -> StreamingResponse:
    """The blob streamed (a piece at a time, from any node), 206 with Content-Range for a byte range."""
    size = blobs.size(key)
    wanted = byte_range(range_header, size)
    media = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if wanted is None:
        return StreamingResponse(blobs.read(key), media_type=media,
                                 headers={"Accept-Ranges": "bytes", "Content-Length": str(size)})
    start, end = wanted
    return StreamingResponse(blobs.read_range(key, start, end), status_code=206, media_type=media,
                             headers={"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1),
                                      "Content-Range": f"bytes {start}-{end}/{size}"})


def recording_path(call: Call) -> Path | None:
    """The call's recording when it is kept (an audio file still on disk), else None."""
    if not call.source_file or blob_key_of(call.source_file):
        return None
    path = Path(call.source_file)
    return path if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file() else None


def call_view(ctx: ToolContext, call_id: int, blobs=None) -> dict[str, Any]:
    """The call page's body as HTML plus what the script needs (NotFound / PermissionDenied as the debrief raises)."""
    debrief = call_debrief(ctx=ctx, call_id=call_id)
    call = ctx.session.get(Call, call_id)
    turns = list(ctx.session.scalars(select(CallTurn).where(CallTurn.call_id == call_id).order_by(CallTurn.idx)))
    marked = mark_turns(turns, call.language)
    t = ctx.t
    pauses = [m for m in marked if m.pause_after_pain_s is not None]
    counts = (f'<p class="counts"><span class="tag question">{t("提问", "questions")} {sum(m.question for m in marked)}</span>'
              f'<span class="tag why">{t("为什么类问题", "why-questions")} {sum(m.why_question for m in marked)}</span>'
              f'<span class="tag pain">{t("痛点", "pain points")} {sum(m.pain_point for m in marked)}</span>'
              f'<span class="tag pausetag">{t("痛点后停顿", "pauses after pain points")} {len(pauses)}</span></p>')
    audio = has_recording(call, blobs)
    title = t(f"通话 #{call.id} · {debrief.rep} · {debrief.started_at[:16]} · {clock(call.duration_s)}",
              f"Call #{call.id} · {debrief.rep} · {debrief.started_at[:16]} · {clock(call.duration_s)}")
    legend = (f'<p class="legend"><span class="key rep"></span>{t("销售", "rep")} <span class="key customer"></span>'
              f'{t("客户", "customer")} <span class="key pain"></span>{t("痛点", "pain point")} '
              f'<span class="key pause"></span>{t("痛点后停顿", "pause after a pain point")} '
              f'<span class="key q"></span>{t("提问", "question")}</p>')
    no_audio_hint = t("录音未保留(只有转写),时间点仍可查看。",
                      "The recording is not kept (transcript only); times still show where things happened.")
    body = (f'<h2>{escape(title)}</h2>'
            + ('<audio id="player" controls preload="metadata"></audio>' if audio else
               f'<p class="hint">{no_audio_hint}</p>')
            + f'<h3>{t("谁在什么时候说话", "Who spoke when")}</h3><div class="tl"><div class="rows"><span>{t("销售", "rep")}</span>'
            f'<span>{t("客户", "customer")}</span></div>{timeline_svg(marked, call.duration_s, t)}</div>'
            f'<div class="axis"><span>00:00</span><span>{clock(call.duration_s)}</span></div>{legend}'
            f'<h3>{t("指标对比", "Metrics against the rep and the team")}</h3><div class="scroll">{metrics_table(debrief, t)}</div>'
            f'<h3>{t("转写", "Transcript")}</h3>{counts}{transcript_html(marked, t)}')
    return {"call_id": call.id, "title": title, "audio": audio, "html": body,
            "pain_point_pauses": [{"turn": m.idx, "at_s": m.end_s, "pause_s": m.pause_after_pain_s} for m in pauses]}


def _not_yours(call_id: int) -> HTTPException:
    return HTTPException(404, f"no call {call_id} you may see (reps see their own calls, managers their team's)")


@router.get("/calls/{call_id}/view", response_model=CallViewOut)
async def get_call_view(call_id: IdPath, user: CurrentUser, runtime: RuntimeDep, lang: str | None = None) -> dict:
    """The call page's body (HTML rendered server-side) for a call you may see; otherwise 404."""

    def run() -> dict:
        with runtime.session_factory() as session:
            return call_view(runtime.context(session, user, lang), call_id, runtime.blobs)

    try:
        return await run_in_threadpool(run)
    except (NotFoundError, PermissionDenied):
        raise _not_yours(call_id) from None


@router.get("/calls/{call_id}/audio")
async def get_call_audio(call_id: IdPath, user: CurrentUser, request: Request, runtime: RuntimeDep):
    """The call's recording, when it is kept, for a call you may see (byte ranges supported), on any node:
    an uploaded recording streams from the blob store, an older one from its path."""

    def run():
        with runtime.session_factory() as session:
            ctx = runtime.context(session, user)
            call_debrief(ctx=ctx, call_id=call_id)  # the same access check as the debrief
            call = session.get(Call, call_id)
            key = recording_key(call)
            if key is not None:
                return blob_response(runtime.blobs, key, request.headers.get("range")) if runtime.blobs.exists(key) else None
            path = recording_path(call)
            return FileResponse(path) if path is not None else None

    try:
        response = await run_in_threadpool(run)
    except (NotFoundError, PermissionDenied):
        raise _not_yours(call_id) from None
    if response is None:
        raise HTTPException(404, f"call {call_id} has no kept recording (it was a transcript, or the file was removed)")
    return response


@pages.get("/calls/{call_id}", response_class=HTMLResponse)
def call_page(call_id: IdPath) -> str:
    """The page shell; its script fetches the body with the token the web chat stored."""
    return SHELL.read_text(encoding="utf-8")
