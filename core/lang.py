"""The two languages of repcopilot (zh, en): which one a text is in, which one a locale means,
and the bilingual-text idiom ``pick(language, zh, en)``. One home shared by ``speech/``,
``knowledge/`` and ``tools/`` so that no room imports another for it.

``detect_language`` is the rule of call transcripts and indexed documents: Chinese when the
text has at least as many Han characters as Latin words (and at least one). The copilot's
planner has its own rule for questions (names taken out of the sentence frame first,
``agent.planners.detect_language``): a question like "How is the 苏州市第八人民医院 lead?" needs
that, a transcript does not.
"""

from __future__ import annotations

import re

LANGUAGES = ("zh", "en")

#: one Han character (the CJK Unified Ideographs block)
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]+")


def cjk_count(text: str) -> int:
    """How many Han characters the text has."""
    return len(CJK.findall(text or ""))


def has_cjk(text: str) -> bool:
    """Whether the text has any Han character at all."""
    return CJK.search(text or "") is not None


def detect_language(text: str) -> str:
    """``zh`` when Han characters are at least as many as Latin words (and there is one), else ``en``."""
    latin = len(LATIN_WORD.findall(text or ""))
    return "zh" if cjk_count(text) >= max(1, latin) else "en"


def language_or_detect(text: str, language: str | None) -> str:
    """The given language when it is one of ours, else the language detected in ``text``."""
    return language if language in LANGUAGES else detect_language(text)


def language_of_locale(locale: str | None) -> str:
    """``zh`` for any Chinese locale (zh, zh-CN, zh_TW …), ``en`` for everything else."""
    return "zh" if (locale or "").lower().startswith("zh") else "en"


def pick(language: str | None, zh: str, en: str) -> str:
    """The text for ``language``: the Chinese one for ``zh``, the English one otherwise."""
    return zh if language == "zh" else en
