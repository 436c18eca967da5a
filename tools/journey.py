"""The customer journey of an account (or of one lead): every touchpoint, lead, call,
opportunity and stage change in time order, grouped by the stage the account was in
(pre-lead / lead / each opportunity stage / closed / post-sale), with long silences flagged
and the current stage marked.

Access from the ToolContext only: a rep sees accounts where they own the account, a lead or
an opportunity; a manager those of the team (and of the region's unassigned leads); an admin
all; a trainer none. Calls of reps outside the asker's scope are counted, not listed.

Privacy: touchpoints of contacts without recorded consent appear only as a count per stage;
in anonymized aggregate mode no touchpoint is listed, only counts per kind and stage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from itertools import pairwise
from typing import Any

from sqlalchemy import exists, select

from core.errors import NotFoundError, UserInputError
from crm.access import visible_leads
from crm.models import Account, Call, Contact, Lead, Opportunity, StageChange, Touchpoint, User
from tools.context import ToolContext
from tools.leads import OPEN_STAGES, denied, get_visible_lead, load_intent_config, refuse_trainer
from tools.text import (
    KIND_LABELS,
    STAGE_LABELS,
    describe_duration,
    describe_touch,
    fmt_cny,
    fmt_time,
    label,
    pick,
)

STAGE_ORDER = {s: i for i, s in enumerate(OPEN_STAGES)}


@dataclass
class JourneyEvent:
    time: str  # "YYYY-MM-DD HH:MM", UTC
    kind: str  # touchpoint / lead / opportunity / stage_change / call
    id: int  # the record's id in its table
    subtype: str  # the touchpoint kind, "created", "first_follow_up", the new stage, "call"
    text_zh: str
    text_en: str
    lead_id: int | None = None
    opportunity_id: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}:{self.subtype}"

    def text(self, language: str) -> str:
        return self.text_zh if language == "zh" else self.text_en

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JourneyStage:
    stage: str  # pre_lead / lead / discovery / solution / proposal / negotiation / closed_lost / post_sale
    start: str | None  # None: from the beginning
    end: str | None  # None: still running
    current: bool
    events: list[JourneyEvent] = field(default_factory=list)
    touchpoints_by_kind: dict[str, int] = field(default_factory=dict)  # usable touchpoints in the period, per kind
    hidden_without_consent: int = 0  # touchpoints of contacts without consent in the period: counted only

    def label(self, language: str) -> str:
        return label(STAGE_LABELS, self.stage, language)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["label_zh"], data["label_en"] = self.label("zh"), self.label("en")
        return data


@dataclass
class JourneyGap:
    start: str  # the day of the last event before the silence
    end: str  # the day of the next event (or the end of the period)
    days: int
    open: bool  # True: nothing has happened since
    stage: str | None = None  # the stage the silence starts in
    stage_index: int | None = None  # index into Journey.stages

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Journey:
    account_id: int
    account: str
    account_en: str | None
    lead_id: int | None  # set when the journey is one lead's
    period_start: str | None
    period_end: str | None
    as_of: str
    current_stage: str
    stages: list[JourneyStage]
    gaps: list[JourneyGap]
    gap_days: int
    excluded_without_consent: int  # in the period, all stages
    other_calls: int  # calls by reps outside the asker's scope: counted, not listed
    anonymized: bool
    render_events_per_stage: int = 8

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("stages", "gaps")}
        data["stages"] = [s.to_json() for s in self.stages]
        data["gaps"] = [g.to_json() for g in self.gaps]
        return data

    def render(self, language: str) -> str:
        lines = self._heading_lines(language)
        for index, stage in enumerate(self.stages):
            lines.extend(self._stage_lines(index, stage, language))
        if self.other_calls:
            lines.append(pick(language, f"(另有 {self.other_calls} 通其他同事的通话未列出)",
                              f"({self.other_calls} calls by other colleagues not listed)"))
        return "  \n".join(lines)

    def _heading_lines(self, language: str) -> list[str]:
        """The account (and lead, and period), the current stage, the anonymized-mode notice."""
        zh = language == "zh"
        name = self.account if zh else (self.account_en or self.account)
        head = pick(language, f"**客户旅程:{name}**", f"**Customer journey: {name}**")
        if self.lead_id:
            head += pick(language, f"(线索 #{self.lead_id})", f" (lead #{self.lead_id})")
        if self.period_start or self.period_end:
            head += pick(language, f" · 期间 {self.period_start or '…'} 至 {self.period_end or '…'}",
                         f" · period {self.period_start or '…'} to {self.period_end or '…'}")
        lines = [head, pick(language, f"当前阶段:**{label(STAGE_LABELS, self.current_stage, 'zh')}**",
                            f"Current stage: **{label(STAGE_LABELS, self.current_stage, 'en')}**")]
        if self.anonymized:
            lines.append(pick(language, "(匿名汇总模式:客户行为只按类型计数,不列出个人行为)",
                              "(anonymized aggregate mode: customer behaviour is counted per kind, not listed)"))
        return lines

    def _stage_lines(self, index: int, stage: JourneyStage, language: str) -> list[str]:
        """One stage: its title and span, its latest events, counts, and the silences starting in it."""
        span = f"{(stage.start or '…')[:10]} – {(stage.end or pick(language, '至今', 'now'))[:10]}"
        mark = pick(language, " ◀ 当前", " ◀ current") if stage.current else ""
        title = stage.label(language)
        lines = [f"**{title[:1].upper() + title[1:]}**{mark} ({span})"]
        n = self.render_events_per_stage
        if len(stage.events) > n:
            lines.append(pick(language, f"- …之前还有 {len(stage.events) - n} 条", f"- … {len(stage.events) - n} earlier events"))
        lines.extend(f"- {ev.time} {ev.text(language)}" for ev in stage.events[-n:])
        if self.anonymized and stage.touchpoints_by_kind:
            counts = ", ".join(f"{label(KIND_LABELS, k, language)} × {v}" for k, v in stage.touchpoints_by_kind.items())
            lines.append(pick(language, f"- 客户行为汇总:{counts}", f"- customer behaviour: {counts}"))
        if stage.hidden_without_consent:
            lines.append(pick(language, f"- 另有 {stage.hidden_without_consent} 条未授权联系人的行为,仅计数",
                              f"- {stage.hidden_without_consent} more events of contacts without consent (counted only)"))
        lines.extend(_gap_line(g, language) for g in self.gaps if g.stage_index == index)
        return lines


def _gap_line(gap: JourneyGap, language: str) -> str:
    if gap.open:
        return pick(language, f"⚠ 自 {gap.start} 起已 {gap.days} 天没有互动", f"⚠ no activity for {gap.days} days since {gap.start}")
    return pick(language, f"⚠ {gap.start} → {gap.end}:{gap.days} 天没有互动",
                f"⚠ {gap.start} → {gap.end}: {gap.days} days without activity")


def _short(stage: str, language: str) -> str:
    """"商机·方案" → "方案", "opportunity · solution" → "solution"."""
    return label(STAGE_LABELS, stage, language).split("·")[-1].strip()


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min)


def _account_visible(ctx: ToolContext, account: Account) -> bool:
    scope = ctx.scope
    if scope.everything:
        return True
    if account.owner_id in scope.owner_ids:
        return True
    if ctx.session.scalar(visible_leads(ctx.session, ctx.user).where(Lead.account_id == account.id)
                          .with_only_columns(Lead.id).limit(1)) is not None:
        return True
    return bool(ctx.session.scalar(select(exists().where(Opportunity.account_id == account.id,
                                                         Opportunity.owner_id.in_(scope.owner_ids)))))


def _stage_at(moment: datetime, leads: list[Lead], opps: list[Opportunity], changes: dict[int, list[StageChange]]) -> str:
    """The account's stage at ``moment``: the furthest open opportunity stage; else post-sale
    after a win; else closed-lost after a loss with no newer lead; else lead; else pre-lead."""
    open_stages, wins, losses = [], [], []
    for opp in opps:
        current = None
        for ch in changes.get(opp.id, []):
            if ch.changed_at <= moment:
                current = ch
        if current is None:
            continue
        if current.to_stage in STAGE_ORDER:
            open_stages.append(current.to_stage)
        elif current.to_stage == "closed_won":
            wins.append(current.changed_at)
        else:
            losses.append(current.changed_at)
    if open_stages:
        return max(open_stages, key=STAGE_ORDER.__getitem__)
    if wins:
        return "post_sale"
    created = [lead.created_at for lead in leads if lead.created_at <= moment]
    if losses and not any(c > max(losses) for c in created):
        return "closed_lost"
    return "lead" if created else "pre_lead"


def _resolve_focus(ctx: ToolContext, account_id: int | None, lead_id: int | None) -> tuple[Account, Lead | None]:
    """The account the journey is about, and the lead when it is one lead's journey (checked visible)."""
    if account_id is None and lead_id is None:
        raise UserInputError(ctx.t("请给出客户或线索(名称或编号)。", "Name an account or a lead (name or id)."))
    if lead_id is not None:
        focus = get_visible_lead(ctx, lead_id)
        if account_id is not None and focus.account_id != account_id:
            raise UserInputError(ctx.t(f"线索 {lead_id} 不属于客户 {account_id}。",
                                       f"Lead {lead_id} does not belong to account {account_id}."))
        return ctx.session.get(Account, focus.account_id), focus
    account = ctx.session.get(Account, account_id)
    if account is None:
        raise NotFoundError(ctx.t(f"没有编号为 {account_id} 的客户。", f"There is no account {account_id}."))
    if not _account_visible(ctx, account):
        raise denied(ctx, f"客户 {account_id} ", f"Account {account_id}")
    return account, None


@dataclass
class _Period:
    """The asked period [start, end) cut at ``now``; ``until`` is where the journey stops."""
    start: datetime | None
    end: datetime | None
    now: datetime

    @property
    def until(self) -> datetime:
        return min(self.now, self.end) if self.end else self.now

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and moment < (self.end or datetime.max) and moment <= self.now


def _asked_period(ctx: ToolContext, start: date | datetime | None, end: date | datetime | None) -> _Period:
    period = _Period(_as_datetime(start), _as_datetime(end), ctx.now())
    if period.start and period.end and period.end <= period.start:
        raise UserInputError(ctx.t("结束日期必须晚于开始日期。", "The end of the period must come after its start."))
    return period


@dataclass
class _Records:
    """What the journey is made of, read once: leads, opportunities and their stage changes,
    touchpoints (with the contact's consent and title), calls and their reps."""
    leads: list[Lead]
    opps: list[Opportunity]
    changes: dict[int, list[StageChange]]
    touch_rows: list[Any]
    calls: list[Call]
    reps: dict[int, User]


def _stage_changes(ctx: ToolContext, opps: list[Opportunity]) -> dict[int, list[StageChange]]:
    changes: dict[int, list[StageChange]] = {}
    if opps:
        for ch in ctx.session.scalars(select(StageChange).where(StageChange.opportunity_id.in_([o.id for o in opps]))
                                      .order_by(StageChange.changed_at, StageChange.id)):
            changes.setdefault(ch.opportunity_id, []).append(ch)
    return changes


def collect_records(ctx: ToolContext, account: Account, focus: Lead | None, now: datetime) -> _Records:
    """The account's records up to ``now`` (only one lead's, and the lead-less touchpoints, with ``focus``)."""
    s = ctx.session
    if focus is not None:
        leads = [focus]
        opps = list(s.scalars(select(Opportunity).where(Opportunity.lead_id == focus.id)))
    else:
        leads = list(s.scalars(select(Lead).where(Lead.account_id == account.id)))
        opps = list(s.scalars(select(Opportunity).where(Opportunity.account_id == account.id)))
    tp_filter = [Touchpoint.account_id == account.id]
    if focus is not None:
        tp_filter.append((Touchpoint.lead_id == focus.id) | Touchpoint.lead_id.is_(None))
    touch_rows = s.execute(
        select(Touchpoint, Contact.consent_tracking, Contact.title).outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(*tp_filter, Touchpoint.occurred_at <= now).order_by(Touchpoint.occurred_at, Touchpoint.id)).all()
    call_filter = [Call.account_id == account.id, Call.started_at <= now]
    if focus is not None:
        call_filter.append(Call.opportunity_id.is_(None) | Call.opportunity_id.in_([o.id for o in opps] or [-1]))
    calls = list(s.scalars(select(Call).where(*call_filter)))
    reps = {u.id: u for u in s.scalars(select(User).where(User.id.in_({c.rep_id for c in calls} or {-1})))}
    return _Records(leads, opps, _stage_changes(ctx, opps), touch_rows, calls, reps)


# -- events ----------------------------------------------------------------------------------------
TimedEvent = tuple[datetime, JourneyEvent]


def lead_events(leads: list[Lead]) -> list[TimedEvent]:
    """Each lead's creation and its first follow-up (with the hours it took)."""
    events: list[TimedEvent] = []
    for lead in leads:
        events.append((lead.created_at, JourneyEvent(
            fmt_time(lead.created_at), "lead", lead.id, "created",
            f"新线索 #{lead.id}:{lead.name}(来源 {lead.source})", f"new lead #{lead.id}: {lead.name} (source: {lead.source})",
            lead.id)))
        if lead.first_follow_up_at:
            hours = (lead.first_follow_up_at - lead.created_at).total_seconds() / 3600
            events.append((lead.first_follow_up_at, JourneyEvent(
                fmt_time(lead.first_follow_up_at), "lead", lead.id, "first_follow_up",
                f"线索 #{lead.id} 首次跟进(创建后 {hours:.0f} 小时)", f"lead #{lead.id} first follow-up ({hours:.0f} h after creation)",
                lead.id)))
    return events


def opportunity_events(opps: list[Opportunity], changes: dict[int, list[StageChange]]) -> list[TimedEvent]:
    """Each opportunity's creation and its stage moves (not the initial stage)."""
    events: list[TimedEvent] = []
    for opp in opps:
        events.append((opp.created_at, JourneyEvent(
            fmt_time(opp.created_at), "opportunity", opp.id, "created",
            f"商机 #{opp.id} 创建:{opp.name},{fmt_cny(opp.amount_cny, 'zh')}",
            f"opportunity #{opp.id} created: {opp.name}, {fmt_cny(opp.amount_cny, 'en')}", opp.lead_id, opp.id)))
        for ch in changes.get(opp.id, []):
            if ch.from_stage is None:
                continue
            events.append((ch.changed_at, JourneyEvent(
                fmt_time(ch.changed_at), "stage_change", ch.id, ch.to_stage,
                f"商机 #{opp.id} 阶段:{_short(ch.from_stage, 'zh')} → {_short(ch.to_stage, 'zh')}",
                f"opportunity #{opp.id} stage: {_short(ch.from_stage, 'en')} → {_short(ch.to_stage, 'en')}",
                opp.lead_id, opp.id)))
    return events


def call_events(ctx: ToolContext, calls: list[Call], reps: dict[int, User], period: _Period) -> tuple[list[TimedEvent], int]:
    """The period's calls by reps in the asker's scope; the others are only counted."""
    events: list[TimedEvent] = []
    other_calls = 0
    scope = ctx.scope
    for call in calls:
        if not period.contains(call.started_at):
            continue
        if not (scope.everything or call.rep_id in scope.owner_ids):
            other_calls += 1
            continue
        rep = reps.get(call.rep_id)
        events.append((call.started_at, JourneyEvent(
            fmt_time(call.started_at), "call", call.id, "call",
            f"通话 #{call.id}({describe_duration(call.duration_s, 'zh')},{rep.name if rep else '—'})",
            f"call #{call.id} ({describe_duration(call.duration_s, 'en')}, {rep.name_en if rep else '—'})",
            None, call.opportunity_id)))
    return events, other_calls


@dataclass
class _Touches:
    events: list[TimedEvent]  # listed touchpoints (none in anonymized mode)
    usable: list[tuple[datetime, str]]  # consented (or contact-less) touchpoints: (time, kind)
    hidden: list[datetime]  # touchpoints of contacts without consent: counted only


def touch_events(touch_rows: list[Any], *, anonymized: bool) -> _Touches:
    """Touchpoints split by consent: usable ones listed (or only counted when anonymized), the others hidden."""
    out = _Touches([], [], [])
    for tp, consent, title in touch_rows:
        if tp.contact_id is not None and not consent:
            out.hidden.append(tp.occurred_at)
            continue
        out.usable.append((tp.occurred_at, tp.kind))
        if anonymized:
            continue
        out.events.append((tp.occurred_at, JourneyEvent(
            fmt_time(tp.occurred_at), "touchpoint", tp.id, tp.kind,
            describe_touch(tp.kind, tp.asset, title, tp.dwell_s, "zh"), describe_touch(tp.kind, tp.asset, title, tp.dwell_s, "en"),
            tp.lead_id)))
    return out


def events_in_period(events: list[TimedEvent], period: _Period) -> list[TimedEvent]:
    """The events inside the period, in time order (then kind, then id)."""
    kept = [(m, e) for m, e in events if period.contains(m)]
    kept.sort(key=lambda x: (x[0], x[1].kind, x[1].id))
    return kept


# -- stages ----------------------------------------------------------------------------------------
def stage_segments(leads: list[Lead], opps: list[Opportunity], changes: dict[int, list[StageChange]]) -> list[tuple[datetime | None, str]]:
    """``(start, stage)`` for each stretch the account spent in one stage, from pre-lead on."""
    marks = sorted({lead.created_at for lead in leads} | {ch.changed_at for chs in changes.values() for ch in chs})
    segments: list[tuple[datetime | None, str]] = [(None, "pre_lead")]
    for mark in marks:
        stage = _stage_at(mark, leads, opps, changes)
        if stage != segments[-1][1]:
            segments.append((mark, stage))
    return segments


Bounds = tuple[datetime | None, datetime | None]


def _segment_bounds(segments: list[tuple[datetime | None, str]], period: _Period) -> list[tuple[Bounds, str]]:
    """Each segment's [start, end) that overlaps the period; an end after now is open (None)."""
    out: list[tuple[Bounds, str]] = []
    for i, (seg_start, stage) in enumerate(segments):
        seg_end = segments[i + 1][0] if i + 1 < len(segments) else None
        if period.end and seg_start and seg_start >= period.end:
            continue
        if period.start and seg_end and seg_end <= period.start:
            continue
        if seg_end is not None and seg_end > period.now:
            seg_end = None
        out.append(((seg_start, seg_end), stage))
    return out


def _inside(moment: datetime, bounds: Bounds, period: _Period) -> bool:
    lo, hi = bounds
    return (lo is None or moment >= lo) and (hi is None or moment < hi) and period.contains(moment)


def group_by_stage(segments: list[tuple[datetime | None, str]], period: _Period, events: list[TimedEvent],
                   touches: _Touches) -> tuple[list[JourneyStage], list[Bounds]]:
    """The stages overlapping the period, each with its events, touchpoint counts per kind and
    hidden (no consent) count; plus each stage's bounds."""
    stages: list[JourneyStage] = []
    bounds: list[Bounds] = []
    until = period.until
    for (lo, hi), stage in _segment_bounds(segments, period):
        bounds.append((lo, hi))
        stages.append(JourneyStage(
            stage=stage, start=fmt_time(lo), end=fmt_time(hi), current=(lo is None or lo <= until) and (hi is None or until < hi),
            events=[e for m, e in events if _inside(m, (lo, hi), period)],
            touchpoints_by_kind=dict(sorted(Counter(k for m, k in touches.usable if _inside(m, (lo, hi), period)).items())),
            hidden_without_consent=sum(1 for m in touches.hidden if _inside(m, (lo, hi), period))))
    return stages, bounds


# -- silences --------------------------------------------------------------------------------------
def mark_gaps(moments: list[datetime], until: datetime, gap_days: int, stages: list[JourneyStage],
              bounds: list[Bounds]) -> list[JourneyGap]:
    """Silences longer than ``gap_days`` between activity ``moments`` (sorted), and an open one
    from the last moment to ``until``; each tagged with the stage it starts in."""
    silences = [(a, b, False) for a, b in pairwise(moments) if (b - a).days > gap_days]
    if moments and (until - moments[-1]).days > gap_days:
        silences.append((moments[-1], until, True))
    gaps = []
    for a, b, still in silences:
        index = next((i for i, (lo, hi) in enumerate(bounds) if (lo is None or a >= lo) and (hi is None or a < hi)), None)
        gaps.append(JourneyGap(a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d"), (b - a).days, still,
                               stages[index].stage if index is not None else None, index))
    return gaps


def journey_timeline(*, ctx: ToolContext, account_id: int | None = None, lead_id: int | None = None,
                     start: date | datetime | None = None, end: date | datetime | None = None) -> Journey:
    """The journey of an account (or, with ``lead_id``, of that lead) from ``start`` (inclusive)
    to ``end`` (exclusive), grouped by stage, with silences longer than journey.gap_days flagged."""
    refuse_trainer(ctx)
    cfg = load_intent_config()["journey"]
    account, focus = _resolve_focus(ctx, account_id, lead_id)
    period = _asked_period(ctx, start, end)
    now = period.now
    rec = collect_records(ctx, account, focus, now)

    calls, other_calls = call_events(ctx, rec.calls, rec.reps, period)
    touches = touch_events(rec.touch_rows, anonymized=ctx.anonymized)
    events = events_in_period(lead_events(rec.leads) + opportunity_events(rec.opps, rec.changes) + calls + touches.events, period)

    stages, bounds = group_by_stage(stage_segments(rec.leads, rec.opps, rec.changes), period, events, touches)
    current = _stage_at(period.until, rec.leads, rec.opps, rec.changes)

    gap_days = int(cfg["gap_days"])
    moments = sorted({m for m, _ in events} | {m for m, _ in touches.usable if period.contains(m)})
    gaps = mark_gaps(moments, period.until, gap_days, stages, bounds)

    return Journey(
        account_id=account.id, account=account.name, account_en=account.name_en, lead_id=focus.id if focus else None,
        period_start=fmt_time(period.start), period_end=fmt_time(period.end), as_of=fmt_time(now), current_stage=current,
        stages=stages, gaps=gaps, gap_days=gap_days, excluded_without_consent=sum(1 for m in touches.hidden if period.contains(m)),
        other_calls=other_calls, anonymized=ctx.anonymized, render_events_per_stage=int(cfg["render_events_per_stage"]))
