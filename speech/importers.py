"""Existing transcripts → turns: Teams/WebVTT (``<v Speaker>`` tags) and plain JSON turn lists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from speech.errors import SpeechError
from speech.turns import Turn

CUE_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>(.*?)(?:</v>|$)", re.S)


def _seconds(h, m, s, ms) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _map_speaker(name: str, rep_speaker: str | None, speakers: list[str]) -> str:
    if rep_speaker is None:
        return "unknown"
    return "rep" if name.strip().lower() == rep_speaker.strip().lower() else "customer"


def _check_rep(rep_speaker: str | None, speakers: list[str], path: Path) -> None:
    if rep_speaker is not None and rep_speaker.strip().lower() not in {s.strip().lower() for s in speakers}:
        raise SpeechError(f"{path.name}: no speaker named {rep_speaker!r}; the speakers are: {', '.join(sorted(set(speakers)))} "
                          "— pass one of them as --rep-speaker")


def read_vtt(path: Path, *, rep_speaker: str | None = None) -> list[Turn]:
    """Cues with ``<v Name>`` voice tags; consecutive cues of one speaker become one turn."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpeechError(f"{Path(path).name}: cannot read it as UTF-8 text ({exc})") from None
    if not text.lstrip().startswith("WEBVTT"):
        raise SpeechError(f"{Path(path).name} is not a WebVTT file (it must start with 'WEBVTT'); export the Teams transcript as .vtt")
    cues = [cue for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) for cue in vtt_block_cues(block)]
    if not cues:
        raise SpeechError(f"{Path(path).name} has no cues with timings; is it a complete WebVTT transcript?")
    speakers = [c[0] for c in cues if c[0]]
    _check_rep(rep_speaker, speakers, Path(path))
    return _join([Turn(_map_speaker(n, rep_speaker, speakers) if n else "unknown", a, b, t) for n, a, b, t in cues])


def vtt_block_cues(block: str) -> list[tuple[str, float, float, str]]:
    """The cues of one WebVTT block: (speaker name or "", start, end, text) for each ``<v Name>``
    voice in the lines after the first timing line, or one unnamed cue of its tag-free text."""
    lines = [ln for ln in block.strip().split("\n") if ln.strip()]
    for i, line in enumerate(lines):
        m = CUE_TIME.search(line)
        if not m:
            continue
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        body = "\n".join(lines[i + 1:])
        voices = VOICE.findall(body)
        if voices:
            return [(name.strip(), start, end, " ".join(said.split())) for name, said in voices]
        if body.strip():
            return [("", start, end, " ".join(re.sub(r"<[^>]+>", "", body).split()))]
        return []
    return []


def read_json_turns(path: Path, *, rep_speaker: str | None = None) -> list[Turn]:
    """``[{"speaker", "start_s", "end_s", "text"}]`` with speakers rep/customer, or any names plus ``rep_speaker``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpeechError(f"{Path(path).name} is not a JSON turn list ({exc}); expected "
                          '[{"speaker": "rep", "start_s": 0.0, "end_s": 2.5, "text": "…"}, …]') from None
    if isinstance(data, dict) and "turns" in data:
        data = data["turns"]
    if not isinstance(data, list) or not data:
        raise SpeechError(f"{Path(path).name}: expected a non-empty list of turns")
    try:
        speakers = [str(d["speaker"]) for d in data]
        named = rep_speaker is not None or not set(speakers) <= {"rep", "customer", "unknown"}
        if named:
            _check_rep(rep_speaker, speakers, Path(path))
        turns = [Turn(_map_speaker(str(d["speaker"]), rep_speaker, speakers) if named else d["speaker"],
                      float(d["start_s"]), float(d["end_s"]), str(d.get("text", ""))) for d in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeechError(f"{Path(path).name}: every turn needs speaker, start_s, end_s and text ({exc})") from None
    return sorted(turns, key=lambda t: t.start_s)


def _join(turns: list[Turn]) -> list[Turn]:
    out: list[Turn] = []
    for t in sorted(turns, key=lambda t: t.start_s):
        if out and out[-1].speaker == t.speaker and t.start_s - out[-1].end_s < 0.05:
            prev = out.pop()
            out.append(Turn(prev.speaker, prev.start_s, max(prev.end_s, t.end_s), f"{prev.text} {t.text}".strip()))
        else:
            out.append(t)
    return out
