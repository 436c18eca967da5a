"""Homophone typos of a pinyin keyboard: "赢单绿" for 赢单率, "审批对列" for 审批队列, "上海卓跃口腔" for
上海卓越口腔医院. A Chinese user types pinyin and picks a character; picking a neighbour with the same
sound is the commonest typo there is, and it breaks every word match downstream (metric words, cue
words, account names).

A stretch of the question is corrected to a known word of three characters or more — a KPI
metric's label or synonym, a word the planner's cues rely on, an account's name (or the start of
one) — only when it has the word's length, starts with the word's first character, at least half
of its characters are the word's own, every other character's usual reading is the word's character's
usual reading (tones ignored, by ``pypinyin``), and no other known word fits the same
stretch. The question is otherwise left as typed.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

#: words the planner's cues and the tools' parsers key on (the KPI registry's words are added)
DOMAIN_WORDS = ("审核队列", "审批队列", "待审队列", "线索", "的线索", "条线索",  # "没分配的线锁" → 的线索
                "客户旅程", "旅程", "时间线", "复盘", "通话", "电话", "建议", "提醒", "预警",
                "告警", "练习", "陪练", "短板", "能力短板", "能力画像", "意向分", "意向指数", "跟进", "改派", "批准", "驳回", "交接",
                "离职", "接手", "话术", "异议", "需求挖掘", "方案匹配", "异议处理")
MIN_LEN, MAX_LEN = 3, 10  # two-character words have too many homophones ("个月" is no "各月")
ACCOUNT_PREFIX_MIN = 4  # "上海卓越" of 上海卓越口腔医院: people shorten names from the front


@lru_cache(maxsize=16384)
def _typed_reading(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def _sounds_alike(typed: str, meant: str) -> bool:
    """The two characters' usual readings are the same, tones ignored ("绿" lv → 率 lv, "对" → 队). A rare
    reading does not count: "说" shuo is no typo of 数 (usually shu; "预警说…"), nor "谁" shui of 说."""
    return typed == meant or _typed_reading(typed) == _typed_reading(meant)


@dataclass(frozen=True)
class Vocabulary:
    """Known words by (length, position, character): a typo keeps at least one character in place."""

    words: frozenset[str]
    index: dict[tuple[int, int, str], tuple[str, ...]]

    @classmethod
    def of(cls, words: set[str]) -> Vocabulary:
        index: dict[tuple[int, int, str], list[str]] = defaultdict(list)
        words = {w for w in words if MIN_LEN <= len(w) <= MAX_LEN}
        for w in words:
            for i, ch in enumerate(w):
                index[(len(w), i, ch)].append(w)
        return cls(frozenset(words), {k: tuple(v) for k, v in index.items()})

    def fitting(self, stretch: str) -> set[str]:
        """The known words this stretch may be a homophone typo of."""
        n = len(stretch)
        candidates = {w for i, ch in enumerate(stretch) for w in self.index.get((n, i, ch), ())}
        return {w for w in candidates if _typo_of(stretch, w)}


def _typo_of(stretch: str, word: str) -> bool:
    """A typo keeps the word's first character (the one the reader anchors on: "备升级" is no 被升级)
    and half of the rest, and every other character sounds like the word's."""
    same = sum(a == b for a, b in zip(stretch, word, strict=True))
    return (stretch[0] == word[0] and same < len(word) and 2 * same >= len(word)
            and all(_sounds_alike(a, b) for a, b in zip(stretch, word, strict=True)))


def correct(question: str, vocabulary: Vocabulary) -> str:
    """The question with each homophone typo of a known word replaced (longest stretches first,
    left to right, never overlapping, only where one known word fits)."""
    out = list(question)
    taken: set[int] = set()
    for run in re.finditer(r"[\u4e00-\u9fff]{2,}", question):
        text, start = run.group(0), run.start()
        for n in range(min(MAX_LEN, len(text)), MIN_LEN - 1, -1):
            for i in range(len(text) - n + 1):
                span = range(start + i, start + i + n)
                stretch = text[i:i + n]
                if taken.intersection(span) or stretch in vocabulary.words:
                    continue
                fits = vocabulary.fitting(stretch)
                if len(fits) == 1:
                    out[start + i:start + i + n] = list(next(iter(fits)))
                    taken.update(span)
    return "".join(out)


def _kpi_words() -> set[str]:
    from tools.kpi import load_registry

    registry = load_registry()
    words: set[str] = set()
    for m in registry.metrics.values():  # metrics only: breakdown words ("各季度", "每个销售") sound like everyday words
        words.update([m.label_zh, *m.synonyms_zh])
    return {w for w in words if re.fullmatch(r"[\u4e00-\u9fff]{3,10}", w or "")}


def _account_words(names: tuple[str, ...]) -> set[str]:
    words: set[str] = set()
    for name in names:
        chars = re.sub(r"[^\u4e00-\u9fff]", "", name or "")
        words.update(chars[:n] for n in range(ACCOUNT_PREFIX_MIN, min(len(chars), MAX_LEN) + 1))
    return words


_lock = threading.Lock()
_cache: dict[str, tuple[Vocabulary, int, float]] = {}  # database → (words, accounts counted, when counted)
RECOUNT_S = 60.0  # new accounts join the vocabulary within a minute; a turn does not count them each time


def vocabulary(session: Session) -> Vocabulary:
    """The known words for this database: built once per process, rebuilt when the number of
    accounts has changed (counted at most once a minute)."""
    from crm.models import Account

    url, now = str(session.get_bind().url), time.monotonic()
    cached = _cache.get(url)
    if cached is not None and now - cached[2] < RECOUNT_S:
        return cached[0]
    count = session.scalar(select(func.count(Account.id))) or 0
    with _lock:
        cached = _cache.get(url)
        if cached is None or cached[1] != count:
            names = tuple(session.scalars(select(Account.name).order_by(Account.id)))
            cached = (Vocabulary.of(set(DOMAIN_WORDS) | _kpi_words() | _account_words(names)), count, now)
        _cache[url] = (cached[0], count, now)
    return cached[0]


def corrected(question: str, session: Session) -> str:
    """``question`` with its homophone typos of known words corrected (unchanged when it has no Chinese)."""
    if not re.search(r"[\u4e00-\u9fff]{2,}", question):
        return question
    return correct(question, vocabulary(session))
