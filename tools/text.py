"""Small bilingual helpers shared by the lead, journey and suggestion tools: labels for
touchpoint kinds, lead statuses and stages; readable event descriptions; times and money;
and the tokenizer behind fuzzy bilingual name matching."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from crm.models import LEAD_STATUSES, OPPORTUNITY_STAGES, TOUCHPOINT_KINDS

#: touchpoint kind → (zh, en) label
KIND_LABELS: dict[str, tuple[str, str]] = {
    "page_view": ("浏览网页", "page view"),
    "pdf_download": ("下载资料", "PDF download"),
    "demo_booking": ("预约演示", "demo booking"),
    "expo_scan": ("展会扫码", "expo badge scan"),
    "wecom_message": ("企业微信消息", "WeCom message"),
    "email_open": ("打开邮件", "e-mail opened"),
    "tender_notice": ("招标公告发布", "tender notice published"),
    "bid_doc_sent": ("发送投标方案", "bid document sent"),
    "bid_doc_open": ("打开投标方案", "bid document opened"),
    "policy_article": ("阅读政策文章", "policy article read"),
    "call": ("电话沟通", "phone call"),
    "meeting": ("会面拜访", "meeting"),
}
assert set(KIND_LABELS) == set(TOUCHPOINT_KINDS), "every touchpoint kind needs a label"

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("新线索", "new"),
    "contacted": ("已联系", "contacted"),
    "qualified": ("已确认需求", "qualified"),
    "converted": ("已转商机", "converted"),
    "nurture": ("培育中", "nurture"),
    "invalid": ("无效", "invalid"),
    "lost": ("已流失", "lost"),
}
assert set(STATUS_LABELS) == set(LEAD_STATUSES)

#: journey stage → (zh, en); opportunity stages plus the phases around them
STAGE_LABELS: dict[str, tuple[str, str]] = {
    "pre_lead": ("线索前", "pre-lead"),
    "lead": ("线索阶段", "lead"),
    "discovery": ("商机·需求挖掘", "opportunity · discovery"),
    "solution": ("商机·方案", "opportunity · solution"),
    "proposal": ("商机·报价", "opportunity · proposal"),
    "negotiation": ("商机·谈判", "opportunity · negotiation"),
    "closed_won": ("赢单", "closed won"),
    "closed_lost": ("输单", "closed lost"),
    "post_sale": ("售后", "post-sale"),
}
assert set(OPPORTUNITY_STAGES) <= set(STAGE_LABELS)

TIER_LABELS: dict[str, tuple[str, str]] = {"S": ("极高", "very high"), "A": ("高", "high"), "B": ("中", "medium"), "C": ("低", "low")}


def pick(language: str, zh: str, en: str) -> str:
    return zh if language == "zh" else en


def person_name(user, language: str) -> str:
    """A user's name in the answer's language: the Chinese name, or the English one (else the Chinese)."""
    return user.name if language == "zh" else (user.name_en or user.name)


def person_heading(user, language: str, *, login: bool = False) -> str:
    """A user as an English answer's heading names them: "Tao Sun (孙涛)" — the name a colleague types
    in Chinese stays findable ("pull up 孙涛's latest call") — or the name alone (Chinese answers, English
    names); with ``login``, the login joins the brackets ("Ye Tian (田野, tianye)")."""
    name = person_name(user, language)
    extra = [user.name] if language != "zh" and user.name != name and re.search(r"[\u4e00-\u9fff]", user.name or "") else []
    extra += [user.login] if login and user.login != name else []
    return f"{name} ({', '.join(extra)})" if extra else name


def person_label(user, language: str) -> str:
    """"Emily Wang (emilywang)": a user by name, with the login that commands take."""
    name = person_name(user, language)
    return f"{name} ({user.login})" if name != user.login else name


def label(table: dict[str, tuple[str, str]], key: str | None, language: str) -> str:
    if key is None:
        return "—"
    zh, en = table.get(key, (key, key.replace("_", " ")))
    return pick(language, zh, en)


def fmt_time(when: datetime | None) -> str | None:
    """Minutes precision, UTC as stored: ``2026-11-18 03:00``."""
    return None if when is None else when.strftime("%Y-%m-%d %H:%M")


def fmt_cny(value: int | None, language: str) -> str:
    if value is None:
        return "—"
    if language == "zh" and value >= 10_000:
        wan = value / 10_000
        return f"{wan:,.0f}万元" if wan == int(wan) else f"{wan:,.1f}万元"
    return f"¥{value:,}"


def describe_touch(kind: str, asset: str | None, title: str | None, dwell_s: int | None, language: str) -> str:
    """One readable line for a touchpoint: what happened, on what, by whom (job title only —
    never a name, phone or e-mail)."""
    what = label(KIND_LABELS, kind, language)
    if asset:
        what += f"《{asset}》" if language == "zh" else f" “{asset}”"
    if dwell_s and kind == "page_view":
        what += f",停留{describe_duration(dwell_s, language)}" if language == "zh" else f", {describe_duration(dwell_s, language)} on page"
    if title:
        what += f"({title})" if language == "zh" else f" ({title})"
    return what


def describe_duration(seconds: float, language: str) -> str:
    if seconds < 90:
        return pick(language, f"{int(seconds)}秒", f"{int(seconds)} s")
    return pick(language, f"{seconds / 60:.0f}分钟", f"{seconds / 60:.0f} min")


# -- fuzzy matching ------------------------------------------------------------------------

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:['’][a-z]+)?")
_IS_CJK = re.compile(rf"[{_CJK}]")
#: words that say "lead / how is it" rather than name something
STOPWORDS = frozenset({
    "a", "an", "the", "is", "are", "was", "how", "what", "whats", "about", "tell", "me", "of", "for", "and", "or", "to",
    "in", "on", "with", "lead", "leads", "account", "accounts", "customer", "client", "deal", "this", "that", "my",
    "our", "show", "status", "ready", "buy", "why", "please", "it", "its", "one", "s", "journey", "timeline",
})


#: legal-form and other generic words that name no one in particular: dropped before matching
GENERIC_TERMS = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团", "公司")
GENERIC_WORDS = frozenset({"ltd", "gmbh", "ag", "inc", "co", "pte", "llc", "plc", "corp", "limited"})


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, ’ → ', generic legal-form words removed."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    for term in GENERIC_TERMS:
        text = text.replace(term, " ")
    return text


def token_spans(text: str | None) -> list[tuple[str, int, int]]:
    """Match tokens of a name or a question with their character span in ``normalize(text)``:
    CJK character bigrams (a lone CJK character as itself) and Latin words, lower-cased,
    without stop words or generic legal forms. ``"宁波宏达 Wind"`` → 宁波, 波宏, 宏达, wind."""
    if not text:
        return []
    out: list[tuple[str, int, int]] = []
    for m in _RUN.finditer(normalize(text)):
        run, start = m.group(), m.start()
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append((run, start, start + 1))
            else:
                out.extend((run[i:i + 2], start + i, start + i + 2) for i in range(len(run) - 1))
        elif run not in STOPWORDS and run not in GENERIC_WORDS and not run.isdigit():
            out.append((run.replace("'", ""), start, m.end()))
    return out


def name_tokens(text: str | None) -> set[str]:
    return {t for t, _, _ in token_spans(text)}


def is_cjk_token(token: str) -> bool:
    return bool(_IS_CJK.match(token))
