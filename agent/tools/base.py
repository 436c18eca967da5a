"""What every tool module shares: the result and declaration types, and the helpers that more
than one tool uses (finding the lead a question names, the team a coaching answer covers,
numbers and behaviour events as the answers print them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from core.errors import PermissionDenied
from crm.access import visible_leads
from crm.models import Account, Lead, Region, Team
from crm.policy import is_manager, is_rep
from tools.capability import resolve_rep, visible_rep
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads import denied, find_hidden_leads, find_leads
from tools.leads.find import close_to_best


@dataclass
class ToolOutput:
    text: str  # what the user reads (already in their language)
    data: dict[str, Any] = field(default_factory=dict)  # what a model reads
    evidence: list[Evidence] = field(default_factory=list)
    confidence: float | None = None
    focus: dict[str, Any] = field(default_factory=dict)  # what follow-up questions may refer to
    error: str | None = None  # "permission" / "not_found" / "input" when the tool refused
    images: list[str] = field(default_factory=list)  # PNG files to show with the answer (KPI charts)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str  # what the model reads
    args: type[BaseModel]
    run: Callable[..., ToolOutput]

    def openai_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": schema}}


# -- finding the lead a question names --------------------------------------------------------

def resolve_lead(ctx: ToolContext, query: str, *, account_level: bool = False,
                 prefer: Callable[[list[int]], set[int]] | None = None) -> int | ToolOutput:
    """The lead the question names, or the answer to give instead (no match / a choice list).
    With ``account_level``, several close matches on one account are not ambiguous: any of
    them leads to the account. ``prefer`` picks, among close matches, the leads the question is
    about (a routing question: the account's lead that was routed); one preferred lead is the answer."""
    matches = find_leads(ctx=ctx, query=query, limit=20 if prefer else 5)
    refuse_a_hidden_account(ctx, query, matches)
    if not matches:
        return ToolOutput(text=ctx.t("在你能查看的线索里没有找到这条线索;可以给出客户名称或线索编号。",
                                     "I found no such lead among the ones you may see; give the account name or the lead id."),
                          error="not_found")
    top = close_to_best(matches)
    if len(top) == 1:
        return matches[0].lead_id
    preferred = prefer([m.lead_id for m in top]) if prefer else set()
    if len(preferred) == 1:
        return preferred.pop()
    if account_level and len(_accounts_of(ctx, top)) == 1:
        return top[0].lead_id
    return _which_lead(ctx, matches, query)


def refuse_a_hidden_account(ctx: ToolContext, query: str, matches: list) -> None:
    """The question names an account the asker may not see — in full, or (when nothing visible
    matches) in part or abbreviated: refused, never answered with a look-alike of it."""
    hidden = (not any(m.score >= 0.995 for m in matches) and names_hidden_account(ctx, query)) \
        or (not matches and _one_hidden_account(find_hidden_leads(ctx=ctx, query=query, limit=5))) \
        or a_hidden_account_fits_better(ctx, query, matches)
    if hidden:
        raise denied(ctx, "这个客户", "That account")


def names_a_hidden_customer(ctx: ToolContext, query: str) -> bool:
    """The question names, in full or as one customer's words, an account none of whose leads the asker may see (never
    for a trainer, who sees no leads at all: the tools refuse them whatever is named)."""
    from core.errors import RepcopilotError

    try:
        return names_hidden_account(ctx, query) or _one_hidden_account(find_hidden_leads(ctx=ctx, query=query, limit=5))
    except RepcopilotError:
        return False


def _one_hidden_account(matches: list) -> bool:
    """The hidden leads matched well name one customer — one account, or accounts sharing more than a place ("Kestrel
    Drive Systems Ltd" and its Hangzhou branch) — not a place many names share ("Ningbo …" matches 宁波佳贝 and 宁波天成
    alike: no account is named)."""
    import os

    names = sorted({m.account for m in matches if m.score >= 0.9})
    if len(names) <= 1:
        return bool(names)
    shared = os.path.commonprefix(names).strip()
    return len(shared) >= (3 if shared and "\u4e00" <= shared[0] <= "\u9fff" else 6)


def records_owner(ctx: ToolContext, owner: str, what_zh: str, what_en: str):
    """The rep whose records ("李娜的提醒", "Gao Chao's suggestions") are asked for, if the asker may see
    them; otherwise the leads' refusal, naming the rep and the records: ``what_zh`` / ``what_en``
    follow the name ("的提醒", "'s alerts")."""
    from core.errors import PermissionDenied
    from crm.models import User
    from tools.capability import resolve_rep
    from tools.text import person_name

    try:
        return resolve_rep(ctx, owner)
    except PermissionDenied:
        user = ctx.session.scalar(select(User).where(User.login == owner))
        raise denied(ctx, f"{person_name(user, 'zh') if user else owner}{what_zh}",
                     f"{person_name(user, 'en') if user else owner}{what_en}") from None


def a_hidden_account_fits_better(ctx: ToolContext, query: str, matches: list) -> bool:
    """The visible match is only partial ("中科汽车部件(佛山)" against 金泰汽车部件(佛山)) while another
    account, one the asker may not see, holds a clearly longer stretch of the question word for word:
    the question means that one. (The same account's hidden leads never count.)"""
    if not matches or (matches[0].account and matches[0].account in query):
        return False  # the visible account said in full
    said = _said_of(query, matches[0].account or "")
    if matches[0].score >= 0.95 and said >= 0.6 * len(matches[0].account or ""):
        return False  # most of the visible name said: that one (no scan of every hidden lead)
    visible = matches[0].account or ""
    return any(_hidden_fits_better(query, hidden, visible, said) for hidden in find_hidden_leads(ctx=ctx, query=query, limit=5))


def _hidden_fits_better(query: str, hidden, visible: str, said_visible: int) -> bool:
    if hidden.account == visible:
        return False
    if hidden.score >= 0.9 and _fits_better(query, hidden.account or "", visible, said_visible):
        return True
    return hidden.score >= 0.75 and _the_place_said_is_its(query, hidden.account or "", visible)


def _the_place_said_is_its(query: str, hidden: str, visible: str) -> bool:
    """"鼎盛汽车部件 dalian", "kestrel hangzhou": the same brand, in the place the question says — the hidden one's."""
    hidden_only = {p for p in _places_said(query, hidden) if p not in visible}
    return bool(hidden_only) and not {p for p in _places_said(query, visible) if p not in hidden}


def _fits_better(query: str, hidden: str, visible: str, said_visible: int) -> bool:
    """The hidden account holds a clearly longer stretch of the question word for word — or its place (first
    two characters) is said and far more of its name in order ("兰州优诺口腔" against 深圳中科口腔连锁, "青岛中心医院"
    against 西安市中心医院), the visible one sharing only a common word."""
    if _longest_common(query, hidden) >= max(5, _longest_common(query, visible) + 2):
        return True
    return hidden[:2] in query and _said_of(query, hidden) >= max(4, said_visible + 2)


def _places_of(account: str) -> set[str]:
    """The places an account's name may hold: what its brackets hold ("鼎盛汽车部件(大连)", "Kestrel Drive Systems Ltd
    (Hangzhou)"), else its first two characters ("杭州卓越新能源…")."""
    import re

    bracketed = {p.strip() for p in re.findall(r"[(（]([^)）]+)[)）]", account) if p.strip()}
    if bracketed:
        return bracketed  # "博远汽车部件(石家庄)": the brand comes first, the place in brackets
    return {account[:2]} if account[:2] and "\u4e00" <= account[0] <= "\u9fff" else set()


def _places_said(query: str, account: str) -> set[str]:
    """The places of the account's name the question says, in Chinese or in pinyin / English."""
    import re

    from pypinyin import lazy_pinyin

    words = set(re.findall(r"[a-z]+", query.lower()))
    return {p for p in _places_of(account) if p in query or "".join(lazy_pinyin(p)).lower() in words or p.lower() in words}


def _said_of(query: str, name: str) -> int:
    """How many characters of ``name`` the question says, in order (the matching blocks of the two)."""
    from difflib import SequenceMatcher

    if not query or not name:
        return 0
    return sum(b.size for b in SequenceMatcher(None, query, name, autojunk=False).get_matching_blocks() if b.size >= 2)


def _longest_common(a: str, b: str) -> int:
    """The length of the longest stretch ``a`` and ``b`` share."""
    from difflib import SequenceMatcher

    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def _accounts_of(ctx: ToolContext, matches: list) -> set[int]:
    return set(ctx.session.scalars(select(Lead.account_id).where(Lead.id.in_([m.lead_id for m in matches]))))


def _which_lead(ctx: ToolContext, matches: list, query: str) -> ToolOutput:
    """Several leads match: the choice, and — when they are one account's — that account in focus, so
    a follow-up that picks none ("下一步该干嘛") is about its first lead. The question is kept too: a
    correction that only adds a word ("不是这个 是杭州那家") narrows it (``agent.understanding.corrections``)."""
    names = "\n".join(f"- #{m.lead_id} {m.name}" for m in matches[:5])
    accounts = _accounts_of(ctx, matches)
    focus = {"account_id": accounts.pop(), "lead_id": None} if len(accounts) == 1 else {"account_id": None, "lead_id": None}
    focus["lead_query"] = query
    return ToolOutput(text=ctx.t(f"找到多条可能的线索,请指明是哪一条:\n{names}", f"Several leads match — which one?\n{names}"),
                      data={"choices": [m.to_json() for m in matches]}, confidence=0.3, focus=focus)


def names_hidden_account(ctx: ToolContext, query: str) -> bool:
    """Does the question name, in full, an account none of whose leads the asker may see?"""
    low = query.lower()
    named = [i for i, name, name_en in ctx.session.execute(select(Account.id, Account.name, Account.name_en))
             if (name and len(name) >= 4 and name in query) or (name_en and len(name_en) >= 6 and name_en.lower() in low)]
    if not named:
        return False
    visible = set(ctx.session.scalars(visible_leads(ctx.session, ctx.user).with_only_columns(Lead.account_id)
                                      .where(Lead.account_id.in_(named))))
    return not visible


# -- coaching: whose gaps and drills ----------------------------------------------------------

class CoachingArgs(BaseModel):
    rep: str | None = Field(None, description="the rep as the user named them (Chinese or English name, or login); omit for "
                                              "the asking rep themself, or — for a manager, trainer or admin — their whole team")
    team: bool = Field(False, description="true for every rep the user may see (a manager: their team; a trainer or admin: "
                                          "all reps), ranked by the biggest gap")
    region: str | None = Field(None, description="with team: only the reps of this region (code: east, south, north, west); "
                                                 "a manager naming another region is refused")
    dimension: str | None = Field(None, description="with team: rank the reps by this capability dimension, weakest first "
                                                    "(needs_discovery, solution_matching, objection_handling)")


def fmt_num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def coaching_target(ctx: ToolContext, rep: str | None, team: bool):
    """The one rep asked about (access checked by ``visible_rep``), or None for the team view —
    which only managers, trainers and admins get; the asker's role decides, never the arguments."""
    if rep:
        try:
            return resolve_rep(ctx, rep)
        except PermissionDenied:
            if is_manager(ctx.user):
                raise PermissionDenied(ctx.t(f"{rep} 不在你的团队;经理只能查看本团队销售的能力短板和练习。",
                                             f"{rep} is not on your team; a manager sees the capability gaps and drills of their own "
                                             "team's reps only.")) from None
            raise PermissionDenied(ctx.t("销售只能查看自己的能力短板和练习;可以问“我的能力短板是什么”或“我这周该练什么”。",
                                         "A rep sees only their own capability gaps and drills; ask \"what are my capability gaps?\" "
                                         "or \"what should I practise this week?\"")) from None
    if team or not is_rep(ctx.user):
        if is_rep(ctx.user):
            raise PermissionDenied(ctx.t("团队的能力短板和练习只对经理、培训师和管理员开放;你可以问“我的能力短板是什么”。",
                                         "Team capability gaps and drills are for managers, trainers and admins; ask "
                                         "\"what are my capability gaps?\" for yours."))
        return None
    return visible_rep(ctx, None)


def team_title(ctx: ToolContext, n: int, what_zh: str, what_en: str, region: str | None = None) -> str:
    team = ctx.session.get(Team, ctx.user.team_id) if is_manager(ctx.user) and ctx.user.team_id else None
    if team is not None:
        return ctx.t(f"**{team.name}{what_zh}({n} 人)**", f"**{team.name_en} — {what_en} ({n} reps)**")
    if region:
        r = ctx.session.scalar(select(Region).where(Region.code == region))
        if r is not None:
            return ctx.t(f"**{r.name_zh}销售{what_zh}({n} 人)**", f"**{r.name_en} reps — {what_en} ({n} reps)**")
    return ctx.t(f"**全部销售{what_zh}({n} 人)**", f"**All reps — {what_en} ({n} reps)**")


# -- behaviour events ---------------------------------------------------------------------------

def event_evidence(events: list[dict[str, Any]]) -> list[Evidence]:
    return [Evidence("touchpoint" if e.get("id") is not None else "aggregate", str(e.get("id") or ""), e.get("time"), e["text"],
                     e.get("weight")) for e in events]


def event_lines(ctx: ToolContext, events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return [ctx.t("- (无已授权的行为事件)", "- (no consented behaviour events)")]
    return [f"- {e['time'] + ' ' if e.get('time') else ''}{e['text']}" + (f" (+{e['weight']})" if e.get("weight") is not None else "")
            for e in events]


