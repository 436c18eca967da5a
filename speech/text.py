"""Bilingual utterance classifiers: question, open question, why-question, pain point,
objection. Rules and word lists, kept in one place; none relies on "?" (Whisper's
Mandarin output often has no question mark). Accuracy is measured by
``repcopilot eval detectors`` on a labelled set in evals/.
"""

from __future__ import annotations

import re

from core.lang import CJK, detect_language, language_or_detect

__all__ = ["CJK", "detect_language", "is_objection", "is_open_question", "is_pain_point", "is_question", "is_why_question"]

_lang = language_or_detect  # the old private name; the rule lives in core.lang


# -- Chinese --------------------------------------------------------------------------------------
ZH_NOT_QUESTION = re.compile(
    r"(这|那|就|正|也)(就)?是为什么|所以为什么|不知道(为什么|怎么|什么)|没(有)?什么|什么都|什么也|怎么也|不怎么|"
    r"无论|不管|随便什么|有什么说什么|想怎么|怎么都")
ZH_WH = re.compile(r"为什么|为啥|为何|何以|怎么|怎样|如何|什么|哪些|哪个|哪里|哪儿|哪家|哪种|多少|多久|多长|几个|几家|几台|几天|几月|谁")
ZH_YESNO = re.compile(r"(吗|么|嘛)\s*[?？]?\s*$|是不是|有没有|能不能|会不会|要不要|可不可以|对不对|行不行|是否|方便不|好不好|"
                      r"(\w)不\2|请问")
ZH_REQUEST = re.compile(r"(能|可以|请|麻烦|方便)(您|你)?.{0,8}(说说|讲讲|谈谈|聊聊|介绍一下|展开|具体(说|讲)|举个例子|描述)|"
                        r"^(说说|讲讲|谈谈|聊聊|具体说说)|(?<!给)(您|你)(再)?(说说|讲讲|谈谈|聊聊|介绍一下|具体说)")
ZH_EMBEDDED = re.compile(r"(考虑|决定|看看|不知道|在想|讨论|评估|研究)(一下)?(要不要|是不是|有没有|能不能|会不会|是否)")
ZH_WHY = re.compile(r"为什么|为啥|为何|何以|怎么会|怎么回事|是什么原因|什么原因|原因是什么|原因在哪|背后的原因|是什么导致|什么导致|"
                    r"什么让|什么促使|出于什么考虑")
ZH_OPEN = re.compile(r"为什么|为啥|为何|何以|怎么|怎样|如何|什么|哪|谁|多久|多长|说说|讲讲|谈谈|聊聊|介绍一下|具体(说|讲)|描述|举个例子|"
                     r"意味着")
ZH_PAIN = re.compile(
    r"头疼|头痛|最大的问题|问题是|问题在于|麻烦|困扰|痛点|难题|太慢|很慢|慢得|太长|太高|太贵|太多|跟不上|经常出|总是出|老是出|"
    r"出问题|效率(太|很|比较)?低|成本(太|很)?高|损失|停机|故障|抱怨|意见很大|对不上|吃不消|压力(很|太|特别)?大|拖延|延误|"
    r"不够用|浪费|出错|投诉|瓶颈|缺货|积压|看不过来|看不到|不通|很难|难管|不统一|不准|不及时|担心|焦虑|被动|卡在|没法|无法|"
    r"出过问题|时间(特别|很|太|非常)?紧|要求(非常|很|特别|越来越)(严格|紧|高)|用得不深|没用起来|还是在用(表格|Excel)|靠Excel")
ZH_NOT_PAIN = re.compile(r"没(有)?(什么)?问题|不是问题|问题不大|没啥问题|没有困扰|不麻烦|还好|挺好|很好|满意|顺利|不担心")
ZH_OBJECTION = re.compile(
    r"价格.{0,6}(高|贵)|(太|有点|比较)贵|预算(不够|不足|有限|没了|用完)|没(有)?(这块|这个|相关)?预算|已经有.{0,8}(供应商|合作|厂家|系统)|"
    r"换起来.{0,4}风险|(再|先)等等|(结果|集采).{0,6}再说|明年再|不考虑|暂时不需要|竞品.{0,6}(便宜|低)")

# -- English --------------------------------------------------------------------------------------
EN_AUX = (r"(do|does|did|is|are|was|were|can|could|would|will|should|have|has|had|may|might|shall|am|isn't|aren't|don't|doesn't|didn't|"
          r"won't|wouldn't|can't|couldn't)")
EN_PRON = r"(you|we|they|i|he|she|it|there|this|that|your|the|our|anyone|any|everyone|someone|procurement|it's)"
EN_WH_START = re.compile(r"^(so,?\s+|and\s+|but\s+|ok(ay)?,?\s+|right,?\s+|well,?\s+)?(what|why|how|when|where|who|whom|which|whose)\b")
EN_CLEFT = re.compile(r"^(what|how|why|when|where)\s+(we|i|they|he|she)\s+(need|want|do|did|found|mean|see|think|know|like|really)\b")
EN_AUX_START = re.compile(rf"^(so,?\s+|and\s+|but\s+|ok(ay)?,?\s+|right,?\s+|well,?\s+)?{EN_AUX}\s+({EN_PRON}|[a-z0-9]+\s+\w+)\b")
EN_REQUEST = re.compile(r"\b(tell me (about|more|how|what|why)|walk me through|help me understand|describe|explain|talk me through|"
                        r"give me an example|can you share|could you share)\b")
EN_TAG = re.compile(r",\s*(right|correct|isn't it|don't you|didn't you|aren't you|no)\s*\??$")
EN_NOT_QUESTION = re.compile(r"\b(that's why|that is why|which is why|this is why|no matter (what|how)|i (don't )?know (why|how|what)|"
                             r"i wonder)\b")
EN_WHY = re.compile(r"\bwhy\b|\bhow come\b|\bwhat makes\b|\bwhat made\b|\bwhat(?:'s| is| was) (the )?reason|\bwhat caused\b|"
                    r"\bwhat causes\b|\bwhat drove\b|\bwhat(?:'s| is) driving\b|\bwhat led to\b|\bwhat's behind\b|\bwhat is behind\b")
EN_OPEN_START = re.compile(r"^(so,?\s+|and\s+|ok(ay)?,?\s+)?(what|why|how|which|who|where|when|in what way|tell me|walk me|describe|"
                           r"explain|talk me)\b")
EN_PAIN = re.compile(
    r"\b(headache|biggest (problem|issue|challenge)|the problem is|the issue is|problem (is|was) that|struggl\w*|pain(ful)?|"
    r"too (slow|long|expensive|many|much)|losing|lost (almost|about|nearly|\d)|downtime|breakdowns?|break down|complain\w*|"
    r"keep (missing|losing|failing)|can't keep up|cannot keep up|costs? us|wast\w+|nobody trusts|frustrat\w*|bottleneck|"
    r"delays?|backlog|errors?|mistakes|not happy|scattered|reactive|behind schedule|overwhelm\w*|manual(ly)? (work|entry)|"
    r"takes (forever|ages|days|weeks)|worried|concern(ed)?)\b")
EN_NOT_PAIN = re.compile(r"\b(no problem|not a problem|isn't an issue|not an issue|no issues?|no complaints|works (fine|well)|"
                         r"happy with)\b")
EN_OBJECTION = re.compile(
    r"\b(price is (too |quite |a bit )?(high|steep)|too expensive|(quite|a bit|much) (higher|more expensive) than|"
    r"(don't|do not) have (the |a |any )?budget|no budget|budget (is )?(tight|frozen|gone|used)|already have a (supplier|vendor|solution)|"
    r"switching is risky|not (a )?priority|next year|not right now|cheaper)\b")


ENDS_WITH_QUESTION_MARK = re.compile(r"[?？]\s*$")
ZH_ENDS_AS_QUESTION = re.compile(r"(吗|么)\s*[?？]?\s*$|[?？]\s*$")
EN_CLAUSE_BREAK = re.compile(r"(?<=[.!;])\s+|,\s+(?=(?:so|and|but)\s)")


def is_question(text: str, lang: str | None = None) -> bool:
    text = (text or "").strip()
    if not text:
        return False
    if _lang(text, lang) == "zh":
        return _is_zh_question(text)
    return _is_en_question(text.lower())


def _is_zh_question(text: str) -> bool:
    """A Chinese question: a question mark, a yes/no form, a request to tell, or a wh-word —
    unless the wh-word is part of a statement ("这就是为什么…") or an embedded question
    ("在考虑要不要…") without a question ending."""
    if ZH_NOT_QUESTION.search(text) and not ZH_YESNO.search(text):
        return bool(ENDS_WITH_QUESTION_MARK.search(text))
    if ZH_EMBEDDED.search(text) and not ZH_ENDS_AS_QUESTION.search(text):
        return False
    return bool(ENDS_WITH_QUESTION_MARK.search(text) or ZH_YESNO.search(text) or ZH_REQUEST.search(text) or ZH_WH.search(text))


def _is_en_question(low: str) -> bool:
    """An English question (``low`` is lower-cased): a question mark, a tag question, or a clause
    that starts like a question or asks to tell — unless, without a question mark, it is a
    statement about a question ("that's why …") or a cleft ("what we need is …")."""
    asked = low.endswith("?")
    if not asked and (EN_NOT_QUESTION.search(low) or EN_CLEFT.search(low)):
        return False
    return asked or bool(EN_TAG.search(low)) or any(_en_clause_asks(c) for c in _en_clauses(low))


def _en_clauses(low: str) -> list[str]:
    """The clauses of an English utterance: split after . ! ; and before ", so/and/but"."""
    return [c.strip() for c in EN_CLAUSE_BREAK.split(low) if c.strip()]


def _en_clause_asks(clause: str) -> bool:
    return bool(EN_WH_START.search(clause) or EN_AUX_START.search(clause) or EN_REQUEST.search(clause))


def is_why_question(text: str, lang: str | None = None) -> bool:
    if not is_question(text, lang):
        return False
    if _lang(text, lang) == "zh":
        return bool(ZH_WHY.search(text))
    return bool(EN_WHY.search(text.lower()))


def is_open_question(text: str, lang: str | None = None) -> bool:
    if not is_question(text, lang):
        return False
    if _lang(text, lang) == "zh":
        return bool(ZH_OPEN.search(text))
    low = text.lower()
    clauses = [c.strip() for c in re.split(r"(?<=[.!;])\s+", low) if c.strip()]
    return any(EN_OPEN_START.search(c) or EN_REQUEST.search(c) for c in clauses)


def is_pain_point(text: str, lang: str | None = None) -> bool:
    """A statement of a problem (a question about a problem is not itself a pain point)."""
    text = (text or "").strip()
    if not text or is_question(text, lang):
        return False
    if _lang(text, lang) == "zh":
        return bool(ZH_PAIN.search(text)) and not (ZH_NOT_PAIN.search(text) and not re.search(r"但是|不过|可是", text))
    low = text.lower()
    return bool(EN_PAIN.search(low)) and not (EN_NOT_PAIN.search(low) and not re.search(r"\bbut\b|\bhowever\b", low))


def is_objection(text: str, lang: str | None = None) -> bool:
    text = (text or "").strip()
    if _lang(text, lang) == "zh":
        return bool(ZH_OBJECTION.search(text))
    return bool(EN_OBJECTION.search(text.lower()))
