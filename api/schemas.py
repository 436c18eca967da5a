"""Response models of the JSON routes: what the OpenAPI page (``/docs``) documents for each answer.

They describe the dicts the routes already return and must never change them:

- every model allows extra keys (``extra="allow"``), so a key not declared here is still returned;
- a field is declared only when the route always returns it (no defaults: FastAPI would add an
  omitted key), with a type loose enough never to fail (``Any`` where a value may be an int or a
  float, nested data as plain dicts and lists);
- the declared fields are, in order, the first keys of the route's dict: a model dumps its declared
  fields first and the extra keys after them, so this keeps every answer byte-identical.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    """A JSON object whose undeclared keys are returned as they are."""

    model_config = ConfigDict(extra="allow")


Number = Any  # an int or a float as the tool computed it (a declared float would turn 3 into 3.0)


# -- alerts -------------------------------------------------------------------------------------

class AlertOut(Open):
    id: int
    rule: str = Field(description="the signal rule that raised the alert")
    lead_id: int | None
    lead: str | None = Field(description="the lead's name")
    owner: str | None = Field(description="login of the alert's owner")
    title: str
    action: str = Field(description="the suggested next action")
    evidence: list[dict[str, Any]] = Field(description="up to 5 events behind the alert (counts per kind in anonymized mode)")
    confidence: Number
    status: str = Field(description="shown / adopted / dismissed / expired / escalated")
    created_at: str
    escalated_to: str | None = Field(description="login of the manager it was escalated to")
    expires_at: str | None
    suggestion_id: int | None


class AlertExplanationOut(Open):
    subject: str = Field(description="alert:ID")
    summary: str
    factors: list[dict[str, Any]] = Field(description="{factor, label, value, weight, contribution}")
    events: list[dict[str, Any]] = Field(description="up to 5 events: {id, time, text, weight} (counts only in anonymized mode)")
    confidence: Number
    method: str = Field(description="how the confidence was computed")
    anonymized: bool
    markdown: str = Field(description="the explanation as a markdown report, in the caller's language")


# -- calls ----------------------------------------------------------------------------------------

class CallViewOut(Open):
    call_id: int
    title: str
    audio: bool = Field(description="true when the recording is kept (GET /api/calls/{id}/audio plays it)")
    html: str = Field(description="the page body rendered server-side: timeline, metrics, marked transcript")
    pain_point_pauses: list[dict[str, Any]] = Field(description="{turn, at_s, pause_s} for each pause after a pain point")


# -- conversations and feedback ----------------------------------------------------------------

class ConversationSummaryOut(Open):
    thread_id: str
    title: str | None = Field(description="the conversation's first question")
    created_at: str
    updated_at: str
    answers: int = Field(description="how many answers the conversation holds")


class ChatMessageOut(Open):
    """A question (role ``user``) or an answer (role ``assistant``: + html, tools, evidence, confidence,
    images, rating, links)."""

    id: int = Field(description="the message id (an answer's is what POST /api/answers/{message_id}/feedback rates)")
    role: str = Field(description="user / assistant")
    text: str | None
    language: str | None
    created_at: str


class ConversationDetailOut(Open):
    thread_id: str
    title: str | None
    created_at: str
    messages: list[ChatMessageOut]


class FeedbackOut(Open):
    message_id: int
    rating: str = Field(description="up / down")
    reason: str
    tool: str = Field(description="the first tool the answer used, or none")


# -- practice ---------------------------------------------------------------------------------------

class ScenarioListOut(Open):
    scenarios: list[dict[str, Any]] = Field(description="{code, title, language, industry, skill, persona, pain_points, "
                                                        "objections, rubric_checks, source}")
    errors: list[Any] = Field(description="trainer scenario files that do not validate (trainers and admins only)")


class ScenarioBriefOut(Open):
    """The brief; trainers and admins also get budget, decision_process, pain_points, objections and rubric."""

    code: str
    title: str
    language: str
    industry: Any
    skill: Any


class PracticeStartOut(Open):
    session_id: int
    scenario: str = Field(description="the scenario code")
    title: str
    language: Any
    situation: Any
    persona: Any
    opening: Any = Field(description="the customer's opening line")


class PracticeTurnOut(Open):
    """+ ``report`` and ``scores`` when the session ended with this turn."""

    session_id: int
    rep: dict[str, Any] = Field(description="{idx, kind, text, pause_s}")
    customer: dict[str, Any] = Field(description="{idx, text}: the customer's reply")
    running: dict[str, Any] | None = Field(description="the running counts: questions, why-questions, pain points found …")
    ended: bool


class PracticeResultOut(Open):
    session_id: int
    scenario: str
    transcript: list[dict[str, Any]]
    scores: dict[str, Any] = Field(description="empty until the session ended")
    rubric: Any = Field(description="the rubric verdicts, each citing the turn that shows it")
    pain_points_found: Any
    report: Any = Field(description="the report (null until the session ended)")


class PracticeSessionOut(PracticeResultOut):
    ended: bool


class PracticeSessionRowOut(Open):
    id: int
    rep: str = Field(description="the rep's login")
    scenario: str
    persona: Any
    started_at: str
    ended_at: str | None
    turns: int
    overall: Number
    discovery: Number
    rubric: Number


class PracticeReportOut(Open):
    sessions: int = Field(description="how many ended sessions the report covers")
    rows: list[dict[str, Any]] = Field(description="{rep, scenario, sessions, first, last, best, trend, …} per rep and scenario")
    by_rep: dict[str, Any] = Field(description="mean overall score per rep")
    by_scenario: dict[str, Any] = Field(description="mean overall score per scenario")


# -- KPI and suggestions ------------------------------------------------------------------------------

class KpiOut(Open):
    metric: str
    label: str
    unit: Any
    spec: dict[str, Any] = Field(description="the compiled query: metric, dimensions, filters, period, compare …")
    period: dict[str, Any] | None
    value: Number
    numerator: Number
    denominator: Number
    rows: Any = Field(description="the breakdown rows, when the question asked for one")
    definition: Any = Field(description="the metric's definition (口径)")
    sql: Any
    comparison: Any
    chart: str | None = Field(description="the chart's URL (GET with the same token), or null")
    scope: Any = Field(description="whose data the answer covers")
    text: str = Field(description="the answer as text")


class SuggestionOut(Open):
    id: int
    user_id: int = Field(description="whose suggestion it is")
    owner_login: str | None
    kind: str
    rule: str | None
    lead_id: int | None
    account_id: int | None
    text: str | None
    evidence: list[Any]
    confidence: Number
    status: str = Field(description="shown / adopted / dismissed / expired")
    created_at: str
    decided_at: str | None


class SuggestionDecisionOut(Open):
    suggestion: SuggestionOut
    changed: bool = Field(description="false: it had already been decided this way (nothing written)")
    message: str


# -- uploads and jobs ----------------------------------------------------------------------------------

class JobOut(Open):
    id: int
    kind: str
    status: str = Field(description="queued / running / done / failed")
    result: Any = Field(description="the job's result once done")
    error: str | None = Field(description="why it failed")
    attempts: int
    created_at: str
    updated_at: str


class UploadedJobOut(JobOut):
    duplicate: bool = Field(description="true: the same file was uploaded before and this is its first job (status 200)")
    status_url: str = Field(description="poll this for the job's state")
