"""Signal rules over touchpoint sequences (``tools/signals.yaml``) and the alerts they raise.

``run_signals`` evaluates the rules over a time window of touchpoints: the candidate leads are
the open leads with a touchpoint in the window (their own, or a lead-less one of their account,
e.g. a public tender notice); each lead's consented touchpoints are loaded in batches; a rule that
fires for a lead — with evidence inside the window — becomes one ``Alert`` (``fire_key`` unique:
a re-run logs nothing twice) plus an ``AISuggestion`` ``alert:<rule>`` so the adoption KPI counts
it. The same run escalates unanswered alerts to the manager and expires old ones.

Consent: touchpoints of contacts without recorded consent never make a rule fire and are never
evidence; the run reports how many there were in the window (aggregate only).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, func, select, update

from core.errors import ConfigError, PermissionDenied, UserInputError
from crm.access import visible_leads
from crm.models import Account, AISuggestion, Alert, AuditLog, Contact, Lead, Opportunity, Team, Touchpoint, User
from crm.policy import is_admin, is_manager
from crm.roles import Role
from tools.context import ToolContext
from tools.leads import (
    RuleInput,
    Touch,
    cbi_from_raw,
    check_bid_unopened_then_policy,
    check_tech_doc_streak_and_expo,
    compute_intent,
    load_intent_config,
    local_day_start,
    refuse_trainer,
)
from tools.routing import available
from tools.text import describe_touch, fmt_time

SIGNALS_CONFIG_PATH = Path(__file__).with_name("signals.yaml")
OPEN_STATUSES = ("new", "contacted", "qualified", "nurture")
ALERT_KIND_PREFIX = "alert:"
CHUNK = 500


@dataclass
class SignalInput:
    lead: Lead
    owner: User | None
    touches: list[Touch]  # consented (or contact-less), time order, up to ``until``
    since: datetime
    until: datetime
    rule_input: RuleInput
    tender_wins: dict[int, int]  # rep id → won deals in tender scenarios
    experts: list[User]  # available reps, most tender wins first
    language: str


@dataclass
class SignalHit:
    touches: list[Touch]
    fill: dict[str, Any]
    key: str  # what makes this firing unique for the lead (an event id, a day)
    extra_events: int = 0


def check_cbi_jump(inp: SignalInput, p: dict[str, Any]) -> SignalHit | None:
    """The CBI at the window's end reaches ``threshold`` and rose by ≥ ``min_jump`` since the
    window's start (or ``over_days`` before its end, whichever is earlier)."""
    cfg = load_intent_config()
    scale = cfg["score"]["scale"]
    before_at = min(inp.since, inp.until - timedelta(days=p["over_days"]))
    raw_after, _, parts = compute_intent(inp.touches, inp.until, cfg)
    after = cbi_from_raw(raw_after, scale)
    if after < p["threshold"]:
        return None
    before = cbi_from_raw(compute_intent(inp.touches, before_at, cfg)[0], scale)
    if before >= p["threshold"] or after - before < p["min_jump"]:
        return None
    new = sorted([(c, t) for c, t in parts if t.occurred_at > before_at], key=lambda x: -x[0])[:5]
    if not new:
        return None
    day = local_day_start(inp.until, cfg["day_offset_hours"]).date().isoformat()
    return SignalHit(sorted((t for _, t in new), key=lambda t: t.occurred_at),
                     {"before": before, "after": after, "threshold": p["threshold"]}, day, extra_events=len(new) - 1)


def _from_rule(check) -> Callable[[SignalInput, dict[str, Any]], SignalHit | None]:
    def run(inp: SignalInput, p: dict[str, Any]) -> SignalHit | None:
        hit = check(inp.rule_input, p)
        if hit is None or not hit.touches:
            return None
        return SignalHit(hit.touches, hit.fill, f"tp{max(t.id for t in hit.touches)}", hit.extra_events)
    run.__doc__ = check.__doc__
    return run


def _needs_tender_support(owner: User | None, tender_wins: dict[int, int]) -> bool:
    """The lead's owner is a rep with no won deal in a tender scenario."""
    return owner is not None and owner.role == Role.REP and tender_wins.get(owner.id, 0) <= 0


def tender_expert(owner: User, experts: list[User]) -> User | None:
    """The available rep with the most tender wins: on the owner's team if there is one, else anyone."""
    return next((u for u in experts if u.id != owner.id and u.team_id == owner.team_id), None) or \
        next((u for u in experts if u.id != owner.id), None)


def _tender_fill(owner: User, expert: User | None, tender_wins: dict[int, int], language: str) -> dict[str, Any]:
    zh = language == "zh"
    if expert is None:
        return {"owner": owner.name if zh else owner.name_en, "expert": "区域经理" if zh else "the regional manager",
                "wins": 0, "expert_login": None}
    return {"owner": owner.name if zh else owner.name_en, "expert": expert.name if zh else expert.name_en,
            "wins": tender_wins.get(expert.id, 0), "expert_login": expert.login}


def check_tender_without_experience(inp: SignalInput, p: dict[str, Any]) -> SignalHit | None:
    """A tender notice naming the account within lookback_days, and the lead's owner has no won deal
    in a tender scenario: suggest the available rep with the most tender wins as expert support."""
    if not _needs_tender_support(inp.owner, inp.tender_wins):
        return None
    since = inp.until - timedelta(days=p["lookback_days"])
    notices = [t for t in inp.touches if t.kind == "tender_notice" and t.occurred_at >= since]
    if not notices:
        return None
    fill = _tender_fill(inp.owner, tender_expert(inp.owner, inp.experts), inp.tender_wins, inp.language)
    return SignalHit(notices[-1:], fill, f"tp{notices[-1].id}")


SIGNAL_CHECKS: dict[str, Callable[[SignalInput, dict[str, Any]], SignalHit | None]] = {
    "cbi_jump": check_cbi_jump,
    "tech_doc_streak_and_expo": _from_rule(check_tech_doc_streak_and_expo),
    "bid_unopened_then_policy": _from_rule(check_bid_unopened_then_policy),
    "tender_without_experience": check_tender_without_experience,
}


@lru_cache(maxsize=4)
def load_signal_config(path: Path = SIGNALS_CONFIG_PATH) -> dict[str, Any]:
    """The signal rules, validated: known checks, unique ids, both languages' texts."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the signal rules {path}: {exc}") from None
    seen: set[str] = set()
    for rule in cfg.get("rules") or []:
        if rule.get("check") not in SIGNAL_CHECKS:
            raise ConfigError(f"signal rule {rule.get('id')!r} names an unknown check {rule.get('check')!r} in {path}; "
                              f"known checks: {', '.join(SIGNAL_CHECKS)}")
        missing = [k for k in ("name_zh", "name_en", "title_zh", "title_en", "action_zh", "action_en", "confidence") if k not in rule]
        if missing:
            raise ConfigError(f"signal rule {rule['id']!r} lacks {', '.join(missing)} in {path}")
        if rule["id"] in seen or len(ALERT_KIND_PREFIX + rule["id"]) > 32:
            raise ConfigError(f"signal rule id {rule['id']!r} is repeated or longer than 26 characters in {path}")
        seen.add(rule["id"])
    for key in ("escalate_after_hours", "expire_after_days"):
        if float(cfg.get(key, 0)) <= 0:
            raise ConfigError(f"{key} must be a positive number in {path}")
    return cfg


def rule_by_id(rule_id: str) -> dict[str, Any]:
    for rule in load_signal_config()["rules"]:
        if rule["id"] == rule_id:
            return rule
    raise UserInputError(f"unknown signal rule {rule_id!r}; the rules are "
                         f"{', '.join(r['id'] for r in load_signal_config()['rules'])} (tools/signals.yaml)")


# -- evaluation --------------------------------------------------------------------------------

@dataclass
class Firing:
    rule: str
    lead_id: int
    account_id: int
    owner_id: int | None
    fire_key: str
    title: str
    action: str
    evidence: list[dict[str, Any]]
    confidence: float
    fired_at: datetime
    language: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fired_at"] = fmt_time(self.fired_at)
        return data


@dataclass
class SignalRun:
    since: str
    until: str
    dry_run: bool
    leads_checked: int
    fired: dict[str, int]  # rule → firings found in the window
    new_alerts: int  # alerts logged by this run (re-runs log 0)
    escalated: int
    expired: int
    excluded_without_consent: int  # touchpoints in the window from contacts without consent (aggregate)
    seconds: float
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _touch_evidence(t: Touch, language: str) -> dict[str, Any]:
    return {"kind": "touchpoint", "id": str(t.id), "time": fmt_time(t.occurred_at), "event_kind": t.kind,
            "text": describe_touch(t.kind, t.asset, t.title, t.dwell_s, language)}


def _manager_of_team(session, team_id: int | None, cache: dict) -> User | None:
    if team_id not in cache:
        cache[team_id] = session.scalar(select(User).where(User.team_id == team_id, User.role == Role.MANAGER).limit(1)) \
            if team_id is not None else None
    return cache[team_id]


def _window_candidates(session, *, since: datetime, until: datetime, lead_scope) -> tuple[list[Lead] | None, int]:
    """The open leads with a touchpoint in the window (their own, or a lead-less one of their
    account), in id order — None when the window has no touchpoint at all — and the count of the
    window's touchpoints from contacts without consent."""
    in_window = and_(Touchpoint.occurred_at >= since, Touchpoint.occurred_at <= until)
    lead_ids = set(session.scalars(select(Touchpoint.lead_id).where(in_window, Touchpoint.lead_id.is_not(None)).distinct()))
    account_ids = set(session.scalars(select(Touchpoint.account_id).where(in_window, Touchpoint.lead_id.is_(None)).distinct()))
    excluded = session.scalar(select(func.count()).select_from(Touchpoint).join(Contact, Contact.id == Touchpoint.contact_id)
                              .where(in_window, Contact.consent_tracking.is_(False))) or 0
    if not lead_ids and not account_ids:
        return None, excluded
    stmt = lead_scope if lead_scope is not None else select(Lead)
    seen: dict[int, Lead] = {}
    ids_sorted, acc_sorted = sorted(lead_ids), sorted(account_ids)
    for i in range(0, len(ids_sorted), CHUNK):
        for lead in session.scalars(stmt.where(Lead.id.in_(ids_sorted[i:i + CHUNK]), Lead.status.in_(OPEN_STATUSES))):
            seen.setdefault(lead.id, lead)
    for i in range(0, len(acc_sorted), CHUNK):
        for lead in session.scalars(stmt.where(Lead.account_id.in_(acc_sorted[i:i + CHUNK]), Lead.status.in_(OPEN_STATUSES))):
            seen.setdefault(lead.id, lead)
    return sorted(seen.values(), key=lambda x: x.id), excluded


def tender_experts(session, cfg: dict[str, Any], users: dict[int, User], today) -> tuple[dict[int, int], list[User]]:
    """Won deals in tender scenarios per rep, and the available reps with any, most wins first."""
    tender_scen = next((r["params"].get("tender_scenarios") for r in cfg["rules"] if r["check"] == "tender_without_experience"), None) or []
    tender_wins = dict(session.execute(select(Opportunity.owner_id, func.count()).where(
        Opportunity.won.is_(True), Opportunity.scenario.in_(tender_scen)).group_by(Opportunity.owner_id)).all()) if tender_scen else {}
    experts = sorted([u for u in users.values() if u.role == Role.REP and available(u, today) and tender_wins.get(u.id, 0) > 0],
                     key=lambda u: (-tender_wins[u.id], u.id))
    return tender_wins, experts


@dataclass
class _Window:
    """What every lead of one evaluation shares: the window, the configuration, people and teams."""
    session: Any
    since: datetime
    until: datetime
    cfg: dict[str, Any]
    icfg: dict[str, Any]
    users: dict[int, User]
    region_team: dict[int, int]
    tender_wins: dict[int, int]
    experts: list[User]
    account_region: dict[int, int] = field(default_factory=dict)
    managers: dict = field(default_factory=dict)

    @property
    def lookback_days(self) -> int:
        """The longest reach back any rule (or the intent score) needs."""
        return max([int(r.get("params", {}).get("lookback_days", 0)) for r in self.cfg["rules"]] + [self.icfg["score"]["window_days"]])

    @property
    def account_window(self) -> dict[str, Any]:
        return self.icfg["score"]["account_touches"]


def load_chunk_touches(w: _Window, chunk: list[Lead]) -> tuple[dict[int, list[Touch]], dict[int, list[Touch]]]:
    """The consented touchpoints of a chunk of leads: their own (by lead id) and their accounts'
    lead-less ones (by account id), each in time order; also records the accounts' regions."""
    c_ids = [x.id for x in chunk]
    c_acc = sorted({x.account_id for x in chunk})
    for aid, rid in w.session.execute(select(Account.id, Account.region_id).where(Account.id.in_(c_acc))):
        w.account_region[aid] = rid
    lookback = w.lookback_days
    own_since = w.until - timedelta(days=lookback)
    acct_since = w.until - timedelta(days=max(w.account_window["window_days"], lookback))
    factor = float(w.account_window["factor"])
    cols = (Touchpoint.id, Touchpoint.kind, Touchpoint.occurred_at, Touchpoint.asset, Touchpoint.dwell_s,
            Touchpoint.contact_id, Touchpoint.lead_id, Touchpoint.account_id, Contact.consent_tracking, Contact.title)
    # two indexed queries (an OR-ed one makes SQLite scan the table)
    # the leads' own touchpoints by lead id, the window applied in Python (in SQL, SQLite range-scans the time index)
    rows = [r for r in w.session.execute(select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
        Touchpoint.lead_id.in_(c_ids))) if own_since <= r[2] <= w.until]
    rows += w.session.execute(select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
        Touchpoint.account_id.in_(c_acc), Touchpoint.occurred_at >= acct_since, Touchpoint.occurred_at <= w.until,
        Touchpoint.lead_id.is_(None)))
    rows.sort(key=lambda r: (r[2], r[0]))
    own: dict[int, list[Touch]] = defaultdict(list)
    acct: dict[int, list[Touch]] = defaultdict(list)
    for tid, kind, at, asset, dwell, cid, lid, aid, consent, title in rows:
        if cid is not None and not consent:
            continue
        if lid is None:
            acct[aid].append(Touch(tid, kind, at, asset, dwell, cid, title, None, factor))
        else:
            own[lid].append(Touch(tid, kind, at, asset, dwell, cid, title, lid, 1.0))
    return own, acct


def lead_touches(w: _Window, lead: Lead, own: dict[int, list[Touch]], acct: dict[int, list[Touch]]) -> list[Touch]:
    """A lead's own touchpoints plus its account's recent lead-less ones (tender notices at any age)."""
    recent = w.until - timedelta(days=w.account_window["window_days"])
    account_level = [t for t in acct.get(lead.account_id, []) if t.kind == "tender_notice" or t.occurred_at >= recent]
    return sorted(own.get(lead.id, []) + account_level, key=lambda t: (t.occurred_at, t.id))


def _recipient(w: _Window, lead: Lead) -> tuple[User | None, User | None]:
    """(owner, who gets the alert): the lead's owner, else the manager of the account's region's team."""
    owner = w.users.get(lead.owner_id) if lead.owner_id else None
    recipient = owner or _manager_of_team(w.session, w.region_team.get(w.account_region.get(lead.account_id)), w.managers)
    return owner, recipient


def _firing(rule: dict[str, Any], lead: Lead, hit: SignalHit, recipient: User | None, last: datetime, language: str) -> Firing:
    zh = language == "zh"
    fill = dict(hit.fill)
    return Firing(
        rule["id"], lead.id, lead.account_id, recipient.id if recipient else None,
        f"{rule['id']}:{lead.id}:{hit.key}",
        (rule["title_zh"] if zh else rule["title_en"]).format(**fill),
        (rule["action_zh"] if zh else rule["action_en"]).format(**fill),
        [_touch_evidence(t, language) for t in hit.touches[:5]],
        round(min(0.95, rule["confidence"] + 0.03 * max(0, hit.extra_events)), 2), last, language)


def lead_firings(w: _Window, lead: Lead, touches: list[Touch]) -> list[Firing]:
    """Every rule that fires for the lead with its last evidence inside the window."""
    owner, recipient = _recipient(w, lead)
    language = (recipient.language if recipient and recipient.language in ("zh", "en") else "zh")
    day_offset = timedelta(hours=w.icfg["day_offset_hours"])
    rin = RuleInput(lead, touches, [t.occurred_at for t in touches], w.until, False, w.icfg["follow_up_hours"], day_offset)
    inp = SignalInput(lead, owner, touches, w.since, w.until, rin, w.tender_wins, w.experts, language)
    firings = []
    for rule in w.cfg["rules"]:
        hit = SIGNAL_CHECKS[rule["check"]](inp, rule.get("params", {}))
        if hit is None:
            continue
        last = max(t.occurred_at for t in hit.touches)
        if last < w.since:  # fired before this window: not news
            continue
        firings.append(_firing(rule, lead, hit, recipient, last, language))
    return firings


def evaluate_window(session, *, since: datetime, until: datetime, lead_scope=None) -> tuple[list[Firing], int, int]:
    """(firings, leads checked, non-consented touchpoints in the window). No writes.
    ``lead_scope`` (a SELECT of leads) limits the candidates to what the asker may see."""
    cfg = load_signal_config()
    leads, excluded = _window_candidates(session, since=since, until=until, lead_scope=lead_scope)
    if leads is None:
        return [], 0, excluded
    users = {u.id: u for u in session.scalars(select(User))}
    region_team = {rid: tid for tid, rid in session.execute(select(Team.id, Team.region_id))}
    tender_wins, experts = tender_experts(session, cfg, users, until.date())
    w = _Window(session, since, until, cfg, load_intent_config(), users, region_team, tender_wins, experts)
    firings: list[Firing] = []
    for i in range(0, len(leads), CHUNK):
        chunk = leads[i:i + CHUNK]
        own, acct = load_chunk_touches(w, chunk)
        for lead in chunk:
            touches = lead_touches(w, lead, own, acct)
            if touches:
                firings.extend(lead_firings(w, lead, touches))
    return firings, len(leads), excluded


def _refuse_rep(ctx: ToolContext) -> None:
    refuse_trainer(ctx)
    if not (is_manager(ctx.user) or is_admin(ctx.user)):
        raise PermissionDenied(ctx.t("只有经理和管理员可以运行信号规则;你可以用 `repcopilot alerts list` 查看自己的提醒。",
                                     "Only managers and admins run the signal rules; see your own alerts with `repcopilot alerts list`."))


def store_firings(session, firings: list[Firing], *, now: datetime) -> list[int]:
    """Log each firing once (``fire_key``): an Alert + its AISuggestion. The ids of the new alerts."""
    cfg = load_signal_config()
    if not firings:
        return []
    keys = [f.fire_key for f in firings]
    known: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        known |= set(session.scalars(select(Alert.fire_key).where(Alert.fire_key.in_(keys[i:i + CHUNK]))))
    new_ids = []
    for f in firings:
        if f.fire_key in known or f.owner_id is None:
            continue
        known.add(f.fire_key)
        sugg = AISuggestion(user_id=f.owner_id, kind=ALERT_KIND_PREFIX + f.rule, lead_id=f.lead_id, account_id=f.account_id,
                            text=f"{f.title} — {f.action}", evidence=f.evidence, confidence=f.confidence, status="shown",
                            created_at=now)
        session.add(sugg)
        session.flush()
        alert = Alert(rule=f.rule, fire_key=f.fire_key, lead_id=f.lead_id, account_id=f.account_id, owner_id=f.owner_id,
                      title=f.title, action=f.action, evidence=f.evidence, confidence=f.confidence, status="shown",
                      fired_at=f.fired_at, created_at=now, escalate_at=now + timedelta(hours=cfg["escalate_after_hours"]),
                      expires_at=now + timedelta(days=cfg["expire_after_days"]), delivered={"web": fmt_time(now)},
                      suggestion_id=sugg.id)
        session.add(alert)
        session.flush()
        new_ids.append(alert.id)
    return new_ids


def escalate_due(session, *, now: datetime) -> int:
    """Alerts still ``shown`` past their escalate_at go to the owner's manager (status escalated)."""
    n = 0
    managers: dict = {}
    for alert in session.scalars(select(Alert).where(Alert.status == "shown", Alert.escalate_at <= now)):
        owner = session.get(User, alert.owner_id) if alert.owner_id else None
        manager = _manager_of_team(session, owner.team_id if owner else None, managers)
        if manager is None or manager.id == alert.owner_id:
            continue
        alert.status, alert.escalated_at, alert.escalated_to_id = "escalated", now, manager.id
        session.add(AuditLog(at=now, user_id=None, action="alert.escalated", target=f"alert:{alert.id}",
                             detail={"to": manager.id, "automatic": True}))
        n += 1
    session.flush()
    return n


def expire_due(session, *, now: datetime) -> int:
    """Alerts not acted on by expires_at become ``expired`` (and so does their AISuggestion)."""
    rows = list(session.scalars(select(Alert).where(Alert.status.in_(("shown", "escalated")), Alert.expires_at <= now)))
    for alert in rows:
        alert.status, alert.decided_at = "expired", now
        if alert.suggestion_id:
            session.execute(update(AISuggestion).where(AISuggestion.id == alert.suggestion_id, AISuggestion.status == "shown")
                            .values(status="expired", decided_at=now).execution_options(synchronize_session=False))
    session.flush()
    return len(rows)


def run_signals(*, ctx: ToolContext, since: datetime | None = None, until: datetime | None = None,
                dry_run: bool = False) -> SignalRun:
    """Evaluate the signal rules over the touchpoints of [since, until] (default: the last day) for
    the leads the asker may see; unless ``dry_run``, log new alerts once, escalate and expire. The caller commits."""
    _refuse_rep(ctx)
    t0 = time.perf_counter()
    until = until or ctx.now()
    since = since or until - timedelta(days=1)
    if since >= until:
        raise UserInputError(ctx.t(f"--since({since:%Y-%m-%d %H:%M})必须早于结束时间({until:%Y-%m-%d %H:%M})。",
                                   f"--since ({since:%Y-%m-%d %H:%M}) must be before the end of the window ({until:%Y-%m-%d %H:%M})."))
    scope = None if ctx.scope.everything else visible_leads(ctx.session, ctx.user)
    firings, checked, excluded = evaluate_window(ctx.session, since=since, until=until, lead_scope=scope)
    new_ids: list[int] = []
    escalated = expired = 0
    if not dry_run:
        now = ctx.now()
        new_ids = store_firings(ctx.session, firings, now=now)
        escalated = escalate_due(ctx.session, now=now)
        expired = expire_due(ctx.session, now=now)
        ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="signals.run", target=None,
                                 detail={"since": fmt_time(since), "until": fmt_time(until), "new_alerts": len(new_ids)}))
        ctx.session.flush()
    fired = dict(sorted(Counter(f.rule for f in firings).items()))
    shown = []
    for f in firings[:200]:
        j = f.to_json()
        if ctx.anonymized:
            rule = rule_by_id(f.rule)
            j["title"] = rule["name_zh"] if ctx.language == "zh" else rule["name_en"]
            j["evidence"] = [{"kind": "aggregate", "text": f"{k} × {n}"}
                             for k, n in sorted(Counter(e["event_kind"] for e in f.evidence).items())]
        shown.append(j)
    return SignalRun(fmt_time(since), fmt_time(until), dry_run, checked, fired, len(new_ids), escalated, expired, excluded,
                     round(time.perf_counter() - t0, 3), shown)
