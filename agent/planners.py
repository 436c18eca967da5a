"""Planners: the step that decides the next tool call(s) or the final answer.

- ``OfflinePlanner`` (the embedded default): bilingual intent routing and entity linking
  against the database, answers composed from the tools' own rendered text.
- ``LLMPlanner``: any OpenAI-compatible endpoint through langchain-openai, native tool
  calling; chosen when ``REPCOPILOT_LLM_BASE_URL`` is set.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Protocol

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.state import CopilotState
from agent.tools import ToolSpec
from prompts import load as load_prompt
from tools.context import ToolContext

CJK = re.compile(r"[\u4e00-\u9fff]")


def detect_language(text: str) -> str:
    """The language of the sentence frame: "How is the 宁波宏达 lead?" is English (a Chinese
    name inside it counts about one word per two characters)."""
    text = text or ""
    cjk = len(CJK.findall(text))
    # proper names (capitalised words after the first, and what is in brackets) are not the frame:
    # "Helios Wind Systems AG (Suzhou)的线索怎么样" is a Chinese sentence
    frame = re.sub(r"[(（][^)）]*[)）]", " ", text)
    words = re.findall(r"[A-Za-z]+", frame)
    latin = sum(1 for i, w in enumerate(words) if i == 0 or not w[0].isupper())
    return "zh" if cjk and cjk / 2 >= latin else "en"


class Planner(Protocol):
    def plan(self, state: CopilotState, ctx: ToolContext, tools: list[ToolSpec]) -> AIMessage: ...


def _tool_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}


def _turn_tool_messages(state: CopilotState) -> list[ToolMessage]:
    out: list[ToolMessage] = []
    for m in reversed(state["messages"]):
        if isinstance(m, HumanMessage):
            break
        if isinstance(m, ToolMessage):
            out.append(m)
    return list(reversed(out))


# --------------------------------------------------------------------------------------------
# Offline planner
# --------------------------------------------------------------------------------------------

SUGGESTION_DECISION = re.compile(
    r"(采纳|接受|忽略|驳回|不采纳|adopt|accept|dismiss|reject|ignore)\s*(?:了)?\s*(?:the\s+)?(?:ai\s*)?(?:建议|suggestion)?\s*#?\s*(\d+)", re.I)

ALERT_DECISION = re.compile(
    r"(采纳|接受|忽略|驳回|不采纳|adopt|accept|dismiss|reject|ignore)\s*(?:了)?\s*(?:the\s+|this\s+)?(?:signal\s+)?(?:信号)?(?:提醒|预警|告警|alert)\s*#?\s*(\d+)",
    re.I)
ALERT_EXPLAIN = re.compile(
    r"(?:为什么|为何|依据|解释|why|explain).{0,8}?(?:提醒|预警|告警|alert)\s*#?\s*(\d+)|"
    r"(?:提醒|预警|告警|alert)\s*#?\s*(\d+).{0,8}?(?:为什么|为何|依据|原因|怎么来的|why|explain|reason)", re.I)
ALERT_LIST = re.compile(r"提醒|预警|告警|\balerts?\b", re.I)
ALERT_NOT_LIST = re.compile(r"率|数量|多少|几条|趋势|走势|按.{0,6}(分|看)|各(规则|团队|区域|销售|月)|\brate\b|volume|how many|"
                            r"\bcount\b|trend|\bby (rule|team|region|rep|month|week)\b|提醒我|remind", re.I)
ALERT_ESCALATED = re.compile(r"升级|escalat", re.I)
ROUTING_WHY = re.compile(
    r"为什么.{0,16}(分给|分配给|派给|交给|指派给|转给)(了)?我|为什么.{0,6}(是|由)?我(来)?(跟进|负责|接)|"
    r"(分给|分配给|派给|交给)我.{0,8}(原因|理由|依据|为什么)|分配(的)?(原因|理由|依据)|"
    r"\bwhy (was|were|is|did|has) .{0,60}\b(routed|assigned|given|sent) to me\b|\bwhy did i get\b|"
    r"\bwhy (am|was|were) i (assigned|given|routed)|\bwhy (was|is) .{0,40}\b(routed|assigned)\b", re.I)
ROUTING_WHO = re.compile(
    r"(该|应该|要|可以)?(分给|分配给|派给|交给|指派给)谁|谁来?(跟进|负责|接手?|跟)(最)?(合适|好)?|由谁(来)?(跟进|负责)|"
    r"哪(个|位)销售.{0,8}(跟进|负责|合适|接)|最合适的销售|"
    r"\bwho should (take|get|handle|own|follow up|work|be assigned|pick up)\b|\bwho('s| is) the best (rep|person|salesperson)\b|"
    r"\bbest rep for\b|\bwhich rep should\b|\bwho (would|will) the (engine|router) (route|assign)", re.I)
REVIEW_APPROVE = re.compile(r"(?:批准|通过|同意|确认)\s*(?:这个|该)?(?:分配|审核|决定|决策)?\s*(?:记录)?\s*#?\s*(\d+)|"
                            r"\bapprove\s+(?:the\s+)?(?:routing\s+)?(?:decision\s+)?#?\s*(\d+)", re.I)
REVIEW_OVERRIDE = re.compile(r"(?:把|将)?\s*(?:分配|决定|决策)?\s*(?:记录)?\s*#?\s*(\d+)\s*(?:号)?\s*(?:改派|改分|改给|转给|改成)\s*(?:给)?\s*(.+)|"
                             r"(?:改派|改分)\s*(?:分配)?\s*#?\s*(\d+)\s*(?:给)\s*(.+)|"
                             r"\b(?:override|reassign)\s+(?:the\s+)?(?:routing\s+)?(?:decision\s+)?#?\s*(\d+)\s+(?:to|with)\s+(.+)", re.I)
REVIEW_LIST = re.compile(r"审核队列|待审核|待审批|等待审核|需要(我)?审核|review queue|pending review|awaiting (my )?review|"
                         r"waiting for (my )?review|to review", re.I)
LEAD_ID_REF = re.compile(r"(?:\blead\b|线索)\s*(?:no\.?\s*)?#?\s*(\d+)|#\s*(\d+)", re.I)


def lead_intel_call(question: str, focus: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The routing or alerts tool call a question asks for ("线索638谁来跟进最合适?", "why did I get this
    lead?", "我的提醒", "采纳提醒 5"), or None. Alert KPIs ("提醒采纳率") are KPI questions, not this."""
    q = question.strip()
    m = REVIEW_OVERRIDE.search(q)
    if m:
        groups = [g for g in m.groups() if g]
        return "review_queue", {"action": "override", "decision_id": int(groups[0]), "rep": groups[1].strip(" 。.?？!")}
    m = REVIEW_APPROVE.search(q)
    if m:
        return "review_queue", {"action": "approve", "decision_id": int(m.group(1) or m.group(2))}
    if REVIEW_LIST.search(q) and not ALERT_NOT_LIST.search(q):
        return "review_queue", {"action": "list"}
    m = ALERT_DECISION.search(q)
    if m:
        verb = m.group(1).lower()
        action = "adopt" if verb in ("采纳", "接受", "adopt", "accept") else "dismiss"
        return "alerts", {"action": action, "alert_id": int(m.group(2))}
    m = ALERT_EXPLAIN.search(q)
    if m:
        return "alerts", {"action": "explain", "alert_id": int(m.group(1) or m.group(2))}
    mode = "why" if ROUTING_WHY.search(q) else "who" if ROUTING_WHO.search(q) else None
    if mode:
        ref = LEAD_ID_REF.search(q)
        args: dict[str, Any] = {"mode": mode}
        if ref:
            args["lead_id"] = int(ref.group(1) or ref.group(2))
        elif _names_something(re.sub(r"\b(Who|Why|Which|I)\b", "", q)):
            args["query"] = q
        elif focus.get("lead_id"):
            args["lead_id"] = focus["lead_id"]
        elif mode == "who":
            args["query"] = q
        return "lead_routing", args
    if ALERT_LIST.search(q) and not ALERT_NOT_LIST.search(q):
        return "alerts", {"action": "list", **({"status": "escalated"} if ALERT_ESCALATED.search(q) else {})}
    return None


INTENTS: list[tuple[str, re.Pattern[str]]] = [
    ("suggestions", re.compile(r"(我的|待处理的?|列出(我的)?)(ai\s*)?建议|ai\s*建议(?!采纳率)|建议(列表|清单)|"
                               r"\b(my|open|pending|list)\b.{0,12}\bsuggestions\b", re.I)),
    ("journey_timeline", re.compile(r"旅程|时间线|触点|轨迹|互动记录|journey|timeline|touch ?points?|history", re.I)),
    ("coaching_drills", re.compile(
        r"练什么|该练|要练|多练|练习|训练|\bdrills?\b|what should (i|\w+) practi[sc]e|what (to|can i|do i need to) practi[sc]e|"
        r"practi[sc]e (this|next) week|practi[sc]e plan|should practi[sc]e", re.I)),
    ("capability_gaps", re.compile(
        r"能力(短板|差距|画像|弱项|评估|情况|怎么样|如何|分析)|短板|弱项|差距在哪|哪些?方面.{0,6}(辅导|提升|加强|改进|不足)|辅导|"
        r"提升空间|capabilit(y|ies)|skill gaps?|\bgaps?\b|weak(ness|nesses|est)?\b|coaching|needs? (to )?improve|"
        r"where (does|do|should) \w+ (need to )?improve", re.I)),
    ("knowledge_search", re.compile(
        r"怎么(回答|应对|处理|说|回应|跟进|办|破)|如何(回答|应对|处理|回应|跟进|推进)|话术|异议|打法|流程是|政策是|注意什么|"
        r"有什么(技巧|方法|经验)|(折扣|定价|价格|报价|续约|招标|投标)(政策|规则|流程|审批)|"
        r"playbook|how (do|should|can|to) (i |we )?(answer|handle|respond|deal|reply|approach|run|prepare)|objection|"
        r"what should i say|best practices?|tips (for|on)|\bpolic(y|ies)\b|guidelines?|rules for|process for|"
        r"too expensive|太贵|没有预算|no budget", re.I)),
    ("call_debrief", re.compile(
        r"复盘|通话|电话.*(怎么样|表现)|录音|debrief|\bcalls?\b|my last call|how did (my|the) call", re.I)),
    ("lead_lookup", re.compile(
        r"线索|意向|准备.*买|能不能成|怎么样|下一步|跟进建议|评分|客户情况|"
        r"\blead\b|ready to buy|intent|next (best )?(step|action)|how is|what about|tell me about|status of", re.I)),
]
COACHING = ("coaching_drills", "capability_gaps")
DEBRIEF_CUE = re.compile(r"复盘|debrief|(?:call|通话)\s*#?\s*\d+|last call|最近.{0,4}(通话|电话)", re.I)
TEAM_CUE = re.compile(r"团队|组里|我们组|全组|谁|哪些销售|哪几个|哪位|所有销售|全部销售|每个销售|各位|大家|"
                      r"\bteam\b|\bwho\b|which reps|everyone|all (the )?reps|each rep|my reps", re.I)
REP_PRONOUN = re.compile(r"^(那|那么)?(他|她)|\b(he|she|him|her|his)\b", re.I)
ZH_PERSON = re.compile(r"([\u4e00-\u9fff]{2,3}?)(?:这周|本周|下周|最近|目前|现在)?(?:需要|的|该|应该|要|在哪|有哪些|有什么|被布置)")
EN_PERSON = re.compile(r"\b(?:assigned to|for|of|does|should|is|has|needs)\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b")
NOT_A_NAME = {"我", "我的", "我们", "你", "他", "她", "他们", "团队", "我们组", "谁", "哪些", "每个", "大家", "各位", "销售", "这周",
              "本周", "哪位", "哪些人", "能力", "所有", "全部", "全组", "组里", "自己", "我自己", "练什么", "需要"}
EN_NOT_A_NAME = {"My", "The", "Our", "Me", "This", "Next", "Team", "Your", "Each", "Every", "All", "Which", "What", "Who", "Capability",
                 "Coaching", "Drills", "Gaps", "I"}


PRACTICE_WORD = re.compile(r"练习|练一|练练|陪我练|对练|演练|模拟|角色扮演|practi[sc]e|practi[sc]ing|role[- ]?play", re.I)
PRACTICE_START = re.compile(
    r"开始.{0,3}(练习|模拟|对练|演练)|(我|咱们?)(想|要)(练习|练一|练练|模拟)|练习一下|练一下|陪我练|对练|角色扮演|模拟(一下|一个|一次)?.{0,12}客户|"
    r"\bstart(ing)? (a |an |the |new )*(practi[sc]e|role[- ]?play)|\bpracti[sc]e session|\brole[- ]?play|"
    r"\b(i want|i'd like|i would like|let me|let's|can i|could i|help me) (to )?practi[sc]e", re.I)
# asking what to practise, or assigning practice, is coaching — not starting a session
PRACTICE_NOT = re.compile(r"(?<!为)什么|哪些|哪个|哪几|多少|布置|分配|指派|\bwhat\b|\bwhich\b|\bassign", re.I)
END_PRACTICE = re.compile(r"^\s*(/end|结束练习|结束对练|结束模拟|退出练习|停止练习|练习结束|结束吧|end (the )?(practi[sc]e|session|role[- ]?play)|"
                          r"stop (the )?(practi[sc]e|role[- ]?play)|quit practi[sc]e|finish (the )?practi[sc]e)\s*[。.!！]?\s*$", re.I)
# said to the copilot, not to the customer: show where the session stands
CONTINUE_COMMAND = re.compile(r"^\s*(继续练习|接着练习?|怎么继续|continue (the )?practi[sc]e|resume (the )?practi[sc]e|"
                              r"how do i continue)\s*[?？。.!！]?\s*$", re.I)
CONTINUE_PRACTICE = re.compile(r"继续|接着|下一句|怎么继续|continue|go on|next turn|resume", re.I)


def practice_open(ctx: ToolContext, session_id: int) -> bool:
    """Is this the asker's own practice session, still going?"""
    from crm.models import PracticeSession

    row = ctx.session.get(PracticeSession, session_id)
    return row is not None and row.user_id == ctx.user.id and row.ended_at is None


def practice_request(question: str, ctx: ToolContext) -> str | None:
    """The scenario phrase of a request to start practising ("开始练习 医院采购价格异议" → "医院采购价格异议";
    "start practice" → ""), or None when the question is not one. A practice word with a scenario
    named starts it; an explicit start without a scenario lists the scenarios."""
    from tools.practice.scenario import find_scenario, scenario_phrase

    if not PRACTICE_WORD.search(question) or PRACTICE_NOT.search(question):
        return None
    phrase = scenario_phrase(question)
    if phrase and find_scenario(phrase, ctx.home):
        return phrase
    return phrase if PRACTICE_START.search(question) else None


def coaching_args(question: str, ctx: ToolContext, focus: dict[str, Any]) -> dict[str, Any]:
    """Whom a coaching question is about: a rep named in it (entity linking against the users), a
    name-like word that matches no one (the tool then says so), a pronoun → the rep in focus, a
    team word → the team. The tool still checks access from the asker, whatever is chosen here."""
    from tools.capability import find_reps_in

    reps = find_reps_in(ctx.session, question)
    if reps:
        return {"rep": reps[0].login} if len(reps) == 1 else {"rep": " / ".join(u.name for u in reps)}
    if REP_PRONOUN.search(question.strip()) and focus.get("rep"):
        return {"rep": focus["rep"]}
    if TEAM_CUE.search(question):
        return {"team": True}
    m = ZH_PERSON.match(question.strip())
    if m and m.group(1) not in NOT_A_NAME and not m.group(1).startswith(("我", "你", "他", "她", "谁", "哪")):
        return {"rep": m.group(1)}
    m = EN_PERSON.search(question)
    if m and m.group(1).split()[0] not in EN_NOT_A_NAME:
        return {"rep": m.group(1)}
    return {}


FOLLOW_UP = re.compile(r"^(那|他|她|它|这个|这家|该|and\b|what about|how about|his\b|her\b|its\b|their\b|that\b)", re.I)


LEAD_STRONG = re.compile(r"线索|意向|准备.*买|能不能成|下一步|跟进建议|评分|客户情况|\blead\b|ready to buy|intent|"
                         r"next (best )?(step|action)|status of", re.I)
LEAD_NAMED = re.compile(r"这条线索|这个线索|该线索|线索\s*#?\d+|\blead\s*#?\d+", re.I)
NUMBER_CUE = re.compile(r"多少|几[个次天]|排名|趋势|对比|环比|同比|按.{0,6}(分|看)|各(区域|团队|行业|销售|月|季度)|"
                        r"\bwhat(?:'s| is| was| were) (the|our|my)\b|how (many|much|high|low)|\bby (region|team|rep|industry|"
                        r"segment|source|stage|month|week|quarter)\b|\bvs\.?\b|compare|trend|\btop \d|\bbottom \d|\brank", re.I)


def route_intent(question: str, *, has_focus: bool = False) -> str | None:
    """The tool a question asks for, by bilingual patterns, with three corrections: a how-to
    that names a lead ("合肥…这条线索下一步怎么跟进") is about the lead; a generic "怎么样 /
    how is" with nothing named and nothing in focus is not a lead question ("北京明天天气怎么样");
    and the question's own words decide, not a metric word inside a how-to."""
    for name, pattern in INTENTS:
        if not pattern.search(question):
            continue
        if name in COACHING and DEBRIEF_CUE.search(question):
            continue  # "the biggest gaps of my last call" is a debrief
        if name == "knowledge_search" and (LEAD_NAMED.search(question)
                                           or ("线索" in question and _names_something(question))):
            return "lead_lookup"
        if name == "lead_lookup" and not (LEAD_STRONG.search(question) or _names_something(question) or has_focus):
            return None
        return name
    return None


class OfflinePlanner:
    """Rules and the database; no model. Good for the structured questions on its own."""

    def plan(self, state: CopilotState, ctx: ToolContext, tools: list[ToolSpec]) -> AIMessage:
        results = _turn_tool_messages(state)
        if results:
            return AIMessage(content=self.compose(results, ctx))
        question = _last_human(state)
        names = {t.name for t in tools}
        focus = state.get("focus") or {}
        follow_up = bool(FOLLOW_UP.search(question.strip()))
        intent = route_intent(question, has_focus=follow_up and bool(focus.get("lead_id") or focus.get("account_id")))
        call_ref = re.search(r"(?:call|通话)\s*#?\s*(\d+)", question, re.I)
        open_practice = focus.get("practice_session_id")
        if open_practice and "practice_turn" in names and practice_open(ctx, open_practice):
            # practice mode: the copilot plays the customer until the rep ends it (or starts another scenario)
            if END_PRACTICE.search(question):
                return AIMessage(content="", tool_calls=[_tool_call("practice_turn", {"session_id": open_practice, "end": True})])
            starts_another = practice_request(question, ctx) and PRACTICE_START.search(question)
            if not starts_another and not CONTINUE_COMMAND.search(question):
                return AIMessage(content="", tool_calls=[_tool_call("practice_turn", {"session_id": open_practice, "text": question})])
        intel = lead_intel_call(question, focus)
        if intel and intel[0] in names:
            return AIMessage(content="", tool_calls=[_tool_call(*intel)])
        decision = SUGGESTION_DECISION.search(question)
        if decision and "suggestions" in names:
            verb = decision.group(1).lower()
            action = "adopt" if verb in ("采纳", "接受", "adopt", "accept") else "dismiss"
            return AIMessage(content="", tool_calls=[_tool_call("suggestions", {"action": action, "suggestion_id": int(decision.group(2))})])
        practice = practice_request(question, ctx) if "practice" in names else None
        if practice is not None and not (focus.get("practice_session_id") and CONTINUE_PRACTICE.search(question)):
            return AIMessage(content="", tool_calls=[_tool_call("practice", {"scenario": practice} if practice else {})])
        if focus.get("practice_session_id") and CONTINUE_PRACTICE.search(question) and len(question.strip()) <= 30:
            from agent.tools import practice_follow_up

            return AIMessage(content=practice_follow_up(ctx, focus["practice_session_id"]))
        if intent in COACHING and intent in names:
            return AIMessage(content="", tool_calls=[_tool_call(intent, coaching_args(question, ctx, focus))])
        if intent is None and focus.get("topic") in COACHING and focus["topic"] in names and len(question.strip()) <= 30:
            args = coaching_args(question, ctx, focus)  # "那李娜呢?" / "and Gang Ma?" after a coaching answer
            if args.get("rep") or args.get("team"):
                return AIMessage(content="", tool_calls=[_tool_call(focus["topic"], args)])
        if ("kpi_query" in names and focus.get("kpi_spec") and (focus.get("topic") == "kpi_query" or intent is None)
                and not _asks_kpi(question) and _kpi_follow_up(question)):
            return AIMessage(content="", tool_calls=[_tool_call("kpi_query", {"question": question, "base_spec": focus["kpi_spec"]})])
        if "kpi_query" in names and intent != "knowledge_search" and _asks_kpi(question):
            return AIMessage(content="", tool_calls=[_tool_call("kpi_query", {"question": question})])
        if "kpi_query" in names and intent == "knowledge_search" and NUMBER_CUE.search(question) and _asks_kpi(question):
            return AIMessage(content="", tool_calls=[_tool_call("kpi_query", {"question": question})])

        if intent == "suggestions" and "suggestions" in names:
            return AIMessage(content="", tool_calls=[_tool_call("suggestions", {"action": "list"})])
        if intent == "call_debrief" and "call_debrief" in names:
            args: dict[str, Any] = {}
            if call_ref:
                args["call_id"] = int(call_ref.group(1))
            elif FOLLOW_UP.search(question) and focus.get("call_id") is None and focus.get("account_id"):
                args["account_id"] = focus["account_id"]
            return AIMessage(content="", tool_calls=[_tool_call("call_debrief", {k: v for k, v in args.items() if k == "call_id"})])
        if intent == "knowledge_search" and "knowledge_search" in names:
            return AIMessage(content="", tool_calls=[_tool_call("knowledge_search", {"query": question})])
        if intent in ("journey_timeline", "lead_lookup") and intent in names:
            args = {"query": question}
            if FOLLOW_UP.search(question.strip()) or not _names_something(question):
                if focus.get("lead_id"):
                    args["lead_id"] = focus["lead_id"]
                elif intent == "journey_timeline" and focus.get("account_id"):
                    args["account_id"] = focus["account_id"]
            return AIMessage(content="", tool_calls=[_tool_call(intent, args)])
        if focus.get("practice_session_id") and "practice" in names:
            # a practice session is open in this thread, and this message is no question for the copilot:
            # most likely a line meant for the customer — say where the session goes on (the chat does not play it)
            from agent.tools import practice_follow_up

            return AIMessage(content=practice_follow_up(ctx, focus["practice_session_id"]))
        return AIMessage(content=self.capabilities(ctx, tools))

    def compose(self, results: list[ToolMessage], ctx: ToolContext) -> str:
        parts = [m.artifact.get("text") if isinstance(m.artifact, dict) else str(m.content) for m in results]
        return "\n\n".join(p for p in parts if p)

    def capabilities(self, ctx: ToolContext, tools: list[ToolSpec]) -> str:
        zh = {
            "lead_lookup": "线索情况、意向评分和下一步建议(例如“苏州市第八人民医院这条线索怎么样?”)",
            "journey_timeline": "客户旅程时间线(例如“这个客户的旅程”)",
            "knowledge_search": "话术和打法(例如“医院客户说价格太贵怎么回答?”)",
            "call_debrief": "通话复盘(例如“复盘我最近的一次通话”)",
            "kpi_query": "KPI 指标(例如“上个月华东区线索72小时跟进率是多少?”)",
            "suggestions": "待处理的 AI 建议,以及采纳或忽略(例如“我的建议”“采纳建议 12”)",
            "capability_gaps": "能力短板及体现短板的通话(例如“我的能力短板是什么”“我的团队谁需要辅导?”)",
            "coaching_drills": "本周练习、范例录音和已布置的练习(例如“我这周该练什么?”)",
            "practice": "和扮演客户的 AI 练习对话(例如“开始练习 医院采购价格异议”)",
            "review_queue": "线索分配的经理审核队列:批准或改派(例如“审核队列”“批准分配 12”)",
            "lead_routing": "线索该分给谁、为什么分给你(例如“线索638谁来跟进最合适?”“为什么这条线索分给我?”)",
            "alerts": "信号提醒:查看、采纳或忽略、为什么提醒(例如“我的提醒”“采纳提醒 5”“为什么提醒 5”)",
        }
        en = {
            "lead_lookup": "a lead's status, intent score and next best action (\"how is the Helios Wind lead?\")",
            "journey_timeline": "a customer's journey timeline (\"show the journey of this account\")",
            "knowledge_search": "playbooks and talk tracks (\"how do I answer 'your price is too high'?\")",
            "call_debrief": "a debrief of your calls (\"debrief my last call\")",
            "kpi_query": "KPIs (\"win rate by industry this quarter vs last quarter\")",
            "suggestions": "your open AI suggestions, and adopting or dismissing one (\"my suggestions\", \"adopt suggestion 12\")",
            "capability_gaps": "capability gaps and the calls that show them (\"what are my capability gaps?\", \"capability gaps of my team\")",
            "coaching_drills": "this week's drills, exemplar excerpts and assigned drills (\"what should I practise this week?\")",
            "practice": "a practice dialogue with the AI playing the customer (\"start practice hospital price objection\")",
            "review_queue": "the managers' lead review queue: approve or override (\"review queue\", \"approve decision 12\")",
            "lead_routing": "who should take a lead and why a lead was routed to you (\"who should take lead 638?\", \"why did I get this lead?\")",
            "alerts": "your signal alerts: list, adopt or dismiss, and why one was raised (\"my alerts\", \"adopt alert 5\", \"why alert 5\")",
        }
        table = zh if ctx.language == "zh" else en
        lines = [f"- {table[t.name]}" for t in tools if t.name in table]
        head = ctx.t("这个问题我回答不了。我可以帮你查:", "I can't answer that one. I can help with:")
        return head + "\n" + "\n".join(lines)


def _asks_kpi(question: str) -> bool:
    """A registry metric is named (and the question is not about one lead)."""
    from tools.kpi.parser import find_metric
    from tools.kpi.registry import load_registry

    metric, _ = find_metric(question, load_registry())
    if metric is None or re.search(r"这条线索|这个客户|this lead|lead #?\d+|线索\s*#?\d+(?!\d)(?!\s*(小时|天|日|h\b|%))", question, re.I):
        return False
    if metric.per_lead:
        # "线索638的意向分" / "Helios Wind's intent score" / "他的意向分呢" ask about one lead's value;
        # the KPI is an average, a breakdown or a trend
        return bool(AGGREGATE_CUE.search(question))
    return True


AGGREGATE_CUE = re.compile(r"平均|均值|各|按|趋势|走势|区|团队|行业|来源|销售|全公司|整体|average|\bavg\b|mean|\bby\b|"
                           r"\bper\b|trend|region|team|industry|source|overall", re.I)


KPI_FOLLOW_UP = re.compile(r"^(那|那么|and|what about|how about|same for|now)\b|^(那|那么)|呢[??]?$|按.{1,6}(分|看)?呢?|"
                           r"^(by|per|for) |华东|华南|华北|西部|east|south|north|west", re.I)


def _kpi_follow_up(question: str) -> bool:
    """A short question that only changes the previous KPI's period, breakdown or filter."""
    from datetime import date

    from tools.kpi.parser import parse_period

    q = question.strip()
    if len(q) > 40 or not KPI_FOLLOW_UP.search(q):
        return False
    period, compare = parse_period(q, date.today())
    return bool(period or compare or re.search(r"按|各|分|\bby\b|\bper\b|华东|华南|华北|西部|east|south|north|west|"
                                              r"团队|区域|行业|team|region|industry|rep|销售", q, re.I))


def _last_human(state: CopilotState) -> str:
    for m in reversed(state["messages"]):
        if isinstance(m, HumanMessage):
            return str(m.content)
    return ""


def _names_something(question: str) -> bool:
    """Does the question carry a name or an id of its own (rather than 'he', 'this account')?"""
    if re.search(r"\d{2,}", question):
        return True
    if re.search(r"[\u4e00-\u9fff]{2,}(医院|公司|中心|口腔|集团|委员会|齿科)", question):
        return True
    return bool(re.search(r"\b[A-Z][a-z]+\b", question.strip()[1:]))


# --------------------------------------------------------------------------------------------
# LLM planner
# --------------------------------------------------------------------------------------------

class LLMPlanner:
    """Any OpenAI-compatible chat endpoint with native tool calling."""

    def __init__(self, *, base_url: str, api_key: str | None, model: str, timeout_s: float = 60.0, max_retries: int = 2) -> None:
        from langchain_openai import ChatOpenAI

        self.model = ChatOpenAI(base_url=base_url, api_key=api_key or "not-needed", model=model, timeout=timeout_s,
                                max_retries=max_retries, temperature=0)

    def plan(self, state: CopilotState, ctx: ToolContext, tools: list[ToolSpec]) -> AIMessage:
        bound = self.model.bind_tools([t.openai_schema() for t in tools])
        messages = [SystemMessage(content=load_prompt("copilot_system", ctx.language)), *state["messages"]]
        reply = bound.invoke(messages)
        valid = {t.name for t in tools}
        bad = [c for c in reply.tool_calls if c["name"] not in valid] + list(getattr(reply, "invalid_tool_calls", []) or [])
        if bad:
            # a malformed tool call: tell the model instead of crashing
            names = ", ".join(str(c.get("name")) for c in bad)
            return AIMessage(content=ctx.t(f"模型请求了无法执行的工具调用({names}),请换个问法。",
                                           f"The model asked for a tool call I cannot run ({names}); please rephrase."))
        return reply


def tool_message_text(m: ToolMessage) -> str:
    try:
        return json.loads(m.content).get("text", "")
    except (ValueError, AttributeError):
        return str(m.content)
