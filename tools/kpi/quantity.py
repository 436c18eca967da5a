"""What kind of number a KPI question asks for — a count ("多少条线索", "how many deals") or a length of time
("平均多少个小时", "how many days") — against the unit of the metric it was linked to.

A question that asks for a count while the metric it names is a rate or an average ("这个月新进来了多少条线索" →
the 72-hour follow-up rate; "意向分80分以上的线索有多少条" → the average intent score) is asking for a figure the
registry does not define: answering the linked metric would be a different metric stated as the answer. Such a
question is treated as naming an undefined metric (the closest defined ones are offered). Only these two kinds
are checked: a share or an amount cannot be told apart from a metric's own wording reliably.
"""

from __future__ import annotations

import re

DURATION = re.compile(r"(多少|几)\s*个?\s*(小时|钟头|天|分钟|秒)|多久|多长时间|"
                      r"(?<![a-z])(how long|how many (hours|days|minutes|seconds)|(number of|average) (hours|days|minutes))(?![a-z])",
                      re.I)
COUNT = re.compile(r"(?<!哪)(多少|几)\s*(条|个|家|单|位|名|次|通|件)(?!小时|钟头|月|季度|星期|礼拜|周|百分点)|数量|个数|条数|单数|"
                   r"(?<![a-z])(how many|number of|count of|a count|the count)(?![a-z])", re.I)

#: the metric units each kind of question fits
FITS = {"duration": {"days", "seconds"}, "count": {"count"}}


def asked_quantity(question: str) -> str | None:
    """"duration", "count", or None when the question does not say which kind of number it wants."""
    if DURATION.search(question):
        return "duration"
    if COUNT.search(question):
        return "count"
    return None


def asks_another_quantity(question: str, unit: str) -> str | None:
    """The kind of number asked for when a metric of ``unit`` cannot be it, else None."""
    kind = asked_quantity(question)
    return kind if kind is not None and unit not in FITS[kind] else None
