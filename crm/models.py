"""The CRM-shaped data model (SQLAlchemy 2.0, typed).

What the seed documents describe, so the tools have real data to stand on: regions and
teams, users with a role, accounts and contacts (with recorded consent), leads, one table
of timestamped customer behaviour events (touchpoints), opportunities with their stage
history, renewals, calls with speaker turns and metrics, capability profiles, drills,
practice sessions, AI suggestions with their evidence, and an audit log.

Times are naive UTC ``datetime`` values; money is CNY in ``*_cny`` integer columns.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm.roles import ROLE_VALUES, role_check_sql

ROLES = ROLE_VALUES  # ("rep", "manager", "trainer", "admin"): crm.roles.Role
LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "nurture", "invalid", "lost")
LEAD_SOURCES = ("website", "expo", "wecom", "referral", "tender", "email_campaign", "partner", "inbound_call")
OPPORTUNITY_STAGES = ("discovery", "solution", "proposal", "negotiation", "closed_won", "closed_lost")
TOUCHPOINT_KINDS = (
    "page_view",  # dwell_s, asset = page (product / tech doc / pricing / case study)
    "pdf_download",  # asset = document
    "demo_booking",
    "expo_scan",
    "wecom_message",
    "email_open",
    "tender_notice",  # a public tender notice naming the account was published
    "bid_doc_sent",  # our bid / proposal PDF sent to the contact
    "bid_doc_open",
    "policy_article",  # the account read / published a policy article
    "call",
    "meeting",
)
SUGGESTION_STATUSES = ("shown", "adopted", "dismissed", "expired")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    """Key/value facts about this database (demo seed, scale, as-of date)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(64))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))

    region: Mapped[Region] = relationship()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(role_check_sql(), name="ck_users_role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # a crm.roles.Role value (CHECK ck_users_role); a manager manages the team they belong to
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True, index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    hire_date: Mapped[date] = mapped_column(Date)
    left_at: Mapped[date | None] = mapped_column(Date, nullable=True)
    away_until: Mapped[date | None] = mapped_column(Date, nullable=True)  # on leave up to and including this day
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    teams_aad_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    email: Mapped[str | None] = mapped_column(String(128), nullable=True)

    team: Mapped[Team | None] = relationship()


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    name_en: Mapped[str | None] = mapped_column(String(128), nullable=True)
    industry: Mapped[str] = mapped_column(String(32))  # healthcare / manufacturing / energy / software
    segment: Mapped[str] = mapped_column(String(32))  # 三级综合医院, 民营口腔连锁, 汽车零部件, 新能源装备 …
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    tier: Mapped[str] = mapped_column(String(8))  # A / B / C
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    region: Mapped[Region] = relationship()


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(64))
    role_in_deal: Mapped[str] = mapped_column(String(32))  # decision_maker / influencer / user / procurement / engineer
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email: Mapped[str | None] = mapped_column(String(128), nullable=True)
    consent_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_recorded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Lead(Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(160), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    scenario: Mapped[str] = mapped_column(String(32))  # selling scenario: hospital_procurement, government_tender …
    value_cny: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    first_follow_up_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    account: Mapped[Account] = relationship()
    owner: Mapped[User | None] = relationship()


class Touchpoint(Base):
    __tablename__ = "touchpoints"
    # covering for "distinct channels per account in a period" (journey data coverage: 428 → 105 ms at scale 10)
    __table_args__ = (Index("ix_touchpoints_account_time_channel", "account_id", "occurred_at", "channel"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True, index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(24))  # website / wecom / email / expo / tender_site / phone / field
    occurred_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    asset: Mapped[str | None] = mapped_column(String(160), nullable=True)
    dwell_s: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Opportunity(Base):
    __tablename__ = "opportunities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scenario: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16))
    amount_cny: Mapped[int] = mapped_column(BigInteger)
    won: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    close_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    payment_date: Mapped[date | None] = mapped_column(Date, nullable=True)

    stage_changes: Mapped[list[StageChange]] = relationship(
        back_populates="opportunity", order_by="StageChange.changed_at"
    )


class StageChange(Base):
    __tablename__ = "stage_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime)

    opportunity: Mapped[Opportunity] = relationship(back_populates="stage_changes")


class Renewal(Base):
    __tablename__ = "renewals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), nullable=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    amount_cny: Mapped[int] = mapped_column(BigInteger)
    high_value: Mapped[bool] = mapped_column(Boolean)
    renewed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    decided_at: Mapped[date | None] = mapped_column(Date, nullable=True)


class Call(Base):
    __tablename__ = "calls"
    # the same recording is one call per rep: two reps who upload identical audio each get a call of their own
    __table_args__ = (UniqueConstraint("rep_id", "content_hash", name="uq_calls_rep_content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True, index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    source_file: Mapped[str | None] = mapped_column(String(512), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    speaker_separation: Mapped[bool] = mapped_column(Boolean, default=True)
    is_exemplar: Mapped[bool] = mapped_column(Boolean, default=False)

    turns: Mapped[list[CallTurn]] = relationship(back_populates="call", order_by="CallTurn.idx")


class CallTurn(Base):
    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))  # rep / customer / unknown
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)

    call: Mapped[Call] = relationship(back_populates="turns")


class CallMetric(Base):
    """One conversation metric of one call (names and definitions: speech/metrics.yaml)."""

    __tablename__ = "call_metrics"
    __table_args__ = (UniqueConstraint("call_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(48))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)


class CapabilityProfile(Base):
    __tablename__ = "capability_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    calls_used: Mapped[int] = mapped_column(Integer)
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSON)  # {dimension: {score, inputs, ...}}
    outcomes: Mapped[dict[str, Any]] = mapped_column(JSON)


class Drill(Base):
    __tablename__ = "drills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    dimension: Mapped[str] = mapped_column(String(32))
    title_zh: Mapped[str] = mapped_column(String(160))
    title_en: Mapped[str] = mapped_column(String(160))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    scenario_code: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DrillAssignment(Base):
    __tablename__ = "drill_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime)
    due_date: Mapped[date] = mapped_column(Date)
    repetitions: Mapped[int] = mapped_column(Integer, default=1)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PracticeSession(Base):
    """One practice dialogue: the transcript (per-turn kind, timing, pause), the scripted
    customer's state while it runs, and the scores once it ends (tools/practice)."""

    __tablename__ = "practice_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scenario_code: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    transcript: Mapped[list[Any]] = mapped_column(JSON, default=list)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the user's language (reports, advice)
    persona: Mapped[str | None] = mapped_column(String(16), nullable=True)  # scripted / llm
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the dialogue state (pain points earned …)
    # the drill assignment this session counts for (a drill whose scenario_code is this scenario)
    drill_assignment_id: Mapped[int | None] = mapped_column(ForeignKey("drill_assignments.id"), nullable=True, index=True)


class AISuggestion(Base):
    __tablename__ = "ai_suggestions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # next_best_action / routing / alert / drill …
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="shown")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


#: entity name (as `demo stats` prints it) → model
ENTITIES: dict[str, type[Base]] = {
    "regions": Region,
    "teams": Team,
    "users": User,
    "accounts": Account,
    "contacts": Contact,
    "leads": Lead,
    "touchpoints": Touchpoint,
    "opportunities": Opportunity,
    "stage_changes": StageChange,
    "renewals": Renewal,
    "calls": Call,
    "call_turns": CallTurn,
    "call_metrics": CallMetric,
    "capability_profiles": CapabilityProfile,
    "drills": Drill,
    "drill_assignments": DrillAssignment,
    "practice_sessions": PracticeSession,
    "ai_suggestions": AISuggestion,
    "audit_log": AuditLog,
}


class ApiToken(Base):
    """A per-user API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class InboundMessage(Base):
    """Every platform message accepted, once: the unique key makes retries idempotent
    across processes, and the row carries the answer's delivery state."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "platform_msg_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # wecom / teams / web
    platform_msg_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    platform_user_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # text / voice / event
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued / answered / failed
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)


class Job(Base):
    """Background work (transcription, indexing) whose state survives a restart."""

    __tablename__ = "jobs"
    # an upload queued twice by the same uploader (a retry, a double click, 50 at once) is one job
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key", name="uq_jobs_user_dedupe_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued / running / done / failed
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(100), nullable=True)  # "<rep id>:<sha256>" of an upload


class ConversationRef(Base):
    """Where to send proactive messages (alerts) to a user on a channel."""

    __tablename__ = "conversation_refs"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


ENTITIES.update({
    "api_tokens": ApiToken,
    "inbound_messages": InboundMessage,
    "jobs": Job,
    "conversation_refs": ConversationRef,
})


class IntentScoreSnapshot(Base):
    """A lead's intent score (CBI 0–100) as of the start (00:00 UTC) of one day — what the
    average-intent-score KPI averages. The CBI is computed in Python (tools/leads/, formula in
    tools/intent.yaml), so it is stored here by tools/intent_snapshots.py; one row per lead and date."""

    __tablename__ = "intent_scores"
    __table_args__ = (
        UniqueConstraint("lead_id", "as_of"),
        CheckConstraint("score >= 0 AND score <= 100", name="ck_intent_scores_score_0_100"),
        # covering for the KPI's average (212 → 133 ms at scale 10)
        Index("ix_intent_scores_lead_as_of_score", "lead_id", "as_of", "score"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)  # the score as of this date's 00:00
    score: Mapped[int] = mapped_column(Integer)  # CBI 0–100
    tier: Mapped[str] = mapped_column(String(1))  # S / A / B / C
    confidence: Mapped[float] = mapped_column(Float)  # 0–1
    events_used: Mapped[int] = mapped_column(Integer)  # consented touchpoints inside the score window


ENTITIES["intent_scores"] = IntentScoreSnapshot


# -- lead intelligence (issue 10): routing, its weights and feedback; signal alerts ----------------

ROUTING_KINDS = ("auto", "dual", "nurture", "review")
ROUTING_STATUSES = ("assigned", "pending_review", "approved", "overridden", "nurture", "dry_run")
WEIGHT_VERSION_STATUSES = ("active", "pending", "retired", "rejected")
FEEDBACK_REASONS = ("invalid", "competitor", "wrong_fit")
ALERT_STATUSES = ("shown", "adopted", "dismissed", "expired", "escalated")


class RoutingWeightVersion(Base):
    """One version of the routing weights (tools/routing.yaml is version 1). Exactly one is
    ``active``; feedback proposes ``pending`` versions a manager approves (the previous active
    one becomes ``retired``) or rejects; reverting re-activates a retired version."""

    __tablename__ = "routing_weight_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # see WEIGHT_VERSION_STATUSES
    based_on: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version it changes
    reason: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RoutingDecision(Base):
    """Who a new or re-opened lead went to, and why: the candidates' factor scores, the weights
    version, the kind (auto / dual follow-up / nurture pool / manager review) and its state."""

    __tablename__ = "routing_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # see ROUTING_KINDS
    status: Mapped[str] = mapped_column(String(16), index=True)  # see ROUTING_STATUSES
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)  # the regional rep
    specialist_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)  # dual follow-up
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the chosen rep's total
    intent_score: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(1))
    confidence: Mapped[float] = mapped_column(Float)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON)  # {factors, candidates, review_reasons, events}
    weights_version: Mapped[int] = mapped_column(Integer)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)  # None: the engine
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    respond_by: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # the follow-up deadline


class LeadFeedback(Base):
    """A rep's verdict on a routed lead (invalid / signed with a competitor / wrong fit), the
    factor or signal it blames, and the weights version it proposed (pending review)."""

    __tablename__ = "lead_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("routing_decisions.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(16))  # see FEEDBACK_REASONS
    note: Mapped[str] = mapped_column(Text, default="")
    attribution: Mapped[dict[str, Any]] = mapped_column(JSON)
    proposed_version_id: Mapped[int | None] = mapped_column(ForeignKey("routing_weight_versions.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Alert(Base):
    """A signal rule (tools/signals.yaml) that fired for a lead: sent to the owner with its
    evidence and a suggested action; escalated to the manager when not acted on in time.
    ``fire_key`` makes a re-run log the same firing once. The alert is also logged as an
    AISuggestion (kind ``alert:<rule>``) so the AI-suggestion adoption KPI counts alerts."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(48), index=True)
    fire_key: Mapped[str] = mapped_column(String(160), unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    title: Mapped[str] = mapped_column(Text)  # in the owner's language
    action: Mapped[str] = mapped_column(Text)  # the suggested action, in the owner's language
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="shown", index=True)  # see ALERT_STATUSES
    fired_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # the last evidence event's time
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    delivered: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # channel → time / error
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("ai_suggestions.id"), nullable=True)


ENTITIES.update({
    "routing_weight_versions": RoutingWeightVersion,
    "routing_decisions": RoutingDecision,
    "lead_feedback": LeadFeedback,
    "alerts": Alert,
})


class Conversation(Base):
    """One web chat thread of one user: listed by its title (the first question) and date,
    reopened with its messages; ``thread_id`` is the copilot's checkpointer thread."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("user_id", "thread_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    thread_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16), default="web")
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)

    messages: Mapped[list[ChatMessage]] = relationship(back_populates="conversation", order_by="ChatMessage.id",
                                                       cascade="all, delete-orphan")


class ChatMessage(Base):
    """A question (role ``user``) or an answer (role ``assistant``, with its tools, evidence,
    confidence and charts) in a conversation."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user / assistant
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    tools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class AnswerFeedback(Base):
    """A 👍 (+1) or 👎 (-1) on one answer, with an optional reason, kept with the question, the
    answer, its tools and evidence — what the "answer helpfulness" KPI counts and what
    ``repcopilot eval export-feedback`` turns into eval cases. One verdict per user and answer
    (a second click changes it)."""

    __tablename__ = "answer_feedback"
    __table_args__ = (UniqueConstraint("message_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)  # +1 helpful, -1 not
    reason: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    tool: Mapped[str] = mapped_column(String(48))  # the answer's first tool ("none" when it used none)
    tools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


ENTITIES.update({
    "conversations": Conversation,
    "chat_messages": ChatMessage,
    "answer_feedback": AnswerFeedback,
})


class Blob(Base):
    """A stored file (an uploaded call, a WeCom voice message, a practice recording, a chart)
    when the blob store is the database (several nodes): its bytes are in ``blob_chunks``."""

    __tablename__ = "blobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # "uploads/<uuid>.wav", "charts/<user>-<id>.png"
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)  # readable only once every chunk is in
    created_at: Mapped[datetime] = mapped_column(DateTime)


class BlobChunk(Base):
    """One piece (at most 1 MiB) of a blob, so neither writing nor reading holds a whole file in memory."""

    __tablename__ = "blob_chunks"
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PracticeScenarioRecord(Base):
    """A trainer-created practice scenario (its validated YAML), shared by every node."""

    __tablename__ = "practice_scenarios"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class KnowledgeChunk(Base):
    """The knowledge catalog in the main database (several nodes): one row per chunk, with the
    pre-tokenised keyword body (CJK bigrams + words + partition/access tokens); on PostgreSQL a
    GIN index over ``to_tsvector('simple', body)`` (migration 0007) serves keyword search."""

    __tablename__ = "kb_chunks"
    __table_args__ = (Index("ix_kb_chunks_body_tsv", text("to_tsvector('simple', body)"),
                            postgresql_using="gin").ddl_if(dialect="postgresql"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk_id: Mapped[str] = mapped_column(String(200), unique=True)
    partition: Mapped[str] = mapped_column(String(100), index=True)
    rep_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exemplar: Mapped[bool] = mapped_column(Boolean, default=False)
    document: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text)


class KnowledgeSource(Base):
    """An indexed file or call: its digest and chunk ids (re-indexing the same content is a no-op)."""

    __tablename__ = "kb_sources"
    source_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    chunk_ids: Mapped[str] = mapped_column(Text)  # JSON [[chunk id, partition], …]


class KnowledgePartition(Base):
    __tablename__ = "kb_partitions"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    chunks: Mapped[int] = mapped_column(Integer, default=0)


class KnowledgeMeta(Base):
    """The shared catalog's facts: which embedder made its vectors, the hub-probe digest."""

    __tablename__ = "kb_meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class KnowledgePending(Base):
    """A chunk indexed for keyword search whose vector `kb sync` still has to add."""

    __tablename__ = "kb_pending"
    chunk_id: Mapped[str] = mapped_column(String(200), primary_key=True)

