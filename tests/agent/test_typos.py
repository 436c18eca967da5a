"""Homophone typos of a pinyin keyboard are corrected to the known word they stand for, and
nothing else is touched (the whole old suite and dev set: only the four typo questions change)."""

from __future__ import annotations

import json

import pytest

from agent.understanding.typos import Vocabulary, correct, corrected
from cli.evals import AGENT_SETS
from evals.agent_eval import CASES_DIR


@pytest.mark.parametrize(("typed", "meant"), [
    ("这个月西部区的跟进绿多少", "这个月西部区的跟进率多少"),
    ("四个区域这季度赢单绿对比", "四个区域这季度赢单率对比"),
    ("审批对列里现在压了几条 列一下", "审批队列里现在压了几条 列一下"),
    ("上海卓跃口腔那条 采纳", "上海卓越口腔那条 采纳"),
])
def test_a_homophone_typo_of_a_known_word_is_corrected(demo_session, typed, meant):
    assert corrected(typed, demo_session) == meant


def test_only_typos_change_across_the_old_suite_and_the_dev_set(demo_session):
    changed = {}
    for name in AGENT_SETS["old"] + AGENT_SETS["dev"]:
        for line in (CASES_DIR / name).read_text(encoding="utf-8").splitlines():
            q = json.loads(line)["question"] if line.strip() else ""
            if q and corrected(q, demo_session) != q:
                changed[q] = corrected(q, demo_session)
    assert set(changed) == {"这个月西部区的跟进绿多少", "四个区域这季度赢单绿对比", "审批对列里现在压了几条 列一下", "上海卓跃口腔那条 采纳",
                            # batch 11's writer typed these slips on purpose
                            "华南组这季度谁赢但率最高 给我排个名 我看看差距", "苏州八院那条new的还没跟 啥情况 意象分多少",
                            "组里这个月赢单绿多少",  # and batch 13's
                            "沈阳明会贸易 意向分多少了 下一步干嘛",  # and batch 16's (沈阳明辉贸易)
                            "华东现在有哪些没分配的线锁", "那我上季度跟紧率呢",  # and batch 17's
                            "这周新进来的线所有哪些啊",  # batch 7's slip, found once "的线索" became a known word
                            "我这季度转化律多少", "天津博远精蜜的几条 最新意向分多少"}  # batch 19's, on purpose
    assert changed["华东现在有哪些没分配的线锁"] == "华东现在有哪些没分配的线索"
    assert changed["组里这个月赢单绿多少"] == "组里这个月赢单率多少"
    assert changed["沈阳明会贸易 意向分多少了 下一步干嘛"].startswith("沈阳明辉贸易")
    assert "赢单率" in changed["华南组这季度谁赢但率最高 给我排个名 我看看差距"]
    assert "意向分" in changed["苏州八院那条new的还没跟 啥情况 意象分多少"]


def test_the_rules_a_first_character_half_the_characters_one_fit_and_the_usual_reading():
    vocab = Vocabulary.of({"赢单率", "被升级", "说话占比", "审批队列", "审核队列"})
    assert correct("赢单绿", vocab) == "赢单率"
    assert correct("设备升级了", vocab) == "设备升级了"  # 备升级 would need its first character changed
    assert correct("谁话最多", vocab) == "谁话最多"  # 谁 is read shei/shui; 说 only rarely shui
    assert correct("英单绿", vocab) == "英单绿"  # the first character differs
    assert correct("审x对列", vocab) == "审x对列"
    assert correct("赢单率", vocab) == "赢单率"
