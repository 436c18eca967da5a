"""Answers as safe HTML for the web chat: Markdown (tables, bold, lists, links) rendered by
markdown-it-py with raw HTML off, then sanitized by nh3 (an allow-list), so a knowledge
passage or a model's answer that contains ``<script>`` or ``onerror=`` shows as text."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a", "h1", "h2", "h3",
                "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "del", "s"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "js-default": CommonMark + tables + strikethrough, raw HTML shown as text, unsafe links refused
    return MarkdownIt("js-default", {"linkify": False, "breaks": True})


def close_tables(markdown_text: str) -> str:
    """A blank line after each table: the tools write "| … |" rows followed directly by a plain
    line ("差距最大: …"), which GFM would otherwise swallow as one more table row."""
    out: list[str] = []
    in_table = False
    for line in (markdown_text or "").splitlines():
        row = line.lstrip().startswith("|")
        if in_table and not row and line.strip():
            out.append("")
        in_table = row
        out.append(line)
    return "\n".join(out)


def answer_html(markdown_text: str) -> str:
    """The answer as sanitized HTML. Raw HTML in the text is escaped (shown, never run);
    links keep only http(s)/mailto and open as ``rel="noopener noreferrer"``."""
    html = _markdown().render(close_tables(markdown_text))
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer", filter_style_properties={"text-align"})


__all__ = ["answer_html"]
