"""Documents → chunks along headings and paragraphs, keeping title and section path;
call turns → windows of consecutive turns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserInputError

#: a section longer than this is cut between lines. Chosen on the retrieval corpus's dev half
#: (evals/retrieval.py): 450 cut between lines beat 700 between paragraphs and 300 between lines
TARGET_CHARS = 450


class KnowledgeError(UserInputError):
    """A file cannot be indexed as it is."""


@dataclass
class Chunk:
    text: str
    section: str
    meta: dict[str, Any] = field(default_factory=dict)


def read_plain_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def read_pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n\n".join((page.extract_text() or "") for page in PdfReader(str(path)).pages)


def heading_level(style_name: str) -> int:
    """A DOCX paragraph style's heading level ("Heading 2" → 2), 0 for a body paragraph."""
    style = style_name.lower()
    return int(style.split()[-1]) if style.startswith("heading") and style.split()[-1].isdigit() else 0


def read_docx_text(path: Path) -> str:
    """The paragraphs of a DOCX file, headings as Markdown headings."""
    import docx

    lines = []
    for p in docx.Document(str(path)).paragraphs:
        level = heading_level((p.style.name or "") if p.style is not None else "")
        lines.append(("#" * level + " " if level else "") + p.text)
    return "\n\n".join(lines)


DOCUMENT_READERS = {".md": read_plain_text, ".markdown": read_plain_text, ".txt": read_plain_text,
                    ".pdf": read_pdf_text, ".docx": read_docx_text}


def read_document(path: Path) -> tuple[str, str]:
    """(title, markdown-ish text) of a Markdown, text, PDF or DOCX file."""
    suffix = path.suffix.lower()
    try:
        read = DOCUMENT_READERS.get(suffix)
        if read is None:
            raise KnowledgeError(f"{path.name}: unsupported file type {suffix or '(none)'}; index Markdown, text, PDF or DOCX")
        text = read(path)
    except KnowledgeError:
        raise
    except UnicodeDecodeError:
        raise KnowledgeError(f"{path.name} is not UTF-8 text; save it as UTF-8") from None
    except Exception as exc:  # noqa: BLE001 — pypdf / python-docx raise many kinds on broken files
        raise KnowledgeError(f"{path.name} could not be read ({type(exc).__name__}); is the file complete?") from None
    if not text.strip():
        raise KnowledgeError(f"{path.name} has no text to index (a scanned PDF needs OCR first)")
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return (m.group(1).strip() if m else path.stem), text


MIN_BODY_CHARS = 40
CHUNKER_VERSION = "3"  # part of every source's digest: a new chunker re-chunks unchanged files


def chunk_document(title: str, text: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    path: list[str] = [title]
    buf: list[str] = []
    carry: list[str] = []  # a body too short to stand alone ("> 适用: 全行业"): it joins the next section

    def flush(final: bool = False) -> None:
        body = "\n".join(buf).strip()
        buf.clear()
        if body and len(body) < MIN_BODY_CHARS and not final:
            carry.append(body)
            return
        if carry and (body or final):
            body = "\n".join([*carry, body]).strip()
            carry.clear()
        if body:
            section = " › ".join(path)
            for piece in _split(body):
                chunks.append(Chunk(f"{section}\n{piece}", section))

    for line in text.splitlines():
        m = re.match(r"^(#{1,6})\s+(.+)$", line)
        if m:
            flush()
            level = len(m.group(1))
            path = [m.group(2).strip()] if level == 1 else path[: level - 1] + [m.group(2).strip()]
        else:
            buf.append(line)
    flush(final=True)
    return chunks


def _split(body: str) -> list[str]:
    """A section's body in pieces of about TARGET_CHARS, cut between lines (a bulleted list is
    one paragraph of many lines; each piece keeps whole lines, so whole facts)."""
    if len(body) <= TARGET_CHARS:
        return [body]
    out, cur = [], ""
    for line in body.split("\n"):
        if cur.strip() and len(cur) + len(line) > TARGET_CHARS:
            out.append(cur.strip())
            cur = ""
        cur += line + "\n"
    if cur.strip():
        out.append(cur.strip())
    return out


def chunk_transcript(turns: list[dict[str, Any]], window: int = 6, step: int = 4) -> list[tuple[str, float, float]]:
    """(text, start_s, end_s) windows of consecutive turns."""
    out = []
    for i in range(0, max(1, len(turns) - window + step), step):
        part = turns[i:i + window]
        if not part:
            break
        text = "\n".join(f"{t['speaker']}: {t['text']}" for t in part)
        out.append((text, float(part[0]["start_s"]), float(part[-1]["end_s"])))
    return out
