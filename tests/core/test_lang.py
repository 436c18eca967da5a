"""core.lang: the one language detector of transcripts and documents, locale → language, and
the bilingual-text helper; the old homes (speech.text) still give the same functions."""

from __future__ import annotations

import pytest

from core.lang import CJK, LANGUAGES, cjk_count, detect_language, has_cjk, language_of_locale, language_or_detect, pick


@pytest.mark.parametrize("text, expected", [
    ("为什么这件事今年特别受重视", "zh"),
    ("Why is this a priority this year?", "en"),
    ("我们用 SAP 和 Excel", "zh"),  # 5 Han characters against 2 Latin words
    ("check 一下", "zh"),  # a tie goes to Chinese
    ("We met 周敏 at the hospital", "en"),  # 2 Han characters against 5 Latin words
    ("", "en"),
    ("12345 !!!", "en"),  # neither: English
    (None, "en"),
])
def test_detect_language_counts_han_characters_against_latin_words(text, expected):
    assert detect_language(text) == expected


def test_cjk_count_and_has_cjk_count_han_characters_only():
    assert cjk_count("ABC 设备科 123") == 3
    assert cjk_count("") == 0 and cjk_count(None) == 0
    assert has_cjk("the 华东 region") and not has_cjk("plain English, 123")
    assert CJK.fullmatch("中") and not CJK.fullmatch("a")


def test_language_or_detect_keeps_a_known_language_and_detects_anything_else():
    assert language_or_detect("Why is that?", "zh") == "zh"  # a given language wins over the text
    assert language_or_detect("为什么", "en") == "en"
    assert language_or_detect("为什么", None) == "zh"
    assert language_or_detect("为什么", "fr") == "zh"
    assert language_or_detect("why", "") == "en"
    assert LANGUAGES == ("zh", "en")


@pytest.mark.parametrize("locale, expected", [
    ("zh", "zh"), ("zh-CN", "zh"), ("ZH_tw", "zh"), ("en-US", "en"), ("de", "en"), ("", "en"), (None, "en"),
])
def test_language_of_locale_is_chinese_for_every_chinese_locale(locale, expected):
    assert language_of_locale(locale) == expected


def test_pick_gives_the_chinese_text_only_for_zh():
    assert pick("zh", "你好", "hello") == "你好"
    assert pick("en", "你好", "hello") == "hello"
    assert pick(None, "你好", "hello") == "hello"
    assert pick("zh-CN", "你好", "hello") == "hello"  # a locale is not a language: convert it first


def test_speech_text_reexports_the_core_functions():
    """Callers that import the detector from speech.text keep working and get the same rule."""
    import speech.text as st

    assert st.detect_language is detect_language and st.CJK is CJK
    assert st._lang("为什么", None) == "zh" and st._lang("为什么", "en") == "en"


def test_knowledge_does_not_import_speech():
    """knowledge/ and speech/ share core.lang instead of one importing the other."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "knowledge"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(m == "speech" or m.startswith("speech.") for m in names), path.name
