"""The named checks of a scenario file (Scenario._references) and the exemplar steps of the
rep's report: each check rejects its own mistake with a message that says what to write."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from tools.practice.scenario import BUILTIN_DIR, Scenario
from tools.practice.service import why_after_pain

GOOD = yaml.safe_load((BUILTIN_DIR / "hospital-price-objection.yaml").read_text(encoding="utf-8"))


def broken(change) -> str:
    data = copy.deepcopy(GOOD)
    change(data)
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate(data)
    return str(exc.value)


def test_the_good_file_passes_every_check():
    assert Scenario.model_validate(copy.deepcopy(GOOD)).code == "hospital-price-objection"


def test_check_unique_ids_names_the_list_and_the_id():
    assert "rubric: id 'why_before_pitch' is used twice" in broken(lambda d: d["rubric"].append(copy.deepcopy(d["rubric"][0])))


def test_check_persona_language():
    assert "persona.language is 'en' but the scenario's language is 'zh'" in broken(
        lambda d: d["persona"].__setitem__("language", "en"))


def test_check_requirements_rejects_a_pain_point_requiring_itself():
    msg = broken(lambda d: d["pain_points"][0].__setitem__("requires", ["downtime"]))
    assert "pain_points.downtime.requires names 'downtime', which is not another pain point; use one of vendor_delay, audit" in msg


def test_check_rubric_evidence_lists_the_ids_to_use():
    msg = broken(lambda d: d["rubric"][0]["evidence"].__setitem__("objection_handled", "budget"))
    assert "evidence.objection_handled 'budget' is not an objection id; use one of price" in msg


def test_ready_to_close_after_at_most_the_hidden_pain_points():
    assert "ready_to_close_after is 4 but only 3 pain points are hidden" in broken(lambda d: d.__setitem__("ready_to_close_after", 4))


def t(speaker: str, text: str):
    return SimpleNamespace(speaker=speaker, text=text)


def test_why_after_pain_finds_the_why_question_right_after_a_pain_point():
    turns = [t("rep", "您好"), t("customer", "我们最头疼的是维修响应太慢"), t("rep", "为什么会这么慢"), t("customer", "外包公司拖延")]
    assert [x.text for x in why_after_pain(turns, "zh")] == ["我们最头疼的是维修响应太慢", "为什么会这么慢", "外包公司拖延"]
    assert [x.text for x in why_after_pain(turns[:3], "zh")] == ["我们最头疼的是维修响应太慢", "为什么会这么慢"]  # the call ends there
    assert why_after_pain([t("customer", "我们最头疼的是维修响应太慢"), t("rep", "明白了")], "zh") is None
