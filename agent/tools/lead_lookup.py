"""lead_lookup: one lead (facts, intent score, next best action) or the asker's open leads ranked."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import select

from agent.tools.base import ToolOutput, ToolSpec, resolve_lead
from core.errors import NotFoundError, UserInputError
from crm.access import visible_leads
from crm.models import Account, Lead, Region, Team, User
from crm.policy import is_manager, is_rep, may_see_member, sees_everything
from tools.capability import find_reps_in
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads import denied, intent_score, lead_summary, refuse_trainer
from tools.text import person_heading, person_name


class LeadArgs(BaseModel):
    query: str = Field("", description="the lead or account as the user named it (Chinese or English), or 'lead 123'")
    lead_id: int | None = Field(None, description="the lead id, when already known from the conversation")
    list: bool = Field(False, description="true for the user's open leads ranked by intent score ('which leads should I call "
                                          "first?', '我手上哪些线索最热')")
    owner: str | None = Field(None, description="whose leads, when the user names a rep ('李娜的线索', 'David's leads'): the rep's "
                                                "login or name; 'all' for every rep's")
    since: str | None = Field(None, description="with list: only leads created on or after this day, YYYY-MM-DD ('这周新来的')")
    unfollowed: bool = Field(False, description="with list: only leads nobody has followed up yet ('还没跟的', 'not contacted yet')")
    unassigned: bool = Field(False, description="with list: only leads with no owner yet (a manager: the region's; '还没分配的', "
                                                "'unassigned')")
    region: str | None = Field(None, description="with owner='all': only this region's leads, by code (east, south, north, west) "
                                                 "('华南全部线索'), or 'all' for every region's; refused outside the asker's region")


def _lead(*, ctx: ToolContext, query: str, lead_id: int | None, list: bool = False,  # noqa: A002 — the argument's name
          owner: str | None = None, since: str | None = None, unfollowed: bool = False, region: str | None = None,
          unassigned: bool = False) -> ToolOutput:
    owner_user = leads_owner(ctx, owner) if owner else None  # refused here when the asker may not see that rep's leads
    if list and unassigned and is_rep(ctx.user):  # "any unassigned leads in the region? wanna grab one": a manager's to route
        raise denied(ctx, "未分配的线索", "Unassigned leads")
    if list and lead_id is None:
        return _lead_list(ctx, owner_user, ListFilter(_day(ctx, since), unfollowed, region_of_the_list(ctx, region), unassigned))
    if lead_id is None:
        resolved = resolve_lead(ctx, query)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    summary = lead_summary(ctx=ctx, lead_id=lead_id)  # logs each suggestion shown (once per lead, rule and day)
    # each open suggestion is evidence too, by its id: channels render it with adopt / dismiss buttons
    open_suggestions = [Evidence("suggestion", str(s.suggestion_id), None, s.text)
                        for s in summary.suggestions if s.suggestion_id and s.status == "shown"]
    return ToolOutput(text=summary.render(ctx.language), data=summary.to_json(),
                      evidence=[*summary.intent.top_events, *open_suggestions], confidence=summary.intent.confidence or 0.3,
                      focus={"lead_id": lead_id, "lead_list": False})


LEAD_LIST_SIZE = 8
LEAD_LIST_SCAN = 60  # the newest open leads scored for the ranking


def leads_owner(ctx: ToolContext, owner: str) -> User | None:
    """The rep whose leads the question asks for (None: everyone's the asker may see), or the
    leads' usual refusal (``tools.leads.denied``: what the asker can see, and whom to ask)."""
    if owner.strip().lower() in ("all", "*", "everyone", "所有", "全部"):
        if is_rep(ctx.user):
            raise denied(ctx, "其他销售的线索", "The list of other reps' leads")
        return None
    found = ctx.session.scalar(select(User).where(User.login == owner)) or next(iter(find_reps_in(ctx.session, owner)), None)
    if found is None:
        raise NotFoundError(ctx.t(f"没有叫“{owner}”的销售。", f"There is no rep called “{owner}”."))
    if not may_see_member(ctx.user, found):
        raise denied(ctx, f"{found.name}的线索", f"The list of {person_name(found, 'en')}'s leads")
    return found


def region_of_the_list(ctx: ToolContext, code: str | None) -> Region | None:
    """The region a list of leads is limited to — refused to a rep (other reps' leads) and to a manager
    asking another region's (the refusal says what they can see and whom to ask)."""
    if not code:
        return None
    if code.strip().lower() == "all":  # every region's: the admin's list, refused to anyone else
        if not sees_everything(ctx.user):
            raise denied(ctx, "全部区域的线索", "Every region's leads")
        return None
    region = ctx.session.scalar(select(Region).where(Region.code == code.strip().lower()))
    if region is None:
        raise NotFoundError(ctx.t(f"没有区域“{code}”。", f"There is no region “{code}”."))
    if is_rep(ctx.user):
        raise denied(ctx, f"{region.name_zh}的线索", f"The leads of {region.name_en}")
    own = ctx.session.scalar(select(Team.region_id).where(Team.id == ctx.user.team_id)) if ctx.user.team_id else None
    if is_manager(ctx.user) and own != region.id:
        raise denied(ctx, f"{region.name_zh}的线索", f"The leads of {region.name_en}")
    return region


class ListFilter(NamedTuple):
    since: date | None = None  # created on or after
    unfollowed: bool = False  # nobody has followed up yet
    region: Region | None = None  # of accounts in this region
    unassigned: bool = False  # no owner yet

    def words(self, ctx: ToolContext) -> str:
        parts = ([ctx.t(f"{self.since.isoformat()} 以来新建", f"created since {self.since.isoformat()}")] if self.since else []) \
            + ([ctx.t("尚未跟进", "not followed up yet")] if self.unfollowed else []) \
            + ([ctx.t(self.region.name_zh, self.region.name_en)] if self.region else []) \
            + ([ctx.t("未分配", "unassigned")] if self.unassigned else [])
        return ("、" if ctx.language == "zh" else ", ").join(parts)


def _day(ctx: ToolContext, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserInputError(ctx.t(f"日期 {text!r} 无效,请用 YYYY-MM-DD。", f"invalid day {text!r}; use YYYY-MM-DD.")) from None


def _lead_list(ctx: ToolContext, owner: User | None = None, only: ListFilter = ListFilter()) -> ToolOutput:  # noqa: B008 — immutable
    """The asker's open leads (or one visible rep's), hottest first: intent score, tier, account, status —
    only the new ones since a day, or those nobody has followed up, when asked."""
    refuse_trainer(ctx)
    leads = _open_leads(ctx, owner, only)
    which = only.words(ctx)
    if not leads:
        return ToolOutput(text=ctx.t(f"你目前没有{which + '的' if which else '进行中的'}线索。",
                                     f"You have no {'open leads ' + which if which else 'open leads'} right now."),
                          data={"leads": []}, confidence=0.9)
    scored = sorted(((intent_score(ctx=ctx, lead_id=lead.id), lead) for lead in leads), key=lambda p: (-p[0].score, -p[1].id))
    top = scored[:LEAD_LIST_SIZE]
    accounts = {a.id: a for a in ctx.session.scalars(select(Account).where(Account.id.in_({lead.account_id for _, lead in top})))}
    whose = ctx.t(f"{owner.name}的", f"{person_heading(owner, 'en')}: ") if owner is not None else ""
    lines = [ctx.t(f"{whose}最值得先跟进的线索(按意向指数,{len(leads)} 条进行中{'、' + which if which else ''}的线索里的前 {len(top)} 条):",
                   f"{whose}Leads to call first (by intent score; top {len(top)} of {len(leads)} open leads"
                   f"{' ' + which if which else ''}):")]
    lines += [_ranked_line(ctx, i, score, lead, accounts.get(lead.account_id)) for i, (score, lead) in enumerate(top, 1)]
    lines.append(ctx.t("说“第一条”或客户名称查看详情和下一步。",
                       "Say “the first one” or the account's name for details and the next step."))
    evidence = [Evidence("lead", str(lead.id), None, f"{lead.name} {accounts[lead.account_id].name if lead.account_id in accounts else ''}")
                for _, lead in top]
    return ToolOutput(text="\n".join(lines), data={"leads": [{"lead_id": lead.id, "intent": score.score, "tier": score.tier}
                                                             for score, lead in top]},
                      evidence=evidence, confidence=0.8, focus={"lead_list": True})  # "李娜的呢": her list


def _open_leads(ctx: ToolContext, owner: User | None, only: ListFilter) -> list[Lead]:
    """The newest open leads the asker may see (of one rep, created since a day, not followed up yet, when asked)."""
    stmt = visible_leads(ctx.session, ctx.user).where(Lead.status.in_(("new", "contacted", "qualified")))
    if owner is not None:
        stmt = stmt.where(Lead.owner_id == owner.id)
    if only.since is not None:
        stmt = stmt.where(Lead.created_at >= datetime.combine(only.since, time.min))
    if only.unfollowed:
        stmt = stmt.where(Lead.first_follow_up_at.is_(None))
    if only.unassigned:
        stmt = stmt.where(Lead.owner_id.is_(None))
    if only.region is not None:
        stmt = stmt.where(Lead.account_id.in_(select(Account.id).where(Account.region_id == only.region.id)))
    return list(ctx.session.scalars(stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(LEAD_LIST_SCAN)))


def _ranked_line(ctx: ToolContext, i: int, score, lead: Lead, account: Account | None) -> str:
    name = (account.name if ctx.language == "zh" or not account.name_en else account.name_en) if account else ""
    return ctx.t(f"{i}. 线索 #{lead.id} {name} · 意向 {score.score}({score.tier})· {lead.status}",
                 f"{i}. lead #{lead.id} {name} · intent {score.score} ({score.tier}) · {lead.status}")


SPEC = ToolSpec(
    "lead_lookup",
    "Look up a lead by account name, lead name or id: facts, intent score (CBI 0-100) with the events behind it, "
    "and the next best action with its evidence. Only leads the user may see. list=true: the user's open leads "
    "ranked by intent score (which to call first).",
    LeadArgs, _lead)
