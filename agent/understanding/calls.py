"""From an understood question to a tool call: one builder per intent.

A builder gets the ``Turn`` (question, asker, thread focus, slots, the previous answer's
items) and returns ``(tool, args)``, a ready answer text, or None when it cannot build a
call for this reading (the planner then tries the next reading).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import select

from agent.understanding import references
from agent.understanding import slots as slot_extractors
from crm.roles import Role
from tools.context import ToolContext

Call = tuple[str, dict[str, Any]]
Built = Call | str | None


@dataclass
class Turn:
    question: str
    ctx: ToolContext
    focus: dict[str, Any]
    tools: set[str] = field(default_factory=set)
    attempted: bool = False  # the message also tried an injection or a permission change (taken out)

    @cached_property
    def slots(self) -> slot_extractors.Slots:
        return slot_extractors.extract(self.question, self.ctx.session, self.ctx.now().date(), self.ctx.user.team_id)

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.focus.get("items") or [])

    def item(self, *kinds: str) -> dict[str, Any] | None:
        found = references.resolve(self.question, self.items, self.slots.ordinal, kinds=kinds)
        if found is not None and found["kind"] in RECORD_MODELS and self.slots.ordinal is None and self._names_another_lead(found):
            return None  # "沈阳卫健委那条不用了" right after 沈阳明辉's suggestion: not "that one"
        return found

    def _names_another_lead(self, item: dict[str, Any]) -> bool:
        """The question names a customer's lead other than the record ``item``'s (only asked when a record
        resolved without an ordinal)."""
        named = self.named_lead if self.names_something or re.search(r"[\u4e00-\u9fff]{4,}|[A-Z][a-z]{3,}", self.question) else None
        if named is None:
            return False
        its_lead = record_lead(self.ctx, item)
        return named.lead_id != its_lead and _lead_account(self.ctx, named.lead_id) != _lead_account(self.ctx, its_lead or -1)

    def id_of(self, kind: str) -> int | None:
        """The id of a ``kind`` thing: said with its kind ("建议 12"), a bare number when the
        intent already says the kind ("采纳 12"), or an item of the previous answer."""
        if kind in self.slots.ids:
            return self.slots.ids[kind]
        typed = set(self.slots.ids.values())
        bare = [n for n in self.slots.numbers if n not in typed and n != self.slots.ordinal]
        if bare and self.slots.ordinal is None:
            return bare[0]
        item = self.item(kind)
        return item["id"] if item else None

    @property
    def lead_ref(self) -> str | None:
        """"lead 638" for a lead named by id — also a bare number in a lead question ("533这个lead
        assign给谁好", "1907这条谁跟最合适"); the tool resolves it and checks access."""
        if "lead" in self.slots.ids:
            return f"lead {self.slots.ids['lead']}"
        if self.slots.ids or not (LEAD_CUE.search(self.question) or len(self.question.strip()) <= 12):
            return None
        return f"lead {self.lead_numbers[0]}" if self.lead_numbers else None

    @property
    def lead_numbers(self) -> list[int]:
        """The bare numbers that could be a lead's id: not a year, not a single digit."""
        return [n for n in self.slots.numbers if 10 <= n < 100000 and not 1990 <= n <= 2100]

    @property
    def focus_lead(self) -> int | None:
        """The lead the conversation is on: the last one answered about, or — after a choice among
        one account's leads — that account's first lead (the best match)."""
        if self.focus.get("lead_id"):
            return int(self.focus["lead_id"])
        records = [i for i in self.items if i["kind"] in RECORD_MODELS]
        if len(records) == 1 and not any(i["kind"] == "lead" for i in self.items):
            return record_lead(self.ctx, records[0])  # "这家旅程帮我捋一下" right after the one alert shown: its lead
        leads = [i for i in self.items if i["kind"] == "lead"]
        if leads and self.focus.get("account_id"):
            return leads[0]["id"]
        return _account_lead(self.ctx, self.focus["account_id"]) if self.focus.get("account_id") else None

    @cached_property
    def named_lead(self):
        """The best lead the question names among those the asker may see — by its account, contact or
        id (a lead's own name is a product, "销售管理SaaS", which questions say for other reasons); looked
        up once a turn. None when nothing is named clearly enough."""
        from core.errors import RepcopilotError
        from tools.leads import find_leads

        try:
            match = next((m for m in find_leads(ctx=self.ctx, query=self.question, limit=1) if m.score >= 0.9 and m.matched_on != "lead"),
                         None)
        except RepcopilotError:
            return None
        if match is None or match.score >= 0.995:
            return match
        return None if _only_looks_named(self.ctx, self.question, match) else match

    @property
    def names_visible_lead(self) -> bool:
        return self.named_lead is not None

    @property
    def follow_up(self) -> bool:
        return bool(FOLLOW_UP.search(self.question.strip()))

    @property
    def names_something(self) -> bool:
        return names_something(self.question)


def _only_looks_named(ctx: ToolContext, question: str, match) -> bool:
    """A near match that names no customer: a kind of customer ("口腔连锁客户的打法"), a word many names share ("客户公司的
    工商信息": 信息 of 天津新元信息技术), or a look-alike of an account said in full that is not the asker's
    ("上海市第一人民医院…" is never 成都市第一人民医院)."""
    from agent.tools.base import names_hidden_account
    from tools.leads.find import names_its_account

    if _says_a_kind_of_customer(ctx, question, match.account):
        return True
    if match.matched_on == "account" and not names_its_account(question, match.account) and _shares_at_most_two(question, match.account):
        return True
    return names_hidden_account(ctx, question)


def _shares_at_most_two(question: str, account: str) -> bool:
    """The question and the account's name (its legal form aside) share no run of three characters or more."""
    from difflib import SequenceMatcher

    from tools.leads.find import LEGAL_FORM

    name = LEGAL_FORM.sub("", account)
    return SequenceMatcher(None, question, name, autojunk=False).find_longest_match(0, len(question), 0, len(name)).size < 3


WHO_CUE = re.compile(r"谁|推荐(个|一个)?(人|销售)|找(个)?人|给.{1,4}还是.{1,4}(好|合适|行)|"
                     r"哪(个|位)(销售|同事|人)|分给|分配|派给|交给|指派|接手|\b(who|whom|which rep|route[ds]?|routing|assign(ed)?|give|"
                     r"handle|take|owner)\b", re.I)
def _says_a_kind_of_customer(ctx: ToolContext, question: str, account: str) -> bool:
    """What the question shares with the account's name is a kind of customer — part of a customer
    segment's label ("口腔连锁" of 民营口腔连锁, "新能源" of 新能源装备, "汽车零部件") — not its name."""
    from difflib import SequenceMatcher

    m = SequenceMatcher(None, question, account, autojunk=False).find_longest_match(0, len(question), 0, len(account))
    phrase = question[m.a:m.a + m.size].strip()
    return len(phrase) >= 2 and any(phrase in segment for segment in _segments(ctx))


def _segments(ctx: ToolContext) -> list[str]:
    from sqlalchemy import select

    from crm.models import Account

    return [s for s in ctx.session.scalars(select(Account.segment).distinct()) if s]


#: who should take a lead: "给谁跟", "谁来接合适", "who should handle"
WHO_TAKES_CUE = re.compile(r"(给|派|分|交)给?谁|谁(来)?(跟|接|负责|合适)|换(个)?人跟|推荐(个|一个)?(人|谁|销售)|找(个)?人(来)?跟|"
                           r"给.{1,4}还是.{1,4}(好|合适|行)|"
                           r"(?<![a-z])who (should|could|would|can|will) (take|handle|get|own|work|follow)(?![a-z])", re.I)
WHY_CUE = re.compile(r"为什么|为何|为啥|咋|怎么会|凭啥|怎么.{0,2}(分|派|给|落)(给|到)?我|原因|理由|依据|凭什么|"
                     r"\b(why|reason|how come|explain)\b", re.I)
#: a lead that came to someone: with a "why", the routing's reasons rather than an alert's or the lead's
# (Latin words next to Chinese characters have no \b between them: "的touchpoint" — hence the look-arounds)
ROUTED_CUE = re.compile(r"(分|派|指派|分配|落|转)(给|到)(了)?(我|他|她|[\u4e00-\u9fff]{2,3})|分给|派给|"
                        r"(是|让|叫)我(来)?(跟|接|负责)|双人跟进|推荐|推给|"
                        r"(?<![a-z])(routed|assigned|suggested|recommended|proposed|go(es)? to|went to|given to|handed to|"
                        r"sent to)(?![a-z])", re.I)
JOURNEY_CUE = re.compile(r"旅程|时间线|触点|接触|来往|往来|打过交道|跟进记录|(有)?啥动静|什么动静|互动记录|来龙去脉|前因后果|从头到尾|"
                         r"(?<![a-z])(what'?s been (happening|going on)|been going on)(?![a-z])|"
                         r"(?<![a-z])(journey|timeline|touch ?points?|history|interactions|(full|whole) story)(?![a-z])", re.I)
#: the journey said by name (JOURNEY_CUE also takes its looser words: "来往", "history")
JOURNEY_WORDS = re.compile(r"旅程|时间线|(?<![a-z])(journey|timeline)(?![a-z])", re.I)
#: a lead given to a named rep, asked why ("为什么给了韩子涵"), or why a routing waits for a manager ("为啥要人工审核")
GIVEN_TO = re.compile(r"给了|交给|(?<![a-z])(gave|given|going to|goes to|go to|went to|for the)(?![a-z])", re.I)
REVIEW_WHY = re.compile(r"(为什么|为啥|为何|咋)(要|得|会|进了?|需要)?(人工|经理)?审核|"
                        r"(为什么|为啥|为何|咋).{0,6}(没|没有)(自动)?(分|分配|派)|卡在审核|"
                        r"(?<![a-z])why (wasn'?t|isn'?t|didn'?t|hasn'?t)\b.{0,30}\b(auto-?)?(routed|assigned)|"
                        r"(?<![a-z])why (does|did|is|was)\b.{0,40}\b(need|needs|going|sent|go|in|waiting)\b.{0,20}review", re.I)
#: an alert marked as handled: "标记处理", "我跟进了", "mark that alert as handled"
HANDLED_CUE = re.compile(r"标(记)?(为|成)?(已)?处理|处理掉|关掉(这条|它)?(吧)?$|处理(完|好)了|已(经)?跟进|我跟进了|"
                         r"(?<![a-z])(close it|closed it|mark it done|close (the |that |this )?(\w+ )?alert)(?![a-z])|"
                         r"(?<![a-z])(mark(ed)?\b.{0,20}\b(handled|done|dealt with)|handled it)(?![a-z])", re.I)
#: asking for advice: "怎么谈", "要提前多久", "有啥技巧", "how should I", "any tips"
HOWTO_CUE = re.compile(r"怎么(谈|聊|说|回|接|办|做|推|应对|处理|写|破|搞|跟进)|怎么往前推|怎么推进|如何|咋(谈|聊|说|回|接|办|整|弄|推)|"
                       r"提前多久|"
                       r"什么时候(开始|该|适合)|要注意(啥|什么|哪些)|技巧|套路|打法|话术|"
                       r"(?<![a-z])(how (do|should|can|could) (i|we)|how early|when should (i|we)|any tips|tips (for|on)|"
                       r"best way to|playbook|(usual|the|a) play (to|for))(?![a-z])",
                       re.I)
REVIEW_CUE = re.compile(r"审[核批](队|对)列|待审核|队列里|待审(批)?队列|待审批|待审的|审核列表|审批列表|"
                        r"(?<![a-z])(review queue|pending review|waiting for review|pending (routing )?approvals?|"
                        r"routing approvals?|approvals? (pending|waiting))(?![a-z])", re.I)
#: one call, not calls in general: "最近一次通话", "上一通电话", "那通", "my last call"
ONE_CALL_CUE = re.compile(r"(最近|上|刚才|刚刚)(的)?(一次|一个|那个|那次)(通话|电话)|(最近|上|刚才|刚刚)(的)?(一通|那通)|"
                          r"这通|那通|刚打的(那个)?电话|"
                          r"(?<![a-z])(my |the |that )?(last|latest|previous|most recent) call(?![a-z])|(?<![a-z])that call(?![a-z])|"
                          r"(?<![a-z])(yesterday'?s|today'?s|my|the latest|the last) ([\w.'\-]+ ){0,6}call(?!s)(?![a-z])|"
                          r"(?<![a-z])call with (the )?[A-Za-z]", re.I)
MANY_CALLS_CUE = re.compile(r"平均|均值|每个人|每人|本月|这个月|上个月|本季度|今年|趋势|所有通话|(?<![a-z])(average|avg|trend|"
                            r"this (month|quarter|year)|last (month|quarter)|all (my )?calls|every call)(?![a-z])", re.I)
SCENARIO_CUE = re.compile(r"场景|剧本|(?<![a-z])scenarios?(?![a-z])", re.I)
ASSIGN_CUE = re.compile(r"安排|布置|指派|分配|派|给.{1,6}(练|模拟|演练|做)|让.{1,6}(练|模拟|演练)|"
                        r"\b(assign|give|schedule|set|have)\b", re.I)
PRACTICE_CUE = re.compile(r"练习|练一|练练|陪我?练|(可以|能|去|来)练|对练|模拟|演练|陪练|角色扮演|"
                          r"roleplay|role-play|role play|practi[sc]|(?<![a-z])(start|run|try|launch|begin) .{0,40}scenario|"
                          r"试(一)?下.{0,12}场景|练\d+\s*[遍次]|练[一二两三四五六七八九十]+[遍次]", re.I)
LEAD_CUE = re.compile(r"线索|这条|那条|这个|这单|那单|单子|\blead\b", re.I)
LEAD_INTENTS = ("lead_status", "journey", "routing_who", "routing_why")


def slot_factors(t: Turn, top: str | None = None, *, kpi_likely: bool = True) -> dict[str, float]:
    """What the deterministic slots say about the readings, as factors on their probabilities: a
    metric named makes a KPI likelier; a reading that needs a word the question lacks ("who" to
    route, "why" to explain, a practice word to start one) is unlikelier; a lead named by id or
    account makes a lead question likelier than a KPI or a playbook."""
    factors: dict[str, float] = {}
    for part in (_metric_factors(t, kpi_likely), _missing_word_factors(t), _practice_factors(t), _cue_factors(t),
                 _decision_kind_factors(t)):
        for intent, factor in part.items():
            factors[intent] = factors.get(intent, 1.0) * factor
    # "702那个石家庄卓越的 通过": its review; "上海卓越口腔那条 采纳": its suggestion — not the lead itself
    decides = APPROVE_CUE.search(t.question) or OVERRIDE_CUE.search(t.question) or DECISION_VERB.search(t.question) \
        or (TRANSFER_CUE.search(t.question) and not WHY_CUE.search(t.question))
    about_it = ALERT_WORD.search(t.question) or HOWTO_CUE.search(t.question)  # "青岛德信汽配的预警", "…这种怎么往前推"
    if not decides and not about_it and (t.lead_ref or (top not in LEAD_INTENTS and t.names_something and t.names_visible_lead)):
        factors.update({name: factors.get(name, 1.0) * 3.0 for name in LEAD_INTENTS})
        factors["kpi"] = 0.3
    return factors


#: the lead just answered about, referred to: "its intent score", "这条的意向分"
ITS_LEAD = re.compile(r"(?<![a-z])(its|it's|this lead's|that lead's)(?![a-z])|这条的|这个线索的|它的", re.I)
#: top reps' calls on a topic: a knowledge search over exemplar calls, not a debrief of one
TOP_REPS_CALLS = re.compile(r"(高手|牛人|销冠|老手|大佬|优秀(的)?(销售|同事)|别人|同事们|"
                            r"(?<![a-z])(top|best|star)\s*(sales|reps?|sellers?)).{0,12}"
                            r"(通话|录音|电话)|"
                            r"(?<![a-z])(top|best|star|other) (reps?|sellers|performers)'?s?.{0,20}calls?(?![a-z])", re.I)


def _said_outright(t: Turn, by_meaning: bool) -> dict[str, float] | None:
    """An undefined KPI said word for word ("客户NPS呢", "客户满意度按区域给我看看": the KPI tool says it is not
    defined); "its" right after a lead ("whats its intent score": that lead's score, not the average)."""
    if _says_an_undefined_metric(t.question) and (by_meaning or re.search(r"呢|看看|给我|怎么样|咋样", t.question)):
        return {"kpi": 30.0}
    if ITS_LEAD.search(t.question) and t.focus_lead:
        return {"lead_status": 2.0}
    return None


def _metric_factors(t: Turn, kpi_likely: bool) -> dict[str, float]:
    """A metric named by a registry word — or, when a KPI is a plausible reading at all (the linker's
    embedding is a second encoding), by meaning — or an undefined KPI. Not in a role-play request
    ("想模拟一下续约客户嫌涨价"); one bare metric word with nothing asking for a figure is only a hint
    ("oakridge renewal status", "renewals - how early …")."""
    from agent.planners import _asks_kpi

    if PRACTICE_CUE.search(t.question) or ONE_CALL_CUE.search(t.question) or SOURCE_CUE.search(t.question):
        return {}  # "最近一次通话 我说话占比多少": that call's figure, its debrief — not the KPI; "出处在哪": the source
    by_meaning = kpi_likely or bool(FIGURE_CUE.search(t.question))
    said = _said_outright(t, by_meaning)
    if said is not None:
        return said
    if _asks_kpi(t.question) or (by_meaning and (_links_a_metric(t.question) or _names_undefined_metric(t.question))):
        return {"kpi": 1.5 if _bare_metric_word(t.question) else 4.0}
    return {}


#: what is assigned is practice: "布置一个", "排一场陪练", "来一份练习", "assign a drill"
RECOMMEND = re.compile(r"推荐|建议|(?<![a-z])(recommend|suggest)(?![a-z])", re.I)
ASSIGN_VERB = re.compile(r"布置|指派|给.{0,6}安排|(?<![a-z])assign(?![a-z])", re.I)
PRACTICE_WORK = re.compile(r"布置|练习|陪练|演练|对练|排一场|模拟|作业|"
                           r"(?<![a-z])(drills?|practi[sc]e|exercises?|role-?play)(?![a-z])", re.I)


def _missing_word_factors(t: Turn) -> dict[str, float]:
    """Readings that need a word the question lacks."""
    factors: dict[str, float] = {}
    if not WHO_CUE.search(t.question) and not TRANSFER_CUE.search(t.question):
        factors["routing_who"] = 0.2
    if not WHY_CUE.search(t.question):
        factors["routing_why"] = 0.2
        if not WHAT_ABOUT.search(t.question):
            factors["alert_explain"] = 0.3  # "那个提醒是怎么回事" asks why as well
    if not ASSIGN_CUE.search(t.question):
        factors["practice_assign"] = 0.2
        if not OVERRIDE_CUE.search(t.question):
            factors["review_override"] = 0.3  # an override names the change: "改派给李娜", "give it to Emily"
    elif PRACTICE_WORK.search(t.question) and not OVERRIDE_CUE.search(t.question):
        # "顺便给华东的张伟也布置一个": practice, not a lead; "给他布置个合适的练习": an assignment, not advice
        factors.update(review_override=0.2, practice_assign=6.0 if ASSIGN_VERB.search(t.question) else 3.0)
        if RECOMMEND.search(t.question) and not ASSIGN_VERB.search(t.question):
            factors.update(practice_assign=0.3, drills=6.0)  # "David异议处理太弱了 给他推荐个练习": which drill, not an assignment
    if DOMAIN_WORD.search(t.question) and not HELP_CUE.search(t.question):
        factors["help"] = 0.3  # "and what about its intent?" asks about something, not what the copilot can do
    return factors


#: who plays whom: a role-play asked for ("我当销售 你演采购中心的", "you be the CFO")
ROLE_FRAME = re.compile(r"(我|咱)(来)?(当|演|扮演)销售|你(来)?(当|演|扮演)(一下|一个)?.{1,10}(主任|科长|总|经理|老板|客户|采购|的)|"
                        r"(?<![a-z])(you (play|be|are) the|i'?ll be the (rep|seller|sales))(?![a-z])", re.I)


def _practice_factors(t: Turn) -> dict[str, float]:
    """Starting practice needs a practice word; a scenario named ("开始练习 新能源风场运维的“为什么”追问")
    or asked about ("有哪些场景可以练") makes it likely, whatever the scenario's words; its results
    asked for ("上次陪练的报告") are the practice tool's too."""
    if t.ctx.user.role != Role.REP and TEAM_PRACTICE.search(t.question) and not t.slots.reps:
        # "who has the best practice scores this week", "哪些人这个月还没练过": the team's practice results
        return {"practice_start": 200.0, "practice_assign": 0.2, "drills": 0.1, "kpi": 0.3, "gaps_team": 0.2, "practice_end": 0.1}
    if PRACTICE_REPORT_CUE.search(t.question):
        return {"practice_start": 20.0, "practice_assign": 0.2, "drills": 0.1, "kpi": 0.3, "gaps_team": 0.3}
    if ROLE_FRAME.search(t.question):
        return {"practice_start": 8.0, "knowledge_howto": 0.3, "knowledge_policy": 0.3}
    if not PRACTICE_CUE.search(t.question):
        return {"practice_start": 0.3}
    factor = 6.0 if _names_a_scenario(t) else 1.0
    return {"practice_start": factor * 4.0} if SCENARIO_CUE.search(t.question) else ({"practice_start": factor} if factor != 1.0 else {})


def _cue_factors(t: Turn) -> dict[str, float]:
    """Words that point at one capability (each rule below says which)."""
    factors: dict[str, float] = {}
    for rule in (_routing_cues, _turned_to_another_rep, _journey_and_calls_cues, _view_cues, _advice_cues, _record_cues, _skill_cues,
                 _someone_elses_account, _adopted_by_name):
        factors.update(rule(t))
    return factors


ADOPT_VERB = re.compile(r"采纳|(?<![a-z])adopt(?![a-z])", re.I)
DISMISS_WORDS = re.compile(r"忽略|(?<![a-z])(dismiss|ignore)(?![a-z])", re.I)


def _adopted_by_name(t: Turn) -> dict[str, float]:
    """"沈阳明辉那条采纳 我今天就打电话", "大连恒立那个先忽略 客户说明年才启动": deciding that customer's suggestion or
    alert — "打电话" is what the rep will do, not a call to debrief; "客户说…" no playbook question."""
    q = t.question
    adopt = bool(ADOPT_VERB.search(q) or HANDLED_CUE.search(q))  # "沈阳明辉那条刚打过电话了 标成已处理"
    dismiss = bool(DISMISS_WORDS.search(q)) and not adopt
    if not (adopt or dismiss) or ALERT_WORD.search(q) or SUGGESTION_WORD.search(q) or t.named_lead is None:
        return {}
    action = "adopt" if adopt else "dismiss"
    factors = {f"suggestion_{action}": 6.0, f"alert_{action}": 6.0, "call_debrief": 0.2, "lead_status": 0.5, "lead_list": 0.3,
               "kpi": 0.3, "knowledge_howto": 0.2, "knowledge_policy": 0.2}
    kinds = {"suggestions": ("suggestion", "alert"), "alerts": ("alert", "suggestion")}
    if t.focus.get("topic") in kinds:  # right after a list of suggestions (or alerts): that kind's, not the other's
        listed, other = kinds[t.focus["topic"]]
        factors.update({f"{listed}_{action}": 30.0, f"{other}_{action}": 0.2})
    return factors


def _someone_elses_account(t: Turn) -> dict[str, float]:
    """A rep naming a colleague and one of that colleague's accounts ("徐丽南京妇幼那条 她跟得咋样了", "Emily's
    pipeline for Nordic MedTech"): a question about that lead, which the lead tool refuses — or, asked to be
    handed over ("能不能转给我跟"), the routing tool's refusal. Nothing of the account is looked at but its name."""
    from crm.models import Lead
    from tools.leads.find import find_among, names_its_account

    others = [u.id for u in t.slots.reps if u.id != t.ctx.user.id]
    if t.ctx.user.role != Role.REP or not others:
        return {}
    theirs = set(t.ctx.session.scalars(select(Lead.id).where(Lead.owner_id.in_(others))))  # only the named colleagues' leads
    if not any(names_its_account(t.question, m.account) for m in find_among(ctx=t.ctx, query=t.question, lead_ids=theirs, limit=3)):
        return {}
    asks_transfer = TRANSFER_CUE.search(t.question) and not LOOK_CUE.search(t.question)  # "帮我看下…他说要转给我": a look first
    return {"routing_who": 20.0} if asks_transfer else {"lead_status": 15.0}


def _moves_a_lead(q: str) -> bool:
    """A lead handed from one rep to another in words — not a look at it, a queue's decision or a leaving rep."""
    return bool(TRANSFER_CUE.search(q) and LEAD_WORD.search(q)) and not (LEAVING_CUE.search(q) or LOOK_CUE.search(q)
                                                                          or QUEUE_WORD.search(q) or APPROVE_CUE.search(q))


#: giving the lead to a rep, decided ("还是给梁晓东吧", "就给她吧", "give it to Guo Xia") — not asked ("给她不行吗", "what about Emily?")
GIVE_DECIDED = re.compile(r"(还是|就|改|那就|直接)?(给|派给|分给|改派给|交给|转给)[\u4e00-\u9fff]{1,3}|"
                          r"(?<![a-z])(give|assign|route|hand) it to(?![a-z])", re.I)
ASKED_BACK = re.compile(r"[?？]|吗|呢|行不行|可不可以|怎么样|(?<![a-z])(what about|how about|would|could|should)(?![a-z])", re.I)


def decision_waits(t: Turn) -> bool:
    """The conversation is on a waiting routing decision: one in focus, or the focused lead's, pending review
    ("行 转给邓敏" after who should take a lead nobody has to approve is another routing, not an override)."""
    from crm.models import RoutingDecision

    if t.focus.get("decision_id"):
        return True
    return bool(t.focus_lead) and t.ctx.session.scalar(
        select(RoutingDecision.id).where(RoutingDecision.lead_id == t.focus_lead, RoutingDecision.status == "pending_review")) is not None


def gives_it_to(question: str) -> bool:
    """The lead (or waiting decision) is given to a rep in words, decided rather than asked about."""
    return bool(GIVE_DECIDED.search(question)) and not ASKED_BACK.search(question)


def _turned_to_another_rep(t: Turn) -> dict[str, float]:
    """"青岛市中心医院那个别给吴杰了 改给张伟", "不给韩子涵 给梁晓东吧" right after the waiting decisions: an override; "还是给梁晓东吧"
    right after who should take a lead or why a decision proposed someone: that lead's decision, to that rep."""
    if t.slots.reps and NOT_HIM_BUT.search(t.question) and any(i["kind"] == "decision" for i in t.items):
        return {"review_override": 40.0, "routing_who": 0.1, "successor": 0.05}
    on_a_routing = t.focus.get("topic") in ("lead_routing", "review_queue") and decision_waits(t)
    if t.slots.reps and on_a_routing and gives_it_to(t.question) and not t.names_something \
            and t.ctx.user.role in (Role.MANAGER, Role.ADMIN):
        return {"review_override": 40.0, "routing_who": 0.1, "successor": 0.05, "practice_assign": 0.1}
    return {}


#: away for a while, not leaving: "out till the 27th", "休假到下周", "出差这周不在"
AWAY_CUE = re.compile(r"休假|请假|出差|不在|病假|产假|(?<![a-z])(out (till|until|for|this)|away|on leave|off (till|until)|"
                      r"cover)(?![a-z])", re.I)


def _why_given_or_reviewed(t: Turn) -> bool:
    """"北京妇幼那条 为什么给了韩子涵", "Helios苏州那条为啥要人工审核", "why emily?" right after a waiting decision:
    the routing's reasons."""
    q = t.question
    if REVIEW_WHY.search(q):
        return True
    named = any(u.id != t.ctx.user.id for u in t.slots.reps)
    on_a_decision = t.focus.get("topic") in ("review_queue", "lead_routing") or any(i["kind"] == "decision" for i in t.items)
    return bool(WHY_CUE.search(q) and named and (GIVEN_TO.search(q) or on_a_decision))


def _routing_cues(t: Turn) -> dict[str, float]:
    """A why about a lead routed or recommended to someone; a leaving rep's accounts; who should take a lead."""
    q = t.question
    if _why_given_or_reviewed(t):
        return {"routing_why": 12.0, "lead_status": 0.3, "review_list": 0.3, "gaps_team": 0.2, "successor": 0.2}
    if WHY_CUE.search(q) and ROUTED_CUE.search(q):
        # "为啥推荐韩子涵": the engine's proposal of that rep — the why, not the lead's status or a list of her leads
        return {"routing_why": 12.0 if t.slots.reps else 4.0, "lead_status": 0.3, "lead_list": 0.3}
    if OVERRIDE_CUE.search(q) and not LEAVING_CUE.search(q):
        return {"review_override": 4.0, "successor": 0.3}  # "兰州佳贝那条直接改派董健 那家本来就是他的客户"
    if _moves_a_lead(q) and t.slots.reps and t.ctx.user.role in (Role.MANAGER, Role.ADMIN) and _waiting_decision_named(t):
        return {"review_override": 60.0, "routing_who": 0.3}  # "鼎盛南京那条改给张伟": its decision waits for review
    if _moves_a_lead(q):
        # "把西部田野的线索转两条给朱艳": a reassignment (the routing tool refuses what is not the asker's to move)
        return {"routing_who": 60.0, "lead_list": 0.3, "lead_status": 0.3, "successor": 0.3, "practice_assign": 0.2}
    return _away_or_leaving(t)


def _away_or_leaving(t: Turn) -> dict[str, float]:
    """A rep away for a while (their lead's routing) or leaving (the successor tool); who should take a lead."""
    q = t.question
    if t.slots.reps and AWAY_CUE.search(q) and re.search(r"哪些|哪几|(?<![a-z])(which|list)(?![a-z])", q, re.I):
        return {"lead_list": 15.0, "successor": 0.1}  # "袁梦休假到27号 她手上哪些热单要帮她盯着": her leads to watch
    if t.slots.reps and AWAY_CUE.search(q) and (t.named_lead is not None or LEAD_WORD.search(q)):
        # "Meng Yuan is out till the 27th, who should cover her hot Lanzhou Dexin lead": that lead's routing, not a handover
        return {"routing_who": 20.0, "successor": 0.1}
    if t.slots.reps and (LEAVING_CUE.search(q) or THEIR_ACCOUNTS.search(q)):
        return {"successor": 3.0}
    if SELF_LEAVING.search(q):
        return {"successor": 12.0}  # "我月底离职 先帮我排下名下客户该分给谁": the successor tool (refused to a rep)
    return {"routing_who": 3.0} if WHO_TAKES_CUE.search(q) else {}


#: a call still to come, asked how to run: "下次电话我该怎么切入", "first real call … next week. what should i ask"
NEXT_CALL = re.compile(r"(下次|下一通|下回|明天|后天|下周|第一次|首次)(的)?(打)?(电话|通话|拜访|见面)"
                       r".{0,12}(怎么|咋|该|如何|问什么|问啥|说什么|说啥)|"
                       r"(?<![a-z])(next|upcoming|first( real)?|tomorrow'?s?)\s+(call|meeting|visit)\b.{0,60}"
                       r"\b(what should|how (do|should)|what to)\b", re.I)
RECORDING_CUE = re.compile(r"通话录音|电话录音|录音文本|通话记录|通话文本|"
                           r"(?<![a-z])(call recordings?|call transcripts?|recordings of)(?![a-z])",
                           re.I)


def _journey_and_calls_cues(t: Turn) -> dict[str, float]:
    """Journey words; top reps' calls on a topic (knowledge, not a debrief); one call."""
    q, factors = t.question, {}
    if JOURNEY_CUE.search(q):
        factors["journey"] = 8.0 if JOURNEY_WORDS.search(q) else 5.0
    if TOP_REPS_CALLS.search(q):
        factors.update(knowledge_howto=4.0, call_debrief=0.2)  # "有没有高手处理这种情况的通话录音"
    elif NEXT_CALL.search(q):
        factors.update(knowledge_howto=8.0, call_debrief=0.1)  # "下次电话我该怎么切入": what to say, not a past call
    elif RECORDING_CUE.search(q) and not ONE_CALL_CUE.search(q):
        factors.update(call_debrief=4.0, out_of_scope=0.3)  # "把西部组所有人的通话录音文本发我": calls, whoever's
    elif ONE_CALL_CUE.search(q) or (_names_a_colleague(t) and COLLEAGUE_CALL.search(q)):
        factors["call_debrief"] = 3.0
        if not MANY_CALLS_CUE.search(q):
            factors.update(call_debrief=8.0, kpi=0.3, knowledge_howto=0.5)  # "talk ratio on my latest Guiyang call": that call
    return factors


def _approve_cues(t: Turn) -> dict[str, float]:
    """"702那个石家庄卓越的 通过": its review, not the lead; with the queue or a routing said, surely the review."""
    q = t.question
    if not APPROVE_CUE.search(q) or t.slots.ids:
        return {}
    if REVIEW_CUE.search(q) or QUEUE_WORD.search(q) or ROUTED_CUE.search(q):
        # "approve the Xiamen item in the south queue", "那条分给我的线索 帮我直接approve了": a routing to approve
        return {"review_approve": 30.0, "lead_status": 0.3, "journey": 0.3, "successor": 0.1, "lead_list": 0.3}
    return {"review_approve": 6.0, "lead_status": 0.3, "journey": 0.3}


def _view_cues(t: Turn) -> dict[str, float]:
    """The review queue, a ranked list of leads, a lead's next step, drills."""
    q, factors = t.question, {}
    if UNFOLLOWED.search(q) and re.search(r"线索|单子|(?<![a-z])leads?(?![a-z])", q, re.I):
        factors.update(lead_list=3.0, kpi=0.5)  # "张伟手上现在有多少条没跟进的线索": those leads
    if DRILL_CUE.search(q):
        factors.update(drills=3.0, kpi=0.3, practice_start=0.5, practice_end=0.3)
    if drill_said(t) is not None:  # "痛点后停顿练习是啥意思", "explain the why ladder one": that drill explained
        factors.update(drills=100.0, kpi=0.3, practice_start=0.3, practice_end=0.1, routing_why=0.1, alert_explain=0.1)
    factors.update(_approve_cues(t))
    factors.update(_lead_list_cues(t))
    if REVIEW_CUE.search(q):
        # "队列" names nothing else here ("审批队列给我看看 想知道新线索都派给谁了": the queue, not who should take one)
        factors.update(review_list=6.0, review_approve=6.0, review_override=6.0, routing_who=0.3, routing_why=0.3, successor=0.3)
    if LEAD_LIST_CUE.search(q):
        factors["lead_list"] = 3.0
        if not FIGURE_CUE.search(q):
            factors["kpi"] = 0.5  # "这周新来的线索 有哪些我还没跟的": the leads, not the follow-up rate
    if NEXT_STEP_CUE.search(q):
        factors.update(lead_status=3.0, suggestions_list=0.5)  # "那下一步建议呢": the lead's next best action
    if ONE_LEADS_FIGURE.search(q) and not AGGREGATE_WORD.search(q):
        factors.update(lead_status=6.0, call_debrief=0.3)  # "这通电话那个客户现在意向分多少 单子多大": that customer's lead
    return factors


#: one lead's own figures: its intent score, its size
ONE_LEADS_FIGURE = re.compile(r"意向分多少|意向指数多少|单子多大|金额多大|(?<![a-z])(how big is the deal|deal size of)(?![a-z])", re.I)
AGGREGATE_WORD = re.compile(r"平均|各|按|每个|所有|(?<![a-z])(average|avg|by|each|all)(?![a-z])", re.I)


def _lead_list_cues(t: Turn) -> dict[str, float]:
    """Everybody's leads, or a region's unassigned ones: the list (refused when they are not the asker's)."""
    q = t.question
    if ALL_REPS.search(q) and (LEAD_WORD.search(q) or REGION_DUMP.search(q)):
        return {"lead_list": 10.0, "out_of_scope": 0.3}  # "dump the leads for all regions"
    if UNASSIGNED.search(q) and LEADS_WORD.search(q) and not (t.lead_ref or t.names_visible_lead):
        return {"lead_list": 10.0, "routing_who": 0.3}  # "华东没分配的线索给我看看 有没有能接的": the region's list
    return {}


#: what someone should practise: the drills ("曾磊该练啥 他说话占比老是偏高", "what should Emily work on")
WHAT_TO_PRACTISE = re.compile(r"(该|要|得|应该|需要)练(点)?(啥|什么|哪)|练(点)?(啥|什么)好|"
                              r"(?<![a-z])(what (should|do|does) \w+ (practi[sc]e|work on)|what to practi[sc]e)(?![a-z])", re.I)


#: who ranks first or last on something: "组里谁方案匹配最强", "who's best at discovery"
WHO_RANKED = re.compile(r"谁.{0,12}最|(?<![a-z])(who|which rep)\b.{0,30}\b(best|strongest|weakest|worst)(?![a-z])", re.I)


def _skill_cues(t: Turn) -> dict[str, float]:
    """A rep's skill judged: their capability gaps (a named colleague's: the team view); what to practise: drills."""
    if WHAT_TO_PRACTISE.search(t.question) and not ASSIGN_CUE.search(t.question):
        return {"drills": 20.0, "kpi": 0.3, "call_debrief": 0.5}
    if named_dimension(t.question) and WHO_RANKED.search(t.question) and t.ctx.role != Role.REP:
        return {"gaps_team": 20.0, "kpi": 0.2}  # "组里谁方案匹配最强": the team by that skill, not a KPI
    if not SKILL_CUE.search(t.question):
        return {}
    others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
    return {"gaps_team": 3.0, "kpi": 0.5} if others else {"gaps_own": 3.0, "kpi": 0.5}


def _advice_cues(t: Turn) -> dict[str, float]:
    """A how-to, a definition, a policy or a source asked about, naming nothing in the data."""
    q, factors = t.question, {}
    if SOURCE_CUE.search(q):
        return {"knowledge_howto": 3.0, "knowledge_policy": 2.0, "kpi": 0.3}  # "…的几倍 出处在哪": where a claim comes from
    if HOWTO_CUE.search(q) and not _names_data(t):
        factors["knowledge_howto"] = 2.0
        if not FIGURE_CUE.search(q):
            factors["kpi"] = 0.5  # "续约要提前多久开始聊": advice about renewals, not the renewal rate
    if (DEFINITION_CUE.search(q) or POLICY_CUE.search(q)) and not _names_data(t):
        factors.update(knowledge_policy=3.0, knowledge_howto=2.0)
    return factors


def _alert_handling_cues(t: Turn) -> dict[str, float]:
    """An alert's reasons or what to do about it: this alert, a named customer's, or the asker's alerts."""
    q = t.question
    if HANDLED_CUE.search(q):  # "这个提醒我跟进了 标记处理", "兰州佳贝那个提醒 … 帮我标记处理": adopted
        return {"alert_adopt": 30.0, "alert_explain": 0.2, "routing_why": 0.2, "routing_who": 0.2, "lead_status": 0.3}
    if HANDLE_CUE.search(q) and THIS_ALERT.search(q) and not DECISION_VERB.search(q):
        # "这提醒咋办": the alert's reasons and its suggested action — not a decision taken for the user
        return {"alert_explain": 40.0, "alert_adopt": 0.05, "alert_dismiss": 0.05, "knowledge_howto": 0.3}
    return _alert_asked_about(t)


def _alert_asked_about(t: Turn) -> dict[str, float]:
    """A named customer's alert explained, or the asker's alerts with what to do about them."""
    q = t.question
    asks = WHY_CUE.search(q) or WHAT_ABOUT.search(q) or HANDLE_CUE.search(q)
    if asks and t.named_lead is not None:
        # "佛山中科 7分跳到84 咋回事", "海口卫健委那个政策敏感 啥意思 咋办": that customer's alert, explained
        return {"alert_explain": 15.0, "lead_status": 0.5}
    if HANDLE_CUE.search(q) and not DECISION_VERB.search(q) and not HOWTO_GENERAL.search(q):
        # "预警说有个客户冷了 我该咋办": the alerts and their suggested actions
        return {"alerts_list": 6.0, "alert_explain": 2.0, "knowledge_howto": 0.3}
    if t.named_lead is not None and not DECISION_VERB.search(q) and not OPEN_CUE.search(q):
        # "青岛德信汽配的预警看下", "成都天成那条工程师评估的预警": that customer's alert
        return {"alert_explain": 12.0, "lead_status": 0.3, "lead_list": 0.3, "journey": 0.5}
    return {"alert_explain": 5.0} if asks else {}


#: a customer that just warmed up, without the word alert: "有没有哪个客户突然变热了", "anyone heating up?"
HEATING_UP = re.compile(r"(突然|一下子|最近)?(变热|升温|热起来|活跃起来)|"
                        r"(?<![a-z])(heating up|warming up|got hot|suddenly hot)(?![a-z])", re.I)


def _record_cues(t: Turn) -> dict[str, float]:
    """An alert asked about ("那个意向跃升的提醒 是怎么回事") or counted while still open."""
    q = t.question
    if not ALERT_WORD.search(q):
        return _alert_without_its_word(t)
    if any(u.id != t.ctx.user.id for u in t.slots.reps) and not SUGGESTION_WORD.search(q) and not DECISION_VERB.search(q):
        return {"alerts_list": 30.0, "lead_status": 0.3}  # "杨勇最近有啥提醒 我帮他看看": his alerts (refused to a colleague)
    handling = _alert_handling_cues(t)
    if handling:
        return handling
    if NEW_ONES.search(q):
        return {"alerts_list": 5.0, "alert_dismiss": 0.2, "alert_adopt": 0.2, "kpi": 0.5}  # "今天有新告警没": are there any
    return {"alerts_list": 3.0, "kpi": 0.5} if OPEN_CUE.search(q) or WHICH_ONES.search(q) else {}


def _alert_without_its_word(t: Turn) -> dict[str, float]:
    """Customers heating up ("华东这两天有哪些升温的客户" — not "my leads heating up? sort by score"), or the alert just
    shown handled in words ("ok 处理掉吧 电话已经打过了")."""
    q = t.question
    if HEATING_UP.search(q) and t.named_lead is None and not LEADS_WORD.search(q) \
            and not re.search(r"排序|按意向|(?<![a-z])(sort|score)", q, re.I):
        return {"alerts_list": 100.0, "lead_status": 0.3, "lead_list": 0.3, "kpi": 0.3}
    if HANDLED_CUE.search(q) and t.focus.get("topic") == "alerts" and t.focus.get("alert_id"):
        return {"alert_adopt": 30.0, "call_debrief": 0.1, "lead_status": 0.3}
    return {}


#: which drill / my assignments: "有没有对应的练习", "which drill trains…", "我那个练习截止啥时候"
DRILL_CUE = re.compile(r"(有没有|有啥|有什么|哪个|哪些)(对应的|相关的)?(练习|训练|drill)|练习.{0,4}(截止|到期|due)|(截止|due).{0,6}练习|"
                       r"(?<![a-z])(which drills?|what drills?|drills? (for|to|that)|drill trains?|my drills?|"
                       r"assigned drills?)(?![a-z])", re.I)
APPROVE_CUE = re.compile(r"批了|批准|通过吧|(就|直接|可以)?通过[了吧啊]?\s*$|(分配|推荐)我?同意|我同意|同意(这个)?(分配|推荐)|就按推荐|"
                         r"(?<![a-z])(approve|sign off)(?![a-z])", re.I)
#: a rep's skill judged: "田野异议处理是不是不太行", "is Emily weak at discovery"
SKILL_CUE = re.compile(r"(异议处理|需求挖掘|方案匹配|提问|倾听|停顿|追问).{0,6}(不太行|不行|弱|差|一般|怎么样|咋样|如何|够不够|行不行)|"
                       r"(异议处理|需求挖掘|方案匹配|提问|倾听|停顿|追问).{0,6}(跟|和|与).{0,6}比|"
                       r"(?<![a-z])(weak|struggl\w*|bad|good) (at|with) (objection|discovery|questions|solution|listening)", re.I)
#: a proposal turned from one rep to another in words: "别给吴杰了 改给张伟", "不给韩子涵 给梁晓东吧"
TURNED_AWAY = r"(别|不要?|不)给([\u4e00-\u9fff]{2,3}?)(?=了|吧|,|，|\s|$)"  # "别给吴杰了": group 2 is who is turned away
NOT_HIM_BUT = re.compile(rf"{TURNED_AWAY}|改给|换给|换成|(?<![a-z])(instead|not to)(?![a-z])", re.I)
OVERRIDE_CUE = re.compile(r"改派|改成|换成|(?<![a-z])(override|reassign)(?![a-z])", re.I)
LEAD_LIST_CUE = re.compile(r"(有)?哪些.{0,8}(线索|单子|lead)|(线索|单子|leads).{0,10}(有)?哪些|按意向|(先|优先)(打|跟|联系)|排个?序|"
                           r"(?<![a-z])(ranked|rank(ed)? by intent|by intent|call first|which (of my )?leads)(?![a-z])", re.I)
NEXT_STEP_CUE = re.compile(r"下一步|(?<![a-z])(next step|next best|nba)(?![a-z])", re.I)
SOURCE_CUE = re.compile(r"出处|来源是|哪里来的|(有)?(啥|什么)?依据(是啥|没|吗)?$|有(啥|什么)依据|"
                        r"(?<![a-z])(source for|where does .{1,40} come from)(?![a-z])", re.I)
WHAT_ABOUT = re.compile(r"怎么回事|咋回事|啥情况|说说|讲讲|介绍下|(那|这)(个|条)[^,，。]{0,4}是(啥|什么)|(是)?(啥|什么)意思|"
                        r"(提醒|预警)是(啥|什么)|"
                        r"(?<![a-z])(what'?s (this|that) about|what happened)(?![a-z])", re.I)
THIS_ALERT = re.compile(r"(这|那)(个|条)?(提醒|预警|告警)|(提醒|预警|告警)(咋办|怎么办|怎么处理|咋处理)|"
                        r"(?<![a-z])(this|that|the) (alert|signal)(?![a-z])", re.I)
#: a how-to about alerts in general, not one of the asker's: "收到意向跃升预警一般怎么跟进"
HOWTO_GENERAL = re.compile(r"一般|通常|平时|(?<![a-z])(usually|in general|generally)(?![a-z])", re.I)
HANDLE_CUE = re.compile(r"咋办|怎么办|怎么处理|咋处理|咋弄|该干啥|该做啥|该干什么|该做什么|"
                        r"(?<![a-z])(what (should|do) i do|how (do|should) i handle)(?![a-z])", re.I)
OPEN_CUE = re.compile(r"没处理|未处理|待处理|没看|(?<![a-z])(open|pending|unhandled)(?![a-z])", re.I)
#: whether there are any: "今天有新告警没", "有没有新的预警", "any new alerts?"
NEW_ONES = re.compile(r"有(没有)?新|新的?.{0,3}(提醒|告警|预警)|有.{0,6}(提醒|告警|预警).{0,3}(没|吗|么)|"
                      r"(?<![a-z])any (new )?(alerts?|signals?)(?![a-z])", re.I)
#: the records themselves, not their count or rate: "华南的escalated alerts有哪些"
WHICH_ONES = re.compile(r"有哪些|哪些|列一下|列出来|列个|(?<![a-z])(which|list|show me)(?![a-z])", re.I)
#: a named colleague's call: "朱艳跟厦门一院那个电话", "David跟Rhine那通电话"
COLLEAGUE_CALL = re.compile(r"(那个|那通|这通|的)(电话|通话)|(电话|通话)(复盘|怎么样|咋样|有问题)|(?<![a-z])call with(?![a-z])", re.I)


DEFINITION_CUE = re.compile(r"啥是|什么是|是什么意思|是啥意思|什么叫|指的是什么|"
                            r"(?<![a-z])(what is an?|what's an?|whats an?|what is the|what's the|whats the|define|meaning of|"
                            r"what does .{1,30} mean)(?![a-z])", re.I)
POLICY_CUE = re.compile(r"合规|授权|同意书|隐私|个人信息|PIPL|GDPR|送礼|礼品|礼物|购物卡|红包|回扣|招待|贿赂|反腐|"
                        r"能不能|可不可以|允许|规定|必须|有效期|多久之内|多久内|来着|"
                        r"(?<![a-z])(compliance|consent|privacy|gifts?|bribe|kickback|allowed to|is it ok to|policy|rules? for)(?![a-z])",
                        re.I)


def _names_a_colleague(t: Turn) -> bool:
    return any(u.id != t.ctx.user.id for u in t.slots.reps)


def _names_data(t: Turn) -> bool:
    from agent.planners import names_data

    return names_data(t)


CREATIVE_CUE = re.compile(r"写(一|几)?(首|篇|段|个)?(诗|歌|词|作文|小说|故事|段子|笑话|对联|藏头诗)|讲个?(笑话|故事|段子)|"
                          r"(?<![a-z])(haiku|poem|limerick|sonnet|song lyrics|lyrics|short story|tell me a joke|a joke|rap)(?![a-z])", re.I)
#: personal investing is not sales work, whatever the industry it names ("推荐几只新能源股票", "which stocks should I buy")
OFF_TOPIC_CUE = re.compile(r"股票|股价|炒股|买股|选股|基金|比特币|虚拟币|市值|个税|个人所得税|"
                           r"(推荐|介绍)(几|一)?(本|部|首)(书|小说|电影|歌)|"
                           r"(?<![a-z])(recommend|suggest)\b.{0,20}\b(books?|novels?|movies?|films?|songs?|podcasts?)(?![a-z])|"
                           r"(?<![a-z])(stocks?|shares to buy|share price|stock price|market cap|bitcoin|crypto(currency)?|etfs?|"
                           r"income tax)(?![a-z])|"
                           # another vendor's product, the office IT, a parcel, a company registry: not the copilot's data
                           r"(其他|别的|别家|其它)(的)?\s*crm|crm\s*(推荐|哪个好|哪家好)|(?<![a-z])(good|best|other|alternative)\b.{0,15}\bcrms?(?![a-z])|"
                           r"(?<![a-z])crms?\b.{0,15}\b(alternatives?|besides|recommend\w*)(?![a-z])|"
                           r"电脑.{0,4}(开不了机|坏了|死机|蓝屏|卡死)|开不了机|蓝屏|打印机|连不上(网|wifi|vpn)|"
                           r"(?<![a-z])(laptop|printer|won'?t (boot|turn on)|blue screen)(?![a-z])|"
                           # a parcel, not a logistics customer ("快递行业的客户怎么谈" is sales work)
                           r"(运|快递|物流)单号|单号.{0,20}(到哪|查一下|查下)|(查|寄)(个|一下|下)?快递|快递(到哪|寄)|"
                           r"(?<![a-z])(tracking (number|no)|parcel)(?![a-z])|"
                           r"工商信息|工商注册|法人(是谁|代表)|注册资本|天眼查|企查查|营业执照|信用代码|"
                           r"新闻|裁员|增值税|专票|普票|税点|开发票|不可抗力|合同(里|中)?.{0,6}条款(怎么|咋)写|"
                           r"(?<![a-z])(the news|in the news|layoffs?|vat invoice|tax rate|force majeure)(?![a-z])|"
                           r"(?<![a-z])(business registration|legal representative|registered capital)(?![a-z])", re.I)
#: writing to order something no tool writes: a post, an email, a letter ("write a linkedin post about our Q4 win")
WRITING_CUE = re.compile(r"写(一|几)?(封|篇|条|个|段)?(邮件|信|朋友圈|文案|帖子|公众号|推文|软文|新闻稿|演讲稿)|"
                         r"(?<![a-z])(write|draft|compose)\b.{0,25}\b(post|email|e-mail|letter|tweet|caption|blog|press release|"
                         r"speech)(?![a-z])", re.I)
DOMAIN_WORD = re.compile(r"线索|客户|意向|通话|电话|提醒|建议|指标|练习|旅程|分配|单子|"
                         r"(?<![a-z])(leads?|intent|customers?|accounts?|calls?|alerts?|suggestions?|kpis?|rate|journey|"
                         r"practi[sc]e|deals?|pipeline)(?![a-z])", re.I)
HELP_CUE = re.compile(r"你能|你会|你可以|能帮|怎么用|功能|用法|帮助|你是谁|能做什么|能干|"
                      r"(?<![a-z])(help|what can (you|i)|how (do|can) i use|features?|capabilit|commands?|what do you do|"
                      r"who are you|how does this)(?![a-z])", re.I)
DECISION_VERB = re.compile(r"采纳|接受|忽略|驳回|不要|(?<![a-z])(adopt|accept|dismiss|ignore|reject|skip)(?![a-z])", re.I)
DECISION_INTENTS = {"suggestions": ("suggestion_adopt", "suggestion_dismiss"), "alerts": ("alert_adopt", "alert_dismiss")}


def _decision_kind_factors(t: Turn) -> dict[str, float]:
    """"忽略1063" / "1063 adopt一下": a bare number with a decision verb is a suggestion or an alert —
    the kind the previous answer listed, else the kind that has a record with that id for the asker."""
    if not DECISION_VERB.search(t.question):
        return _decision_named_by_kind(t.question) if ADOPT_WORDS.search(t.question) and not t.slots.numbers else {}
    if not t.slots.numbers:
        return _decision_named_by_kind(t.question) or _decision_in_topic(t) or _decision_of_the_customer(t)
    if t.slots.ids or len(t.slots.numbers) != 1:
        return {}
    kind = t.focus.get("topic") if t.focus.get("topic") in DECISION_INTENTS else _kind_with_id(t, t.slots.numbers[0])
    return {intent: 3.0 for intent in DECISION_INTENTS.get(kind or "", ())}


ALERT_WORD = re.compile(r"提醒|预警|告警|信号|意向(指数|分)?(跃升|跳升|暴涨|跳)|深度评估|政策敏感|招标需专家|"
                        r"\d+\s*分?\s*(跳|涨|升)到\s*\d+|(?<![a-z])(alerts?|signals?|jumped to \d+|intent (score )?jump)(?![a-z])", re.I)
SUGGESTION_WORD = re.compile(r"建议|(?<![a-z])(suggestions?|recommendations?)(?![a-z])", re.I)
#: adopting in other words, only next to an alert or suggestion word: "那条建议 ok 就按它说的办"
ADOPT_WORDS = re.compile(r"照办|照做|按(它|这个|建议)?(说的)?(来|办)|就这么办|收到|同意|(?<![a-z])(go with|do it|ok|okay)(?![a-z])", re.I)
DISMISS_VERB = re.compile(r"忽略|驳回|不要|不用|(?<![a-z])(dismiss|ignore|reject|skip)(?![a-z])", re.I)


def _decision_in_topic(t: Turn) -> dict[str, float]:
    """"上海卓越口腔那条 采纳" right after a list of suggestions (or alerts): that kind's decision."""
    return _decision_of(t.focus.get("topic"), t.question)


def _decision_named_by_kind(question: str) -> dict[str, float]:
    """"成都天成那条预警 采纳", "Nordic那条建议 不要了": a decision on the alert or suggestion of a customer."""
    return _decision_of("alerts" if ALERT_WORD.search(question) else "suggestions" if SUGGESTION_WORD.search(question) else None,
                        question)


def _decision_of_the_customer(t: Turn) -> dict[str, float]:
    """"上海卓越口腔那条 采纳" with nothing listed before: the kind of open record (suggestion or alert)
    the named customer has — only one kind — decided by the verb, rather than the customer's lead."""
    if t.named_lead is None:
        return {}
    from agent.understanding.open_items import named_records

    kinds = [kind for kind, record in (("suggestions", "suggestion"), ("alerts", "alert"))
             if named_records(t.ctx, t.question, record)]
    if len(kinds) != 1:
        return {}
    return {intent: factor * 2 if factor > 1 else factor for intent, factor in _decision_of(kinds[0], t.question).items()}


def _decision_of(kind: str | None, question: str) -> dict[str, float]:
    """Adopting or dismissing (by the verb) a record of ``kind``; nothing for another kind."""
    if kind not in DECISION_INTENTS:
        return {}
    adopt, dismiss = DECISION_INTENTS[kind]
    # a decision verb is no question about the customer's lead ("上海卓越口腔那条 采纳" after the suggestions)
    return ({dismiss: 3.0} if DISMISS_VERB.search(question) else {adopt: 3.0}) | {"lead_status": 0.5, "journey": 0.5}


def _kind_with_id(t: Turn, number: int) -> str | None:
    from crm.models import AISuggestion, Alert

    suggestion = t.ctx.session.get(AISuggestion, number)
    alert = t.ctx.session.get(Alert, number)
    mine_s = suggestion is not None and suggestion.user_id == t.ctx.user.id
    mine_a = alert is not None and alert.owner_id == t.ctx.user.id
    if mine_s != mine_a:
        return "suggestions" if mine_s else "alerts"
    return None


FIGURE_CUE = re.compile(r"率|多少|几个|几条|平均|均值|占比|比例|趋势|走势|各|按|排名|最高|最低|对比|环比|同比|数量|总|"
                        r"(?<![a-z])(rate|ratio|share|average|avg|mean|how many|how much|by|per|trend|top|bottom|highest|lowest|"
                        r"vs|compared?|total|count|number|value|percent|%)(?![a-z])", re.I)


def _bare_metric_word(question: str) -> bool:
    """The metric is named by one short word only, and nothing in the question asks for a figure."""
    link = _link(question)
    phrase = (getattr(link, "phrase", "") or "").strip()
    if link.how != "synonym" or not phrase or FIGURE_CUE.search(question):
        return False
    return (" " not in phrase and phrase.isascii() and len(phrase) <= 10) or (not phrase.isascii() and len(phrase) <= 2)


def _names_a_scenario(t: Turn) -> bool:
    from agent.planners import practice_request

    return bool(practice_request(t.question, t.ctx))


def _account_lead(ctx: ToolContext, account_id: int) -> int | None:
    """The asker's newest visible lead on the account in focus (after a call with that customer)."""
    from core.errors import RepcopilotError
    from crm.access import visible_leads
    from crm.models import Lead

    try:
        stmt = visible_leads(ctx.session, ctx.user).where(Lead.account_id == account_id)
        return ctx.session.scalar(stmt.with_only_columns(Lead.id).order_by(Lead.created_at.desc(), Lead.id.desc()).limit(1))
    except RepcopilotError:  # a trainer sees no leads: nothing in focus
        return None


def _links_a_metric(question: str) -> bool:
    """A registry metric named in other words ("my why question share", "多久能开单"): the KPI
    layer's own linker, by synonyms and by e5 over each metric's labels and definition."""
    link = _link(question)
    return link.metric is not None and link.how in ("synonym", "embedding")


@lru_cache(maxsize=1024)
def _link(question: str):
    """The KPI layer's reading of the question's metric words (once per question)."""
    from tools.kpi import link_metric, load_registry

    return link_metric(question, load_registry())


def _says_an_undefined_metric(question: str) -> bool:
    """The question says, word for word, a KPI the registry lists as undefined ("NPS", "客户满意度", "毛利率")."""
    from tools.kpi.linker import UNDEFINED, examples

    low = question.lower()
    return any(len(term) >= 3 and re.search(rf"(?<![a-z]){re.escape(term.lower())}(?![a-z])", low)
               for term in examples()[UNDEFINED])


def _names_undefined_metric(question: str) -> bool:
    """"NPS", "毛利率", "gross margin": a KPI the registry does not define — the KPI tool says so
    and names the closest defined ones (a "can't answer" list would not)."""
    from tools.kpi.linker import UNDEFINED

    scores = dict(_link(question).scores)
    undefined = scores.pop(UNDEFINED, 0.0)
    # close to an undefined KPI, and clearly closer to it than to any metric
    return bool(scores) and undefined >= 0.9 and undefined - max(scores.values()) >= 0.04


FOLLOW_UP = re.compile(r"^(那|他|她|它|这个|这家|该|and\b|what about|how about|his\b|her\b|its\b|their\b|that\b)", re.I)
ORG_NAME = re.compile(r"[\u4e00-\u9fff]{2,}(医院|公司|中心|口腔|集团|委员会|齿科|科技|制造|电子|股份|机械|汽车|能源)")


#: capitalised words that start or frame a sentence rather than name something
NOT_NAMES = {"what", "whats", "how", "hows", "who", "whos", "why", "which", "when", "where", "show", "tell", "pull", "give", "get",
             "can", "could", "would", "should", "is", "are", "was", "do", "does", "did", "any", "my", "the", "i", "please", "pls",
             "list", "let", "lets", "hey", "hi", "ok", "okay", "and", "so", "now", "also", "find", "check", "open", "need", "want",
             "debrief", "approve", "adopt", "dismiss", "ignore", "assign", "start", "end", "stop", "help", "thanks", "yes", "no"}


def names_something(question: str) -> bool:
    """Does the question carry a name or an id of its own (rather than 'he', 'this account')?"""
    if re.search(r"\d{2,}", question) or ORG_NAME.search(question):
        return True
    # a capitalised word, also right next to Chinese ("接Helios苏州那条": no \b between 接 and H)
    return any(w.lower() not in NOT_NAMES for w in re.findall(r"(?<![A-Za-z])[A-Z][a-z]+(?![a-z])", question))


# -- leads ---------------------------------------------------------------------------------------

ALL_REPS = re.compile(r"(所有|全部|每个|每位|全体)(的)?(销售|人|同事|rep)|所有人|全员|大家的|\b(all|every|each)\s+(the\s+)?reps?\b|"
                      r"\beveryone'?s?\b|\b(all|every)\s+(the\s+)?(open\s+)?leads?\b|(所有|全部)(的)?(进行中的|在跟的|未成交的)?线索|"
                      r"(华东|华南|华北|西部)(区|地区|大区)?(的)?(所有|全部)?(的)?线索|"
                      r"(华东|华南|华北|西部)(区|地区|大区)?(的)?(所有|全部)(的)?(数据|客户|资料)|(全部|所有)(的)?(数据|资料)|"
                      r"\bleads?\s+(in|of|from)\s+(the\s+)?(east|south|north|west)(\s+china)?\b|"
                      r"\bleads?\s+(for|in|of|from|across)\s+(all|every|each)\s+(the\s+)?regions?\b|"
                      r"(全|所有|各个?|每个)(区域|大区|地区|区)(的)?(所有|全部)?(的)?线索|全公司(的)?(所有|全部)?线索", re.I)

EVERY_REGION = re.compile(r"(全部|所有|各个?|每个)(区域|大区|地区)|全国|全公司|(?<![a-z])(all|every|each) (the )?regions?(?![a-z])|"
                          r"(?<![a-z])(company[- ]wide|nationwide|whole company)(?![a-z])", re.I)


def named_region(t: Turn) -> str | None:
    """The one region a question names, in the KPI parser's words for the regions ("all" for every region),
    or None (none, or several): "华南全部线索", "leads in West China"."""
    from tools.kpi.parser import region_words, regions_said

    if EVERY_REGION.search(t.question):
        return "all"
    found = regions_said(t.question, region_words(t.ctx.session))
    return found[0] if len(found) == 1 else None


def lead_owner(t: Turn) -> str | None:
    """Whose leads: another rep the question names ("李娜的线索", "leads of David Chen") or every rep's
    ("所有销售的线索"); the tool refuses when the asker may not see them."""
    others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
    if others:
        return others[0].login
    if PRONOUN.search(t.question) and t.focus.get("rep") and t.focus["rep"] != t.ctx.user.login:
        return t.focus["rep"]  # "her top leads by intent?" right after her gaps
    return "all" if ALL_REPS.search(t.question) else None


def lead_status(t: Turn) -> Built:
    item = t.item("lead")
    owner = lead_owner(t)
    if owner and not t.lead_ref and not item:
        region = named_region(t) if owner == "all" else None  # "华南全部线索": that region's, or the refusal
        return "lead_lookup", {"query": t.question, "owner": owner, "list": not t.names_visible_lead,
                               **({"region": region} if region else {})}
    if t.lead_ref:  # the tool resolves the id itself (and says when there is no such lead)
        return "lead_lookup", {"query": t.question if "lead" in t.slots.ids else t.lead_ref}
    if item:
        return "lead_lookup", {"query": t.question, "lead_id": item["id"]}
    if _on_the_lead_in_focus(t):
        return "lead_lookup", {"query": t.question, "lead_id": t.focus_lead}
    if not t.names_something and not _has_cjk_name(t.question) and not t.names_visible_lead:
        return "lead_lookup", {"query": t.question, "list": True}
    return "lead_lookup", {"query": t.question}


def _on_the_lead_in_focus(t: Turn) -> bool:
    """A follow-up, or a question naming nothing, about the lead the conversation is on — unless it names another
    customer ("沈阳明辉贸易 lead - intent now?" while the conversation is on 大连恒立)."""
    from crm.models import Account, Lead

    if not (t.follow_up or not t.names_something) or not t.focus_lead:
        return False
    if t.named_lead is None or t.named_lead.lead_id == t.focus_lead:
        return True
        return False
    focused = t.ctx.session.scalar(select(Account.name).join(Lead, Lead.account_id == Account.id).where(Lead.id == t.focus_lead))
    return focused == t.named_lead.account


def lead_list(t: Turn) -> Built:
    if t.lead_ref or t.item("lead") or (t.names_something and t.names_visible_lead):
        return lead_status(t)  # "线索1954怎么样", "how is the Vantage Analytics lead?": one lead, not the list
    owner = lead_owner(t)
    region = named_region(t) if owner == "all" or UNASSIGNED.search(t.question) else None
    if region is None and owner is None and (region := _region_of_a_named_managers_team(t)) is not None:
        owner = "all"  # "list Zhao Min's team's open leads above 90": that region's, refused outside the asker's
    return "lead_lookup", {"query": t.question, "list": True, **({"owner": owner} if owner else {}),
                           **({"region": region} if region else {}), **_list_filter(t)}


NEW_LEADS = re.compile(r"新来的|新进的?|新分的?|新线索|新增|刚来的|(?<![a-z])(new leads?|came in|fresh leads?|newly)(?![a-z])", re.I)
UNFOLLOWED = re.compile(r"(还)?没(有)?跟(进)?|未跟进|没联系|没打过|(?<![a-z])(not (yet )?(contacted|followed up|called)|"
                        r"haven'?t (contacted|followed up|called|touched)|untouched|no follow.?up)(?![a-z])", re.I)


LEADS_WORD = re.compile(r"线索|单子|(?<![a-z])leads(?![a-z])", re.I)
UNASSIGNED = re.compile(r"(还)?没(有)?(分配|分出去|分给人|人接|人跟|负责人)|未分配|无人认领|没人认领|"
                        r"(?<![a-z])(unassigned|no owner|nobody owns|not (yet )?assigned)(?![a-z])", re.I)


def _list_filter(t: Turn) -> dict[str, Any]:
    """"这周新来的线索 有哪些我还没跟的": the list's filters — created since the period's start (a new-leads
    question without a period: the last 7 days), nobody has followed up yet."""
    from datetime import timedelta

    from tools.kpi.parser import parse_period

    out: dict[str, Any] = {}
    if NEW_LEADS.search(t.question):
        today = t.ctx.now().date()
        period, _ = parse_period(t.question, today)
        out["since"] = (period.start if period is not None else today - timedelta(days=7)).isoformat()
    if UNFOLLOWED.search(t.question):
        out["unfollowed"] = True
    if UNASSIGNED.search(t.question):
        out["unassigned"] = True
    return out


def journey(t: Turn) -> Built:
    args: dict[str, Any] = {"query": t.question}
    item = t.item("lead")
    if (item or t.names_something) and _a_hidden_customer_named(t):
        return "journey_timeline", args  # "杭州那边也有个卓越新能源 拉下时间线": asked by name — refused, never the one in focus
    if t.lead_ref:
        args["query"] = f"{t.lead_ref} {t.question}"  # the tool resolves "lead 638" itself; the period words stay
    elif item:
        args["lead_id"] = item["id"]
    elif t.follow_up or not t.names_something:
        leads = [i for i in t.items if i["kind"] == "lead"]
        if t.focus.get("lead_id"):
            args["lead_id"] = t.focus["lead_id"]
        elif t.focus.get("account_id"):
            args["account_id"] = t.focus["account_id"]
        elif leads and references.DEICTIC.search(t.question):
            args["lead_id"] = leads[0]["id"]  # "这家" after a list of one account's leads: the journey is the account's
        elif t.focus_lead:
            args["lead_id"] = t.focus_lead  # "这家旅程" right after the one alert (suggestion, decision) shown: its lead's account
    return "journey_timeline", args


def _a_hidden_customer_named(t: Turn) -> bool:
    """"杭州那边也有个卓越新能源 一起拉下时间线": a customer of someone else's — asked by name (the tool refuses it), never
    answered with the one in focus."""
    from agent.tools.base import a_hidden_account_fits_better, names_a_hidden_customer

    if t.named_lead is not None:  # "杭州那边也有个卓越新能源" while on 石家庄卓越新能源: the Hangzhou one, not this one
        return a_hidden_account_fits_better(t.ctx, t.question, [t.named_lead])
    return (_has_cjk_name(t.question) or t.names_something) and names_a_hidden_customer(t.ctx, t.question)


def _has_cjk_name(question: str) -> bool:
    """Chinese words left once the common question words are taken out: probably a name."""
    rest = re.sub(r"线索|客户|这家|这个|那个|怎么样|咋样|如何|情况|进展|意向|评分|分数|下一步|跟进|怎么|什么|现在|目前|最近|"
                  r"我的|帮我|看看|查查|查一下|一下|还有戏|有戏|吗|呢|了|的|吧|啊|呀|是|有|没有|能不能|成|准备|买|多少|状态|"
                  r"该|要|做|啥|咋|整|这条|那条|这单|那单|单子|最|热|高|哪些|哪个|先|打|给|谁", "", question)
    return bool(re.search(r"[\u4e00-\u9fff]{2,}", rest))


# -- knowledge, calls ------------------------------------------------------------------------------

def knowledge(t: Turn) -> Built:
    return "knowledge_search", {"query": t.question}


def call_debrief(t: Turn) -> Built:
    call_id = t.slots.ids.get("call")
    others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
    if call_id is None and not others:  # "and Emily's last one?" is hers, not the call just shown
        item = t.item("call")
        call_id = item["id"] if item else None
    if call_id is not None:
        return "call_debrief", {"call_id": call_id}
    args = _whose_call(t)
    if args.get("rep") == "all":
        return "call_debrief", args
    if not args and (region := _region_of_a_named_managers_team(t) or named_region(t)) is not None:
        return "call_debrief", {"region": region}  # "把赵敏组每个人的通话复盘发我": that team's calls, refused outside the asker's
    if _names_the_customer(t):
        args["account_id"] = _lead_account(t.ctx, t.named_lead.lead_id)  # "贵阳中医院那通电话": the latest call with that customer
    elif THIS_CUSTOMER.search(t.question) and not t.names_something and (account := _account_in_focus(t)) is not None:
        args["account_id"] = account  # "这家最近那通电话复盘下": the latest call with the customer the conversation is on
    return "call_debrief", args


THIS_CUSTOMER = re.compile(r"这家|那家|这个客户|他们家|(?<![a-z])(this (account|customer|client)|them)(?![a-z])", re.I)


def _account_in_focus(t: Turn) -> int | None:
    if t.focus.get("account_id"):
        return int(t.focus["account_id"])
    return _lead_account(t.ctx, t.focus_lead) if t.focus_lead else None


def _whose_call(t: Turn) -> dict[str, Any]:
    """The rep whose latest call is asked for: named, "her" right after her gaps ("拿她最近一通电话复盘看看"), or — a
    rep asking for every colleague's ("把西部组所有人的通话录音发我") — all of them, which the tool refuses."""
    if not t.slots.reps and t.ctx.user.role == Role.REP and ALL_REPS.search(t.question):
        return {"rep": "all"}
    if t.slots.reps:
        return {"rep": t.slots.reps[0].login}
    if PRONOUN.search(t.question) and t.focus.get("rep") and t.focus["rep"] != t.ctx.user.login:
        return {"rep": t.focus["rep"]}
    return {}


def _names_the_customer(t: Turn) -> bool:
    """A customer named by its account ("我跟佛山中科最近那通电话"), or by a name the question clearly says — not a contact."""
    from tools.leads.find import close_to_best, find_leads, names_its_account

    match = t.named_lead
    if match is None or match.matched_on == "contact":
        return False
    if len({m.account for m in close_to_best(find_leads(ctx=t.ctx, query=t.question, limit=5))}) > 1:
        return False  # "the latest Guiyang … call": two Guiyang customers fit as well — none is named
    return names_its_account(t.question, match.account) and (match.matched_on == "account" or t.names_something)


#: the records an answer lists that belong to one lead
RECORD_MODELS = {"alert": "Alert", "suggestion": "AISuggestion", "decision": "RoutingDecision"}


def record_lead(ctx: ToolContext, item: dict[str, Any]) -> int | None:
    """The lead of an alert, suggestion or routing decision shown in the previous answer."""
    import crm.models as models

    record = ctx.session.get(getattr(models, RECORD_MODELS[item["kind"]]), item["id"])
    return getattr(record, "lead_id", None) if record is not None else None


def _lead_account(ctx: ToolContext, lead_id: int) -> int | None:
    from crm.models import Lead

    lead = ctx.session.get(Lead, lead_id)
    return lead.account_id if lead is not None else None


# -- coaching ----------------------------------------------------------------------------------------

# not "my team"; "我需求挖掘这块 跟组里比咋样" is the rep's own profile
MINE = re.compile(r"我的(?!团队|组)|我自己|^我(?!们|的团队|的组).{0,8}(跟|和|与|比)|我在(组里|团队里?|组内)|"
                  r"(?<![a-z])(my|mine|me)(?![a-z])(?!\s+team)|(?<![a-z])(where do i stand|how do i compare)(?![a-z])", re.I)


WEAKEST = re.compile(r"最(弱|差|不行|菜|欠缺|低)|倒数|垫底|最需要(帮助|提升|辅导)|"
                     r"(?<![a-z])(weakest|worst|bottom|lowest|needs? the most (help|work|coaching))(?![a-z])", re.I)


#: what a drill is, asked: "是练什么的", "怎么练", "what is the … drill"
DRILL_ABOUT = re.compile(r"练什么|练啥|是什么|是啥|怎么练|怎么做|干嘛的|做什么的|啥意思|什么意思|讲讲|介绍|"
                         r"(?<![a-z])(what is|what's|how do i do|about|explain|tell me)(?![a-z])", re.I)


def drill_said(t: Turn) -> str | None:
    """The catalogue drill whose title the question says word for word, asked what it is."""
    from crm.models import Drill

    if not DRILL_ABOUT.search(t.question):
        return None
    low = t.question.lower()
    found = [d.code for d in t.ctx.session.scalars(select(Drill).order_by(Drill.id))
             if d.title_zh in t.question or d.title_en.lower() in low or d.code in low]
    return found[0] if len(found) == 1 else None


MANAGERS_TEAM = re.compile(r"^\s*(组|团队|队|那组|的组|的团队|'s team|'s reps|team)", re.I)


def _region_of_a_named_managers_team(t: Turn) -> str | None:
    """"陈静组里谁最强", "Zhao Min's team": the region of the team the named manager leads."""
    from crm.models import Region, Team, User

    low = t.question.lower()
    for m in t.ctx.session.scalars(select(User).where(User.role == Role.MANAGER, User.team_id.is_not(None))):
        english = (m.name_en or "").lower().split()
        names = [n for n in (m.name, " ".join(english), " ".join(reversed(english))) if n]
        ends = [low.find(n.lower()) + len(n) for n in names if n.lower() in low]
        if any(MANAGERS_TEAM.match(low[end:]) for end in ends):
            team = t.ctx.session.get(Team, m.team_id)
            region = t.ctx.session.get(Region, team.region_id) if team else None
            return region.code if region else None
    return None


def named_dimension(question: str) -> str | None:
    """The capability dimension a question names by its label ("异议处理", "objection handling")."""
    from tools.capability import load_scenarios

    low = question.lower()
    found = [dim for dim, entry in load_scenarios()[0].items()
             if entry.get("label_zh", "\0") in question or entry.get("label_en", "\0").lower() in low]
    return found[0] if len(found) == 1 else None


def _coaching(tool: str, team_default: bool) -> Callable[[Turn], Built]:
    def build(t: Turn) -> Built:
        from agent.planners import coaching_args

        args = coaching_args(t.question, t.ctx, t.focus)
        if args.get("team") and t.ctx.role == Role.REP and MINE.search(t.question):
            args = {}  # "my skill profile vs the team?": a rep's own profile, which compares with the team
        if not args and team_default and t.ctx.role != Role.REP:
            args = {"team": True}
        region = (named_region(t) or _region_of_a_named_managers_team(t)) if args.get("team") else None
        if region and region != "all":
            args["region"] = region  # "华北所有人的能力画像", "what should the east china team practise"
        if tool == "coaching_drills" and (drill := drill_said(t)) is not None:
            return tool, {"drill": drill}  # "招标政策解读那个drill是练什么的": that drill, explained
        if tool == "capability_gaps" and args.get("team") and (WEAKEST.search(t.question) or WHO_RANKED.search(t.question)) \
                and (dim := named_dimension(t.question)):
            args["dimension"] = dim  # "谁的异议处理最弱": the team by that dimension
        return tool, args
    return build


# -- practice ---------------------------------------------------------------------------------------

#: practice results asked for: "林雨桐上次陪练的报告", "邓敏上次陪练得了多少分", "my practice scores"
PRACTICE_REPORT_CUE = re.compile(r"(陪练|练习|模拟|对练|演练).{0,6}(报告|成绩|得分|分数|打分|多少分|几分|结果)|"
                                 r"(陪练|练习|模拟|对练|演练|作业).{0,4}(做完|完成|做了|练完)(了)?(没|吗|没有|了吗)|练过(没|吗|没有|了吗)|"
                                 r"(?<![a-z])(practi[sc]e|role-?play)( session)?s? (report|results?|scores?)(?![a-z])", re.I)


#: the team's practice asked about: "who has the best practice scores this week", "哪些人这个月还没练过"
TEAM_PRACTICE = re.compile(r"(谁|哪些人|哪几个|哪个销售|大家|团队|组里|每个人).{0,12}(练习|陪练|演练|对练|模拟)(的)?"
                           r"(成绩|分数|得分|打分|结果|报告)|"
                           r"(谁|哪些人|哪几个|哪个销售|大家|团队|组里|每个人).{0,8}(没|没有|还没)(人)?(练|做)(过)?(练习|陪练)?|"
                           r"(谁|哪些人|哪几个).{0,6}练过|"
                           r"(?<![a-z])(who|which reps?|whose|everyone|team'?s?)\b.{0,30}practi[sc]e (scores?|results?|sessions?)|"
                           r"(?<![a-z])practi[sc]e (scores?|results?) (for|of) (the |my )?(\w+ )?(team|reps|everyone)(?![a-z])|"
                           r"(大家|团队|组里|每个人|所有人).{0,4}(练习|陪练)(的)?(情况|进度|完成情况)|"
                           r"(haven'?t|hasn'?t|not|never) (yet )?practi[sc]ed", re.I)


def _team_practice_period(question: str) -> str:
    if re.search(r"这周|本周|这个?星期|(?<![a-z])this week(?![a-z])", question, re.I):
        return "team:week"
    if re.search(r"这个?月|本月|(?<![a-z])this month(?![a-z])", question, re.I):
        return "team:month"
    return "team"


#: what a question about the team's practice asks: who has not, who did best, how it is going
TEAM_PRACTICE_ASKED = re.compile(r"没|not|never|who|谁|哪些|情况|进度|咋样|怎么样|how", re.I)


def practice_start(t: Turn) -> Built:
    from tools.practice.scenario import scenario_phrase

    if t.ctx.user.role != Role.REP and TEAM_PRACTICE.search(t.question) and not t.slots.reps \
            and (PRACTICE_REPORT_CUE.search(t.question) or TEAM_PRACTICE_ASKED.search(t.question)):
        return "practice", {"report_of": _team_practice_period(t.question)}  # the team's practice, not one rep's
    if PRACTICE_REPORT_CUE.search(t.question):  # results, not a new session
        return "practice", {"report_of": t.slots.reps[0].login if t.slots.reps else t.ctx.user.login}
    for_another = any(u.id != t.ctx.user.id for u in t.slots.reps) and t.ctx.user.role != Role.REP
    if for_another and re.search(r"给|让|帮|替|for|assign", t.question, re.I):
        return practice_assign(t)  # "给杨勇开个练习 场景就…": the rep's practice, assigned — not the asker's own session
    phrase = scenario_phrase(t.question)
    return "practice", ({"scenario": phrase} if phrase else {})


ASSIGN_WORDS = re.compile(
    r"(这|本|下)?(个)?(周|星期)[一二三四五六日天]|给|安排|布置|指派|分配|让|他|她|做完|完成|之前|以前|截止|这周|本周|下周|这个?星期|下个?星期|周[一二三四五六日天]|星期[一二三四五六日天]|月底|"
    r"\d+\s*[次遍回]|[一二两三四五六七八九十]\s*[次遍回]|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}[日号]?|\d{1,2}/\d{1,2}|(\d+|[一二两三四])\s*(天|周|个?星期)(内|之内|以内)?|一个|一下|个|的|吧|哈|前|"
    r"\b(assign(ed)?|give|have|get|make|schedule|to|the|a|an|by|before|due|this|next|week|end|of|on|him|her|them|please|pls|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|"
    r"once|twice|thrice|\d+\s*(x|times)|x\s*\d+|do|does|finish|complete|sessions?|drills?|in\s+(\d+|one|two|three)\s+(days?|weeks?)|"
    r"within\s+(\d+|one|two|three)\s+(days?|weeks?))\b", re.I)


def practice_assign(t: Turn) -> Built:
    """A manager's or trainer's assignment: which drill or scenario, to whom, by when, how often."""
    assign_to = _assigned_rep(t)
    if assign_to is None and t.ctx.user.role != Role.REP and re.search(r"给(他|她)|(?<![a-z])(him|her)(?![a-z])", t.question, re.I):
        # "给他布置个价格异议的练习" with no one in focus: ask whom — never a session started for the asker instead
        return t.ctx.t("要布置给哪位销售?例如“给胡明安排政府招标的模拟练习,这周做完”。",
                       "Assign it to whom? E.g. “assign Ming Hu the government tender practice, due this week”.")
    args: dict[str, Any] = {"scenario": _assigned_drill(t, assign_to), "assign_to": assign_to}
    if t.slots.due:
        args["due"] = t.slots.due.isoformat()
    if t.slots.times:
        args["times"] = t.slots.times
    return "practice", args


def _assigned_drill(t: Turn, assign_to: str | None) -> str:
    """The drill or scenario assigned: one of the drills just suggested ("就给他布置第一个"), a drill's title said word
    for word ("给孙涛 唐秀英 冯博三个新人都派开放式提问"), the drill for the rep's biggest gap ("给他派个对应的drill"),
    else the question's words for a scenario."""
    from tools.practice.scenario import scenario_phrase

    phrase = re.sub(r"\s+", " ", scenario_phrase(ASSIGN_WORDS.sub(" ", _without_names(t)))).strip()
    listed = t.focus.get("drills") or []
    if t.slots.ordinal is not None and 1 <= t.slots.ordinal <= len(listed):
        return listed[t.slots.ordinal - 1]
    title = _drill_title_said(t)
    if title is not None:
        return title
    if MATCHING.search(t.question):
        return _top_gap_drill(t, assign_to) or phrase
    return phrase


def _assigned_rep(t: Turn) -> str | None:
    """To whom: the reps named ("给林雨桐和朱艳都布置…": each), "她" right after that rep, or "the first one" right after a
    ranking of reps."""
    if t.slots.reps:
        return ",".join(u.login for u in t.slots.reps)
    in_focus = t.focus.get("rep") or (t.focus.get("assigned") or {}).get("rep")  # "再给他…" right after his assignment
    if PRONOUN.search(t.question) and in_focus:
        return in_focus
    ranked = [] if t.focus.get("drills") else t.focus.get("ranked_reps") or []
    if t.slots.ordinal is not None and 1 <= t.slots.ordinal <= len(ranked):
        return ranked[t.slots.ordinal - 1]
    # "那给他安排个对应的练习" right after who needs coaching most: the one at the top
    return ranked[0] if PRONOUN.search(t.question) and ranked else None


def _top_gap_drill(t: Turn, rep: str | None) -> str | None:
    """The title of the first drill suggested this week for the rep's gaps (one rep, one the asker may see)."""
    from core.errors import RepcopilotError
    from tools.drills import list_drills

    if not rep or "," in rep:
        return None
    try:
        tasks = list_drills(ctx=t.ctx, rep_login=rep, with_links=False).tasks
    except RepcopilotError:
        return None  # the tool then says what is wrong with the rep
    return tasks[0]["title"] if tasks else None


PRONOUN = re.compile(r"他|她|(?<![a-z])(him|her|them)(?![a-z])", re.I)


#: the drill that fits the rep, not one named: "对应的练习", "a matching drill", "适合他的"
MATCHING = re.compile(r"对应的|相应的|匹配的|适合(他|她)?的|(?<![a-z])(matching|suitable|fitting|right) (drill|practice|exercise)", re.I)


def _drill_title_said(t: Turn) -> str | None:
    """The one catalogue drill whose title the question says word for word ("开放式提问", "'no budget this year'")."""
    from crm.models import Drill

    low = t.question.lower()
    found = [d.title_zh if d.title_zh in t.question else d.title_en for d in t.ctx.session.scalars(select(Drill).order_by(Drill.id))
             if d.title_zh in t.question or d.title_en.lower().strip("'\"“”‘’") in low]
    return found[0] if len(found) == 1 else None


def _without_names(t: Turn) -> str:
    text = t.question
    for u in t.slots.reps:
        for key in (u.name, u.login, *(u.name.split() if u.name.isascii() else [])):
            text = re.sub(re.escape(key), " ", text, flags=re.I)
    return text


def practice_end(t: Turn) -> Built:
    session_id = t.focus.get("practice_session_id")
    if session_id and "practice_turn" in t.tools:
        return "practice_turn", {"session_id": session_id, "end": True}
    return t.ctx.t("这个对话里没有进行中的练习。说“开始练习 医院采购价格异议”开始一个。",
                   "There is no practice session open in this chat. Say “start practice hospital price objection” to begin one.")


# -- suggestions, alerts, review queue -------------------------------------------------------------

def suggestions_list(t: Turn) -> Built:
    others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
    return "suggestions", {"action": "list", **({"owner": others[0].login} if others else {})}


OTHER_KIND = {"suggestion": ("alerts", "alert", "alert_id"), "alert": ("suggestions", "suggestion", "suggestion_id")}


def _decide(tool: str, kind: str, action: str, id_arg: str, example_zh: str, example_en: str) -> Callable[[Turn], Built]:
    def build(t: Turn) -> Built:
        if kind == "decision" and t.ctx.user.role in (Role.REP, Role.TRAINER):
            return tool, {"action": "list"}  # no queue to act on: the tool's refusal says whose it is
        if kind == "decision" and t.ctx.user.role == Role.MANAGER and (region := _other_region_named(t)) is not None:
            return tool, {"action": "list", "region": region}  # "approve the Xiamen item in the south queue": refused, whose it is
        if kind == "decision" and EVERYTHING.search(t.question) and t.id_of(kind) is None:
            return tool, {"action": "list"}  # "approve everything pending": one by one — the queue, to decide each
        found = t.id_of(kind)
        others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
        if found is None and kind == "alert" and others:
            return "alerts", {"action": "list", "owner": others[0].login}  # "李娜那条提醒为啥触发": her alerts, if the asker may see them
        if found is None and kind in OTHER_KIND and action in ("adopt", "dismiss"):
            # "采纳第一条" after a list of alerts adopts that alert (and after suggestions, that suggestion)
            other_tool, other_kind, other_arg = OTHER_KIND[kind]
            item = t.item(other_kind)
            if item is not None:
                return other_tool, {"action": action, other_arg: item["id"]}
        if found is None and t.focus.get(id_arg) and not t.names_something and t.named_lead is None \
                and (t.follow_up or references.DEICTIC.search(t.question) or t.focus.get("only") == id_arg):
            found = t.focus[id_arg]  # "这条忽略" right after that alert
        if found is None:
            found = _named_record(t, kind, example_zh.rsplit(" ", 1)[0], example_en.rsplit(" ", 1)[0])
            if isinstance(found, str) and kind in LISTS and (SEVERAL.search(t.question) or WHAT_IS.search(t.question)):
                # "天津博远精密俩提醒 是不是重复了": both of them, listed
                return tool, {"action": "list", **({"customer": t.question} if kind == "alert" else {})}
            if isinstance(found, str):
                return found
        if found is None and kind == "decision" and (lead := _lead_of_a_decision(t)) is not None:
            return tool, {"action": action, "lead_id": lead}  # "线索120的分配我同意": that lead's waiting decision
        if found is None:
            found = _record_in_focus(t, kind)  # "这个提醒我跟进了 标记处理" after that customer's journey
        if found is None and kind == "decision" and t.focus_lead and not t.names_something:
            return tool, {"action": action, "lead_id": t.focus_lead}  # "就按推荐的批了吧" after who should take it
        if found is None:
            return _none_of_the_askers(t, tool, kind, action) or t.ctx.t(f"是哪一条?请给出编号,例如“{example_zh}”。",
                                                                         f"Which one? Give its id, e.g. “{example_en}”.")
        if kind == "decision" and _outside_the_region_named(t, found):
            return t.ctx.t(f"是哪一条?请给出编号,例如“{example_zh}”。", f"Which one? Give its id, e.g. “{example_en}”.")
        if kind == "decision" and (lead := _lead_not_decision(t, found)) is not None:
            return tool, {"action": action, "lead_id": lead}
        return tool, {"action": action, id_arg: found}
    return build


def _outside_the_region_named(t: Turn, decision_id: int) -> bool:
    """"华北那两条里排前面的那个 我直接批了": a decision picked by its place that is not of the region the question names."""
    from crm.models import Account, Lead, Region, RoutingDecision

    region = named_region(t)
    if region in (None, "all"):
        return False
    code = t.ctx.session.scalar(select(Region.code).join(Account, Account.region_id == Region.id).join(Lead, Lead.account_id == Account.id)
                                .join(RoutingDecision, RoutingDecision.lead_id == Lead.id).where(RoutingDecision.id == decision_id))
    return code is not None and code != region


def _none_of_the_askers(t: Turn, tool: str, kind: str, action: str) -> Built:
    """No open record of the asker's is meant, but the question names a customer: an alert's are that customer's alerts
    (refused when it is not the asker's — "天津博远精密那俩预警咋回事" from another region); a decision on a customer the
    asker may not see goes to the queue with that lead, which refuses it ("石家庄卓越新能源那个分配 我来批了")."""
    from agent.tools.base import names_a_hidden_customer
    from tools.leads import find_hidden_leads

    if kind == "alert" and t.ctx.user.role == Role.TRAINER:
        return "alerts", {"action": "list"}  # a trainer has no alerts: the tool says so
    if kind not in ("alert", "decision") or t.named_lead is not None or not names_a_hidden_customer(t.ctx, t.question):
        return None  # no customer of someone else's named: "是哪一条?"
    if kind == "alert":
        return "alerts", {"action": "list", "customer": t.question}
    hidden = find_hidden_leads(ctx=t.ctx, query=t.question)  # the lead itself, which the queue refuses
    return (tool, {"action": action, "lead_id": hidden[0].lead_id}) if hidden else None


def _record_in_focus(t: Turn, kind: str) -> int | None:
    """The one open record of ``kind`` on the customer the conversation is on — its lead, or its account
    after a journey — when the question points at it ("这个提醒", "mark that alert as handled") and names
    no other customer."""
    from agent.understanding.open_items import open_records
    from crm.models import Lead

    if t.names_something or not (references.DEICTIC.search(t.question) or len(t.question.strip()) <= 20):
        return None
    leads = {t.focus_lead} if t.focus_lead else set()
    if t.focus.get("account_id"):
        leads |= set(t.ctx.session.scalars(select(Lead.id).where(Lead.account_id == int(t.focus["account_id"]))))
    found = [r.id for r in open_records(t.ctx, kind) if r.lead_id in leads] if leads else []
    return found[0] if len(found) == 1 else None


def _lead_of_a_decision(t: Turn) -> int | None:
    """The lead a review action names instead of a decision: by id ("1907那条分配驳回") or by a customer
    the asker may see ("鼎盛南京那条 通过"); the review tool then finds its waiting decision or says
    that none waits."""
    if "lead" in t.slots.ids:
        return t.slots.ids["lead"]
    number = _a_lead_number(t)
    if number is not None:
        return number
    return t.named_lead.lead_id if t.named_lead is not None else None


def _a_lead_number(t: Turn) -> int | None:
    """A bare number in the question that is a lead's id (not a year, not a typed id of something else)."""
    from crm.models import Lead

    if t.slots.ids:
        return None
    pointed = [int(n) for n in re.findall(r"(?<!\d)(\d{2,5})(?=那条|这条|那个|这个|号线索)", t.question)]  # "1999那条": not a year
    bare = pointed or t.lead_numbers
    return bare[0] if len(bare) == 1 and t.ctx.session.get(Lead, bare[0]) is not None else None


def _lead_not_decision(t: Turn, number: int) -> int | None:
    """A bare number that is no decision at all but a lead ("702那个 通过"): that lead."""
    from crm.models import Lead, RoutingDecision

    if "decision" in t.slots.ids or t.ctx.session.get(RoutingDecision, number) is not None:
        return None
    return number if t.ctx.session.get(Lead, number) is not None else None


def _named_record(t: Turn, kind: str, verb_zh: str, verb_en: str) -> int | str | None:
    """The one open record of ``kind`` whose customer the question names; the choices when several fit."""
    from agent.understanding.open_items import named_records

    found = named_records(t.ctx, t.question, kind)
    if len(found) == 1:
        return found[0].id
    if not found:
        return None
    lines = [f"- {verb_zh} {r.id}:{r.text}" if t.ctx.language == "zh" else f"- {verb_en} {r.id}: {r.text}" for r in found[:5]]
    customer = found[0].customer or ""
    return t.ctx.t(f"{customer}有几条,请说是哪一条:\n", f"{customer} has several — which one?\n") + "\n".join(lines)


def alerts_list(t: Turn) -> Built:
    escalated = re.search(r"升级|escalat", t.question, re.I)
    others = [u for u in t.slots.reps if u.id != t.ctx.user.id]
    # "杭州卫健委有啥提醒": that customer's alerts (refused when it is not the asker's to see)
    owner = others[0].login if others else ("all" if EVERYONES.search(t.question) else None)
    named = not owner and (t.names_visible_lead or t.names_something or _has_cjk_name(ALERT_WORD.sub(" ", t.question)))
    return "alerts", {"action": "list", **({"status": "escalated"} if escalated else {}), **({"owner": owner} if owner else {}),
                      **({"customer": t.question} if named else {})}


#: everyone's records, not the asker's: "全组的预警", "all the team's alerts"
EVERYONES = re.compile(r"全组|全团队|整个组|组里(所有|每个)?人?的|所有人的|大家的|"
                       r"(?<![a-z])(everyone'?s|the (whole )?team'?s|all (the )?reps'?)(?![a-z])", re.I)


def _as_decision(t: Turn, number: int | None) -> int | None:
    """A bare number that is no waiting decision's id but a waiting decision's lead ("702那条改派给梁晓东"):
    that decision."""
    from crm.models import RoutingDecision

    if number is None or "decision" in t.slots.ids:
        return number
    if t.ctx.session.get(RoutingDecision, number) is not None:
        return number
    waiting = t.ctx.session.scalars(select(RoutingDecision.id).where(RoutingDecision.lead_id == number,
                                                                     RoutingDecision.status == "pending_review")).all()
    return waiting[0] if len(waiting) == 1 else number


def review_list(t: Turn) -> Built:
    """The queue; the one waiting decision of the customer the question names ("队列里石家庄卓越新能源那条")."""
    from agent.understanding.open_items import named_records

    named = named_records(t.ctx, t.question, "decision") if t.names_visible_lead else []
    region = _other_region_named(t)
    return "review_queue", {"action": "list", **({"decision_id": named[0].id} if len(named) == 1 else {}),
                            **({"region": region} if region else {})}


def _other_region_named(t: Turn) -> str | None:
    """A region the question names that is not the asker's own ("华北的审核队列" from 华东's manager)."""
    from crm.models import Region, Team
    from tools.kpi.parser import region_words, regions_said

    own = t.ctx.session.get(Team, t.ctx.user.team_id).region_id if t.ctx.user.team_id else None
    if t.ctx.user.role == Role.MANAGER and EVERY_REGION.search(t.question):
        return "all"  # "company-wide", "全公司的待审批"
    own_code = t.ctx.session.get(Region, own).code if own else None
    other = next((code for code in regions_said(t.question, region_words(t.ctx.session)) if code != own_code), None)
    return other or _another_managers_region(t, own)


def _another_managers_region(t: Turn, own: int | None) -> str | None:
    """Another manager named ("the Helios item in chenjing's queue", "黄磊组"): the region of their team."""
    from crm.models import Region, Team, User

    low = t.question.lower()
    for m in t.ctx.session.scalars(select(User).where(User.role == Role.MANAGER, User.id != t.ctx.user.id)):
        said = m.name in t.question or re.search(rf"(?<![a-z]){re.escape(m.login)}(?![a-z])", low) \
            or m.name_en.lower() in low or " ".join(reversed(m.name_en.lower().split())) in low
        team = t.ctx.session.get(Team, m.team_id) if said and m.team_id else None
        if team is not None and team.region_id != own:
            return t.ctx.session.get(Region, team.region_id).code
    return None


def review_override(t: Turn) -> Built:
    if t.ctx.user.role == Role.MANAGER and (region := _other_region_named(t)) is not None:
        return "review_queue", {"action": "list", "region": region}  # another region's queue: refused, naming whose it is
    decision, rep = _decision_overridden(t), _override_target(t)
    if decision is None and t.names_something and not OVERRIDE_CUE.search(t.question):
        return None  # "大连恒立那条 要是换人跟 谁合适": nothing of it waits for review — who should take it
    if decision is None and OVERRIDE_CUE.search(t.question) and (lead := _lead_of_a_decision(t)) is not None:
        return "review_queue", {"action": "override", "lead_id": lead, "rep": rep}  # the tool says whether it waits
    lead = _lead_not_decision(t, decision) if decision is not None else None
    if lead is not None:
        return "review_queue", {"action": "override", "lead_id": lead, "rep": rep}  # "1859别按系统推荐的来了 改派谢军"
    return _override_in_focus(t, decision, rep)


def _override_in_focus(t: Turn, decision: int | None, rep: str | None) -> Built:
    """The override of ``decision`` — or, none named, of the decision or lead the conversation is on: "改派给郭霞"
    right after why that decision proposed Emily, "还是给梁晓东吧" after who should take the lead."""
    if decision is None and t.focus.get("decision_id") and not t.names_something:
        decision = int(t.focus["decision_id"])
    if decision is None and t.focus_lead and not t.names_something and rep:
        return "review_queue", {"action": "override", "lead_id": t.focus_lead, "rep": rep}
    if decision is None:
        return t.ctx.t("要改派哪一条分配?例如“把分配 12 改派给李娜”。", "Which decision? E.g. “override decision 12 to lina”.")
    return "review_queue", {"action": "override", "decision_id": decision, "rep": rep}


def _decision_overridden(t: Turn) -> int | None:
    """The waiting decision a change of rep is about: the one whose customer the question names
    ("青岛市中心医院那个…", not the item just shown), else its id or an item of the last answer — or,
    when that answer showed one waiting decision, that one ("不给韩子涵 给梁晓东吧")."""
    named = _waiting_decision_named(t) if "decision" not in t.slots.ids else None  # "鼎盛南京那条改给张伟": no suffix, still named
    decision = named or _as_decision(t, t.id_of("decision"))
    shown = [i["id"] for i in t.items if i["kind"] == "decision"]
    if decision is None and len(shown) == 1 and NOT_HIM_BUT.search(t.question):
        return shown[0]
    return decision


def _override_target(t: Turn) -> str | None:
    """The rep a proposal goes to: the last one named that is not turned away ("别给吴杰了 改给张伟" → 张伟)."""
    turned_away = {m.group(2) for m in re.finditer(TURNED_AWAY, t.question)}
    kept = [u for u in t.slots.reps if u.name not in turned_away] or list(t.slots.reps)
    return kept[-1].login if kept else None


def _waiting_decision_named(t: Turn) -> int | None:
    """The one waiting decision whose customer the question names (None for none or several)."""
    from agent.understanding.open_items import named_records

    waiting = named_records(t.ctx, t.question, "decision")
    return waiting[0].id if len(waiting) == 1 else None


# -- routing, successor, KPI ----------------------------------------------------------------------------

#: several records of one customer asked about together: their list, not a choice among them
SEVERAL = re.compile(r"两条|俩|几条|这些|都|(?<![a-z])(both|two|all|these)(?![a-z])", re.I)
LISTS = {"alert", "suggestion"}
#: what the records are, asked of a customer with several ("天津博远那条建议是啥"): shown, not a choice
WHAT_IS = re.compile(r"是啥|是什么|啥内容|什么内容|(?<![a-z])(what('s| is| are| was))(?![a-z])", re.I)
EVERYTHING = re.compile(r"全部|所有|都批|一起批|(?<![a-z])(everything|all of them|all pending|all the)(?![a-z])", re.I)
LOOK_CUE = re.compile(r"(帮我)?(看下|看看|看一下|查下|查查|查一下|瞅瞅|瞅一眼)|(?<![a-z])(show me|look at|check on)(?![a-z])", re.I)
QUEUE_WORD = re.compile(r"队列|待审批|审批|(?<![a-z])(queue|pending)(?![a-z])", re.I)
#: everything of a region ("把西部的所有数据给我看"): its lead list, refused outside the asker's region
REGION_DUMP = re.compile(r"(华东|华南|华北|西部)(区|地区|大区)?(的)?(所有|全部)(的)?(数据|客户|资料)")
LEAD_WORD = re.compile(r"线索|单子|那条|这条|那单|这单|(?<![a-z])leads?(?![a-z])", re.I)
#: a lead handed to someone ("转给孙涛吧", "分给我吧", "reassign it to me"): only a manager reassigns
TRANSFER_CUE = re.compile(r"转[^,，。\s]{0,4}给(?!我的)|分[^,，。\s]{0,3}给(?!我的)|派给我(?!的)|转交|交给|让给|改派|改给|分我(?!的)|"
                          r"(?<![a-z])(reassign|transfer|hand (it )?over|give (it|this|that)( lead)? to)(?![a-z])", re.I)


def _routing(mode: str) -> Callable[[Turn], Built]:
    def build(t: Turn) -> Built:
        region = named_region(t)
        asks_transfer = TRANSFER_CUE.search(t.question) and not WHY_CUE.search(t.question) and (
            t.ctx.user.role == Role.REP or t.slots.reps or region)
        args: dict[str, Any] = {"mode": "reassign" if asks_transfer else mode}
        if asks_transfer and t.ctx.user.role != Role.REP:  # a manager's: every rep and region named must be theirs
            args.update({"reps": [u.login for u in t.slots.reps]}, **({"region": region} if region else {}))
        elif t.ctx.user.role == Role.REP and (others := [u.login for u in t.slots.reps if u.id != t.ctx.user.id
                                                         and _theirs(t.question, u)]):
            args["reps"] = others  # "韩子涵那条 为啥分给她不给我": a colleague's lead, refused
        item = t.item("lead")
        if "lead" in t.slots.ids:
            args["lead_id"] = t.slots.ids["lead"]
        elif t.lead_ref:
            args["query"] = t.lead_ref
        elif (number := _a_lead_number(t)) is not None:
            args["lead_id"] = number  # "为啥1768分给罗平了": lead 1768 (the tool checks the asker may see it)
        elif item:
            args["lead_id"] = item["id"]
        elif names_something(re.sub(r"\b(Who|Why|Which|I)\b", "", t.question)) or t.names_visible_lead or t.named_lead:
            args["query"] = t.question  # "鼎盛南京那条为啥推荐吴杰", "沈阳七院那条远程运维的新线索 为啥分给罗平了"
        elif (proposed := _decision_proposing(t)) is not None:
            args["lead_id"] = proposed  # "为啥推荐韩子涵" after the review queue: the lead proposed to her
        elif t.focus_lead:
            args["lead_id"] = t.focus_lead
        elif mode == "who":
            args["query"] = t.question
        return "lead_routing", args
    return build


def _theirs(question: str, rep) -> bool:
    """The question is about something of the rep it names ("韩子涵那条", "宋思远手上", "Emily's lead"), not
    the rep as a partner on the asker's own lead ("为啥要我和吴杰一起跟")."""
    names = [rep.name, *(rep.name_en.split() if rep.name_en else [])]
    return any(re.search(rf"{re.escape(n)}\s*(那条|那单|这条|的线索|的单子|的客户|手上|名下|'s)", question, re.I) for n in names) \
        or bool(re.search(r"分给(她|他)|给了(她|他)|(?<![a-z])(to|gave it to) (her|him)(?![a-z])", question, re.I))


SELF_LEAVING = re.compile(r"我(要|快|准备|下个?月|月底|年底)?[^写]{0,4}(离职|辞职|走了|调去|调岗|调走|转岗)(?!信|报告|申请|模板)|"
                          r"我[^写]{0,6}(可能|准备|打算)?要走(了)?(?!访)|"
                          r"(?<![a-z])(i'?m|i am) (leaving|quitting|resigning|moving to another)(?![a-z])", re.I)


LEAVING_CUE = re.compile(r"离职|走了|要走|辞职|调岗|调走|离开|交接|last day|"
                         r"(?<![a-z])(leaving|quit(s|ting)?|resign|handover|hand over)(?![a-z])", re.I)


THEIR_ACCOUNTS = re.compile(r"的客户|的单子|名下|(?<![a-z])(accounts|clients|book|territory)(?![a-z])", re.I)
ASKS_CONTENT = re.compile(r"要写|哪些|什么|啥|怎么|如何|流程|(?<![a-z])(what|how|checklist|template)(?![a-z])", re.I)


def _decision_proposing(t: Turn) -> int | None:
    """The lead of the one routing decision of the previous answer that proposed the rep the question names."""
    from crm.models import RoutingDecision

    ids = [i["id"] for i in t.items if i["kind"] == "decision"]
    reps = {u.id for u in t.slots.reps}
    if not ids or not reps:
        return None
    leads = set(t.ctx.session.scalars(select(RoutingDecision.lead_id).where(RoutingDecision.id.in_(ids),
                                                                          RoutingDecision.rep_id.in_(reps))))
    return leads.pop() if len(leads) == 1 else None


def successor(t: Turn) -> Built:
    if not t.slots.reps and SELF_LEAVING.search(t.question):
        return "successor", {"rep": t.ctx.user.login}  # the asker is the one leaving
    rep = t.slots.reps[0].login if t.slots.reps else t.focus.get("leaving_rep")
    if rep and (t.slots.reps or t.follow_up or t.focus.get("topic") == "successor"):
        return "successor", {"rep": rep, **({"account": t.question} if ORG_NAME.search(t.question) or t.names_visible_lead else {})}
    if not t.slots.reps and ASKS_CONTENT.search(t.question):
        return None  # "销售离职交接说明要写哪些": how to hand over, not who takes over
    if not t.slots.reps:
        return t.ctx.t("请说明是哪位销售要交接,例如“张伟要离职了,他的客户谁接合适?”",
                       "Which rep is leaving? E.g. “Zhang Wei is leaving — who should take his accounts?”")
    return "successor", {"rep": t.slots.reps[0].login}


def kpi(t: Turn) -> Built:
    if not _about_a_metric(t.question):
        return None  # "今天上证指数多少点?", "usd to cny today": a number, but no sales metric — the next reading
    return "kpi_query", {"question": t.question}


def _about_a_metric(question: str) -> bool:
    """Does the question name a defined metric, or a concept the registry lists as undefined (NPS,
    毛利率, CAC)? A number asked about something else (an index, an exchange rate) is not a KPI."""
    from tools.kpi.linker import UNDEFINED, examples

    link = _link(question)
    if link.metric is not None or link.phrase or _names_undefined_metric(question):
        return True  # a registry word, even when the linker is unsure which metric ("华东的pipeline和赢单率")
    low = question.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(term.lower())}(?![a-z])", low) for term in examples()[UNDEFINED])


BUILDERS: dict[str, Callable[[Turn], Built]] = {
    "lead_status": lead_status,
    "lead_list": lead_list,
    "journey": journey,
    "knowledge_howto": knowledge,
    "knowledge_policy": knowledge,
    "call_debrief": call_debrief,
    "gaps_own": _coaching("capability_gaps", team_default=False),
    "gaps_team": _coaching("capability_gaps", team_default=True),
    "drills": _coaching("coaching_drills", team_default=False),
    "practice_start": practice_start,
    "practice_assign": practice_assign,
    "practice_end": practice_end,
    "suggestions_list": suggestions_list,
    "suggestion_adopt": _decide("suggestions", "suggestion", "adopt", "suggestion_id", "采纳建议 12", "adopt suggestion 12"),
    "suggestion_dismiss": _decide("suggestions", "suggestion", "dismiss", "suggestion_id", "忽略建议 12", "dismiss suggestion 12"),
    "kpi": kpi,
    "routing_who": _routing("who"),
    "routing_why": _routing("why"),
    "review_list": review_list,
    "review_approve": _decide("review_queue", "decision", "approve", "decision_id", "批准分配 12", "approve decision 12"),
    "review_override": review_override,
    "alerts_list": alerts_list,
    "alert_adopt": _decide("alerts", "alert", "adopt", "alert_id", "采纳提醒 5", "adopt alert 5"),
    "alert_dismiss": _decide("alerts", "alert", "dismiss", "alert_id", "忽略提醒 5", "dismiss alert 5"),
    "alert_explain": _decide("alerts", "alert", "explain", "alert_id", "为什么提醒 5", "why alert 5"),
    "successor": successor,
}
