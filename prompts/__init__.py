"""Prompts for the LLM planner, one Markdown file per prompt and language (``NAME.zh.md``,
``NAME.en.md``), so they are read and reviewed as text, not buried in code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent


@cache
def load(name: str, language: str) -> str:
    path = FOLDER / f"{name}.{'zh' if language == 'zh' else 'en'}.md"
    return path.read_text(encoding="utf-8").strip()
