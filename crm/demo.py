"""The demo company: a deterministic, bilingual B2B seller of medical devices, industrial
software and SaaS, with a year of customer behaviour, deals and recorded calls.

The rows are generated and written here; ``tools.demo_setup.build_demo(engine, seed=7, scale=1)``
builds the whole demo (with the intent snapshots, call metrics and knowledge that need tools/)
and is idempotent: a database that already holds the demo company with the same seed and scale
is left as it is; a different one is refused.

What the generator plants on purpose (so later metrics can find it):
- each rep has hidden traits — patience (seconds waited after a customer states a pain
  point), curiosity (share of questions that ask *why*), talkativeness — and reps who are
  patient and curious win more of their deals (the seed: ~2.3 s pauses, 3.7× why-questions);
- regions differ in how fast new leads are followed up (the 72-hour follow-up KPI);
- high-intent journeys (product pages + PDF download + demo booking), "policy-sensitive"
  journeys (bid document unopened for 7+ days after a policy article) and "engineer
  reads technical docs 3 days running + expo badge scan" journeys;
- about 30 % of contacts have not consented to behaviour tracking.
The traits are stored in the ``meta`` table (key ``demo_rep_traits``) for evaluation.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from core.errors import UserInputError
from crm import demo_vocab as V
from crm.db import get_meta, set_meta
from crm.models import (
    ENTITIES,
    Account,
    AISuggestion,
    Call,
    CallTurn,
    Contact,
    Drill,
    IntentScoreSnapshot,
    Lead,
    Opportunity,
    Region,
    Renewal,
    StageChange,
    Team,
    Touchpoint,
    User,
)

DEFAULT_SEED = 7
DEMO_PLAYBOOKS = Path(__file__).with_name("demo_data") / "playbooks"
BASE_VOLUMES = {  # at scale 1
    "accounts": 300,
    "leads": 2_000,
    "touchpoints": 50_000,
    "opportunities": 400,
    "calls": 200,
    "ai_suggestions": 1_200,
}
STAGES = ["discovery", "solution", "proposal", "negotiation"]
STAGE_MEAN_DAYS = {"discovery": 14, "solution": 18, "proposal": 16, "negotiation": 20}  # mean days in each stage
HISTORY_DAYS = 365  # the demo's data span: a year up to its as-of date
#: drill → the practice scenario that rehearses it (prompts/scenarios/CODE.yaml)
DRILL_SCENARIOS = {
    "pain-pause": "hospital-equipment-discovery",
    "why-ladder": "energy-remote-monitoring",
    "open-questions": "dental-chain-expansion",
    "price-objection": "hospital-price-objection",
    "budget-objection": "mfg-cfo-no-budget",
    "solution-fit": "mfg-changeover-fit",
    "tender-policy": "gov-tender-policy",
    "renewal-value": "saas-renewal-price-rise",
}

Progress = Callable[[str], None]


@dataclass
class RepTraits:
    patience_s: float  # mean pause after a customer pain point
    curiosity: float  # probability that a question asks why
    question_share: float  # probability that a rep turn is a question (vs pitch)
    talkativeness: float  # relative length of rep turns
    follow_up_h: float  # median hours to first follow-up of a new lead

    @property
    def skill(self) -> float:
        """0..1; what drives win probability in the demo world."""
        return max(0.0, min(1.0, 0.45 * (self.patience_s - 0.5) / 2.5 + 0.55 * (self.curiosity - 0.04) / 0.4))


@dataclass
class DemoReport:
    seed: int
    scale: int
    as_of: str
    built: bool  # False when the demo was already there
    counts: dict[str, int]
    seconds: float = 0.0
    insert_seconds: float = 0.0
    rows_inserted: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows_inserted / self.insert_seconds if self.insert_seconds else 0.0


def entity_counts(session: Session) -> dict[str, int]:
    return {name: session.scalar(select(func.count()).select_from(model)) or 0 for name, model in ENTITIES.items()}


def existing_demo(session: Session, *, seed: int, scale: int) -> dict[str, Any] | None:
    """The demo company already in this database (its seed, scale and as-of), or None for an
    empty one; a demo of another seed or scale, or users that are not the demo's, are refused."""
    info = demo_info(session)
    if info:
        if info["seed"] != seed or info["scale"] != scale:
            raise UserInputError(
                f"this database already holds the demo company built with seed {info['seed']} and "
                f"scale {info['scale']}; use another --home (or database) for seed {seed} scale {scale}"
            )
        return info
    if session.scalar(select(func.count()).select_from(User)):
        raise UserInputError(
            "this database already has users that are not the demo company's; "
            "build the demo into an empty --home"
        )
    return None


def has_intent_snapshots(session: Session) -> bool:
    """False for a demo built before intent-score snapshots existed (schema 0003)."""
    return bool(session.scalar(select(func.count()).select_from(IntentScoreSnapshot)))


@dataclass
class WrittenDemo:
    """The demo company's rows, generated and bulk-inserted (not yet scored or recorded)."""

    traits: dict[str, RepTraits]
    rows_inserted: int
    generate_s: float
    insert_s: float


def write_demo_company(engine: Engine, *, seed: int, scale: int, as_of: date, say: Progress) -> WrittenDemo:
    """Generate every row of the demo company in memory, then bulk-insert them table by table."""
    t0 = time.perf_counter()
    gen = _Generator(seed=seed, scale=scale, as_of=as_of)
    gen.generate(say)
    t_gen = time.perf_counter() - t0
    say("writing to the database")
    t1 = time.perf_counter()
    rows = gen.write(engine)
    return WrittenDemo(gen.traits, rows, generate_s=t_gen, insert_s=time.perf_counter() - t1)


def record_demo(session: Session, *, seed: int, scale: int, as_of: date, traits: dict[str, RepTraits]) -> None:
    """Mark the database as holding this demo company (what makes ``build_demo`` idempotent) and
    keep the reps' hidden traits for evaluation."""
    set_meta(session, "demo", json.dumps({"seed": seed, "scale": scale, "as_of": as_of.isoformat()}))
    set_meta(session, "demo_rep_traits", json.dumps({login: t.__dict__ for login, t in traits.items()}))


def demo_info(session: Session) -> dict[str, Any] | None:
    raw = get_meta(session, "demo")
    return json.loads(raw) if raw else None


def demo_traits(session: Session) -> dict[str, dict[str, float]]:
    raw = get_meta(session, "demo_rep_traits")
    return json.loads(raw) if raw else {}


class _Generator:
    """Builds every row in memory with explicit ids, then bulk-inserts table by table."""

    def __init__(self, *, seed: int, scale: int, as_of: date) -> None:
        self.seed = seed
        self.scale = scale
        self.as_of = as_of
        self.now = datetime.combine(as_of, datetime.min.time())
        self.start = self.now - timedelta(days=HISTORY_DAYS)
        self.rows: dict[type, list[dict[str, Any]]] = {m: [] for m in (
            Region, Team, User, Account, Contact, Lead, Touchpoint, Opportunity, StageChange,
            Renewal, Call, CallTurn, Drill, AISuggestion)}
        self.traits: dict[str, RepTraits] = {}
        self.reps_by_region: dict[str, list[dict[str, Any]]] = {}

    # -- helpers -------------------------------------------------------------------------
    def rng(self, name: str) -> random.Random:
        """An independent stream per concern, so one concern's volume never shifts another's."""
        return random.Random(f"{self.seed}:{name}")

    def add(self, model: type, **row: Any) -> dict[str, Any]:
        table = self.rows[model]
        row["id"] = len(table) + 1
        table.append(row)
        return row

    def rand_time(self, r: random.Random, lo: datetime, hi: datetime) -> datetime:
        span = max(1.0, (hi - lo).total_seconds())
        t = lo + timedelta(seconds=r.random() * span)
        return t.replace(microsecond=0)

    # -- the story -----------------------------------------------------------------------
    def generate(self, say: Progress) -> None:
        say("people and teams")
        self._org()
        say("accounts and contacts")
        self._accounts()
        say("leads and customer journeys")
        self._leads_and_touchpoints()
        say("opportunities and renewals")
        self._opportunities()
        say("calls with speaker turns")
        self._calls()
        self._drills()
        self._suggestions()

    def _org(self) -> None:
        r = self.rng("org")
        for code, zh, en, _cities in V.REGIONS:
            region = self.add(Region, code=code, name_zh=zh, name_en=en)
            team = self.add(Team, name=f"{zh}销售一组", name_en=f"{en} Sales", region_id=region["id"])
            m = V.MANAGERS[code]
            self._user(m, "manager", team["id"], date(2019, 3, 1) + timedelta(days=r.randint(0, 700)))
            self.reps_by_region[code] = []
            for i, person in enumerate(V.REPS[code]):
                # a few new hires each region, for the first-deal-days KPI
                hired = self.as_of - timedelta(days=r.randint(60, 200) if i >= 6 else r.randint(420, 2400))
                rep = self._user(person, "rep", team["id"], hired)
                self.reps_by_region[code].append(rep)
                patience = r.uniform(0.6, 3.0)
                curious = r.uniform(0.04, 0.42)
                self.traits[rep["login"]] = RepTraits(
                    patience_s=round(patience, 2),
                    curiosity=round(curious, 3),
                    question_share=round(min(0.85, 0.35 + curious * 0.9 + r.uniform(-0.05, 0.1)), 3),
                    talkativeness=round(r.uniform(0.8, 1.6) - 0.2 * (curious / 0.42), 3),
                    follow_up_h=round({"east": 14, "south": 30, "north": 48, "west": 70}[code] * r.uniform(0.6, 1.5), 1),
                )
        # one rep is on leave for the next week (routing skips them until then)
        next(u for u in self.reps_by_region["west"] if u["login"] == "yuanmeng")["away_until"] = self.as_of + timedelta(days=7)
        self._user(V.TRAINER, "trainer", None, date(2020, 6, 1))
        self._user(V.ADMIN, "admin", None, date(2018, 1, 8))

    def _user(self, person: tuple[str, str, str, str], role: str, team_id: int | None, hired: date) -> dict[str, Any]:
        name, name_en, login, lang = person
        uid = len(self.rows[User]) + 1
        return self.add(
            User, login=login, name=name, name_en=name_en, role=role, team_id=team_id, language=lang,
            hire_date=hired, left_at=None, away_until=None, wecom_userid=f"wx_{login}",
            teams_aad_id=f"00000000-0000-4000-8000-{uid:012d}", email=f"{login}@ruikang.example",
        )

    def _accounts(self) -> None:
        r = self.rng("accounts")
        n = BASE_VOLUMES["accounts"] * self.scale
        regions = self.rows[Region]
        used: set[str] = set()
        self.account_meta: dict[int, dict[str, Any]] = {}
        for i in range(n):
            region_idx = r.choices(range(4), weights=[34, 26, 24, 16])[0]
            code, _zh, _en, cities = V.REGIONS[region_idx]
            international = i % 13 == 5 and code in ("east", "south")
            if international:
                name, segment = self._international_account_name(i, cities, used)
                name_en = name
            else:
                name, segment = self._local_account_name(r, i, cities, used)
                name_en = None
            used.add(name)
            owner = self._account_owner(r, self.reps_by_region[code], international)
            tier = r.choices(["A", "B", "C"], weights=[2, 4, 4])[0]
            acct = self.add(
                Account, name=name, name_en=name_en, industry=V.SEGMENTS[segment]["industry"], segment=segment,
                region_id=regions[region_idx]["id"], tier=tier, international=international, owner_id=owner["id"],
                created_at=self.rand_time(r, self.start - timedelta(days=900), self.start + timedelta(days=200)),
            )
            self.account_meta[acct["id"]] = {"segment": segment, "region": code, "owner": owner, "international": international,
                                             "contacts": []}
            for _ in range(r.randint(2, 5)):
                self._contact(r, acct, segment, international)

    @staticmethod
    def _international_account_name(i: int, cities: list[tuple[str, str]], used: set[str]) -> tuple[str, str]:
        """(name, segment): every 13th account of the east and south is an international company,
        named by the list in turn (with its city when the name is taken)."""
        intl = list(V.INTERNATIONAL)
        base, segment = intl[(i // 13) % len(intl)]
        return (base if base not in used else f"{base} ({cities[i % len(cities)][1]})"), segment

    @staticmethod
    def _local_account_name(r: random.Random, i: int, cities: list[tuple[str, str]], used: set[str]) -> tuple[str, str]:
        """(name, segment): a segment by its weight and a name from its patterns not used yet
        (the account's number is appended after 50 tries)."""
        seg_names = list(V.SEGMENTS)
        segment = r.choices(seg_names, weights=[V.SEGMENTS[s]["weight"] for s in seg_names])[0]
        city, _city_en = r.choice(cities)
        for _ in range(50):
            name = r.choice(V.SEGMENTS[segment]["names"]).format(
                city=city, n="一二三四五六七八"[r.randrange(8)], brand=r.choice(V.BRANDS), district=r.choice(V.DISTRICTS))
            if name not in used:
                return name, segment
        return f"{name}{i}", segment

    @staticmethod
    def _account_owner(r: random.Random, reps: list[dict[str, Any]], international: bool) -> dict[str, Any]:
        """English-speaking reps own the international accounts of their region; a Chinese-speaking
        rep of the region, at random, the others."""
        en_reps = [u for u in reps if u["language"] == "en"]
        return en_reps[0] if international and en_reps else r.choice([u for u in reps if u["language"] == "zh"])

    def _contact(self, r: random.Random, acct: dict[str, Any], segment: str, international: bool) -> None:
        if international:
            name = f"{r.choice(V.EN_FIRST)} {r.choice(V.EN_LAST)}"
            title, role = r.choice(V.EN_TITLES)
            email = f"{name.split()[0].lower()}.{r.randint(10, 99)}@{acct['name'].split()[0].lower()}.example"
            phone = f"+49 30 {r.randint(1000, 9999)} {r.randint(1000, 9999)}"
        else:
            name = r.choice(V.CONTACT_SURNAMES) + r.choice(V.CONTACT_GIVEN)
            title, role = r.choice(V.SEGMENTS[segment]["titles"])
            phone = f"1{r.choice('3578')}{r.randint(0, 9)}{r.randint(10_000_000, 99_999_999)}"
            email = f"c{acct['id']}.{r.randint(100, 999)}@customer.example"
        consent = r.random() < 0.7
        c = self.add(
            Contact, account_id=acct["id"], name=name, title=title, role_in_deal=role, phone=phone, email=email,
            consent_tracking=consent, consent_recorded_at=self.rand_time(r, self.start, self.now) if consent else None,
        )
        self.account_meta[acct["id"]]["contacts"].append(c)

    def _leads_and_touchpoints(self) -> None:
        r = self.rng("leads")
        rt = self.rng("touchpoints")
        n_leads = BASE_VOLUMES["leads"] * self.scale
        target_tp = BASE_VOLUMES["touchpoints"] * self.scale
        accounts = self.rows[Account]
        self.lead_meta: dict[int, dict[str, Any]] = {}
        # intent profile per lead: drives touchpoint volume and conversion
        intents = [rt.betavariate(1.4, 3.0) for _ in range(n_leads)]
        mean_tp = target_tp / sum(0.3 + 2.0 * x for x in intents)
        for i in range(n_leads):
            intent = intents[i]
            lead = self._lead(r, rt, accounts, intent)
            m = self.lead_meta[lead["id"]]
            n_tp = max(1, int(rt.expovariate(1.0) * mean_tp * (0.3 + 2.0 * intent)))
            self._journey(rt, lead, m["account"], m["meta"], intent, n_tp)
        energy, hospital = self._special_candidates(rt)
        self._background_browsing(rt, accounts, target_tp - 4 * len(energy) - 3 * len(hospital))
        self._special_journeys(rt, energy, hospital)

    def _lead(self, r: random.Random, rt: random.Random, accounts: list[dict[str, Any]], intent: float) -> dict[str, Any]:
        """A lead on a random account: its owner, first follow-up (at the owner's pace) and status."""
        acct = r.choice(accounts)
        meta = self.account_meta[acct["id"]]
        seg = V.SEGMENTS[meta["segment"]]
        contact = r.choice(meta["contacts"])
        created = self.rand_time(r, self.start + timedelta(days=20), self.now - timedelta(hours=6))
        lo, hi = seg["value"]
        value = int(round(math.exp(r.uniform(math.log(lo), math.log(hi))), -3))
        owner = self._lead_owner(r, meta, created)
        age_days = (self.now - created).total_seconds() / 86400
        first_follow, owner_id = self._first_follow_up(r, rt, owner, created, age_days)
        status = self._lead_status(r, first_follow, intent, age_days)
        product = r.choice(V.EN_PRODUCTS.get(meta["segment"], ["platform"])) if meta["international"] else r.choice(seg["products"])
        lead = self.add(
            Lead, name=f"{acct['name']} · {product}", account_id=acct["id"], contact_id=contact["id"],
            source=self._lead_source(r, seg["scenario"]),
            status=status, scenario=seg["scenario"], value_cny=value, owner_id=owner_id,
            created_at=created, first_follow_up_at=first_follow,
        )
        self.lead_meta[lead["id"]] = {"intent": intent, "account": acct, "contact": contact, "owner": owner, "meta": meta}
        return lead

    def _lead_owner(self, r: random.Random, meta: dict[str, Any], created: datetime) -> dict[str, Any]:
        """Mostly the account's owner, sometimes another rep of the region; never someone hired after the lead came in."""
        owner = meta["owner"] if r.random() < 0.85 else r.choice(self.reps_by_region[meta["region"]])
        if owner["hire_date"] > created.date():  # nobody owns a lead before they were hired
            veterans = [u for u in self.reps_by_region[meta["region"]] if u["hire_date"] <= created.date()]
            owner = r.choice(veterans)
        return owner

    def _first_follow_up(
        self, r: random.Random, rt: random.Random, owner: dict[str, Any], created: datetime, age_days: float
    ) -> tuple[datetime | None, int | None]:
        """(first follow-up time, owner id): after the owner's follow-up hours (their region's pace);
        none yet when that is still ahead or for some leads under 3 days old, which are then often unassigned."""
        follow_h = rt.lognormvariate(math.log(self.traits[owner["login"]].follow_up_h), 0.9)
        followed = created + timedelta(hours=follow_h)
        if followed > self.now or (age_days < 3 and r.random() < 0.5):
            return None, (owner["id"] if r.random() < 0.6 else None)
        return followed.replace(microsecond=0), owner["id"]

    @staticmethod
    def _lead_status(r: random.Random, first_follow: datetime | None, intent: float, age_days: float) -> str:
        """New until followed up; low intent ends invalid or in nurture, high intent and a month's age converts."""
        if first_follow is None:
            return "new"
        if intent < 0.12 and r.random() < 0.6:
            return r.choice(["invalid", "nurture"])
        if intent > 0.45 and age_days > 30 and r.random() < 0.55:
            return "converted"
        return r.choices(["contacted", "qualified", "nurture", "lost"], weights=[4, 3, 2, 1])[0]

    @staticmethod
    def _lead_source(r: random.Random, scenario: str) -> str:
        """Where the lead came from; tenders are a main source only for public procurement."""
        tender_weight = 10 if scenario in ("government_tender", "hospital_procurement") else 2
        return r.choices(["website", "expo", "wecom", "referral", "tender", "email_campaign", "partner", "inbound_call"],
                         weights=[30, 14, 16, 8, tender_weight, 10, 6, 6])[0]

    def _background_browsing(self, rt: random.Random, accounts: list[dict[str, Any]], regular_target: int) -> None:
        """Touch up the total so each scale lands on its volume exactly (background browsing);
        the planted journeys are added after the trim so that they are never cut."""
        deficit = regular_target - len(self.rows[Touchpoint])
        for _ in range(max(0, deficit)):
            acct = rt.choice(accounts)
            self._tp(rt, acct["id"], None, None, "page_view", self.rand_time(rt, self.start, self.now))
        del self.rows[Touchpoint][regular_target:]

    def _tp(self, r: random.Random, account_id: int, contact: dict | None, lead_id: int | None, kind: str, when: datetime,
            asset: str | None = None) -> None:
        channel = {"page_view": "website", "pdf_download": "website", "demo_booking": "website", "expo_scan": "expo",
                   "wecom_message": "wecom", "email_open": "email", "tender_notice": "tender_site", "bid_doc_sent": "email",
                   "bid_doc_open": "email", "policy_article": "wecom", "call": "phone", "meeting": "field"}[kind]
        dwell = None
        if kind == "page_view":
            group = r.choices(list(V.PAGES), weights=[40, 20, 12, 18, 10])[0]
            asset = asset or r.choice(V.PAGES[group])
            dwell = int(r.lognormvariate(math.log(45), 0.9))
        elif kind == "pdf_download":
            asset = asset or r.choice(V.PDFS)
        elif kind == "policy_article":
            asset = asset or r.choice(V.POLICY_ARTICLES)
        self.add(Touchpoint, account_id=account_id, contact_id=contact["id"] if contact else None, lead_id=lead_id,
                 kind=kind, channel=channel, occurred_at=when, asset=asset, dwell_s=dwell)

    def _journey(self, r: random.Random, lead: dict, acct: dict, meta: dict, intent: float, n: int) -> None:
        created = lead["created_at"]
        weights = {"page_view": 46, "email_open": 16, "wecom_message": 10, "pdf_download": 6 + 10 * intent,
                   "demo_booking": 1 + 6 * intent, "expo_scan": 3, "call": 5, "meeting": 2 + 3 * intent, "policy_article": 2}
        kinds, w = list(weights), list(weights.values())
        for _ in range(n):
            # 68 % of touches happen before sales is involved (the seed), some after
            if r.random() < 0.35:
                when = self.rand_time(r, max(self.start, created - timedelta(days=60)), created)
            else:
                when = self.rand_time(r, created, min(self.now, created + timedelta(days=120)))
            contact = r.choice(meta["contacts"]) if r.random() < 0.8 else None
            self._tp(r, acct["id"], contact, lead["id"], r.choices(kinds, weights=w)[0], when)
        if intent > 0.5:  # high intent: ≥3 product page views + a PDF download (+ maybe a demo booking)
            t = self.rand_time(r, created, min(self.now, created + timedelta(days=10)))
            for k in range(3):
                self._tp(r, acct["id"], lead_contact(lead, meta), lead["id"], "page_view", t + timedelta(hours=5 * k),
                         V.PAGES["product"][0])
            self._tp(r, acct["id"], lead_contact(lead, meta), lead["id"], "pdf_download", t + timedelta(hours=16), "产品手册.pdf")
            if r.random() < 0.5:
                self._tp(r, acct["id"], lead_contact(lead, meta), lead["id"], "demo_booking", t + timedelta(hours=20))

    def _special_candidates(self, r: random.Random) -> tuple[list[int], list[int]]:
        recent = [lid for lid, m in self.lead_meta.items()
                  if (self.now - self.rows[Lead][lid - 1]["created_at"]).days < 45]
        r.shuffle(recent)
        def consenting(lid: int) -> bool:  # planted signals must be visible: some contact has consented
            return any(c["consent_tracking"] for c in self.lead_meta[lid]["meta"]["contacts"])

        energy = [lid for lid in recent if self.lead_meta[lid]["meta"]["segment"] == "新能源装备" and consenting(lid)][: 4 * self.scale]
        hospital = [lid for lid in recent if self.lead_meta[lid]["meta"]["segment"] in ("三级综合医院", "政府及公共机构")
                    and consenting(lid)][: 5 * self.scale]
        return energy, hospital

    def _special_journeys(self, r: random.Random, energy: list[int], hospital: list[int]) -> None:
        """The seeds' two signature journeys, planted on a few recent leads (4 + 3 rows each)."""
        for lid in energy:  # engineer reads tech docs 3 days running, then scans an expo badge
            m = self.lead_meta[lid]
            consented = [c for c in m["meta"]["contacts"] if c["consent_tracking"]]
            engineer = next((c for c in consented if c["role_in_deal"] == "engineer"), consented[0])
            day0 = self.now - timedelta(days=r.randint(3, 10), hours=r.randint(0, 8))
            for d in range(3):
                self._tp(r, m["account"]["id"], engineer, lid, "page_view", day0 + timedelta(days=d), "技术文档: 变流器故障诊断白皮书")
            self._tp(r, m["account"]["id"], engineer, lid, "expo_scan", day0 + timedelta(days=3, hours=2), "新能源装备展 展位扫码")
        for lid in hospital:  # bid document sent, unopened for 7+ days, then a policy article
            m = self.lead_meta[lid]
            contact = next(c for c in m["meta"]["contacts"] if c["consent_tracking"])
            sent = self.now - timedelta(days=r.randint(8, 14))
            self._tp(r, m["account"]["id"], contact, lid, "bid_doc_sent", sent, "投标方案.pdf")
            self._tp(r, m["account"]["id"], contact, lid, "policy_article", sent + timedelta(days=7, hours=3), "国产替代政策解读")
            self._tp(r, m["account"]["id"], None, lid, "tender_notice", sent - timedelta(days=5), "公开招标公告")

    def _opportunities(self) -> None:
        r = self.rng("opportunities")
        for lid in self._opportunity_leads(r):
            self._opportunity(r, lid)
        self._renewals()

    def _opportunity_leads(self, r: random.Random) -> list[int]:
        """The leads that became opportunities: converted ones first, then qualified or contacted ones."""
        n = BASE_VOLUMES["opportunities"] * self.scale
        converted = [lid for lid in self.lead_meta if self.rows[Lead][lid - 1]["status"] == "converted"]
        r.shuffle(converted)
        extra = [lid for lid in self.lead_meta if self.rows[Lead][lid - 1]["status"] in ("qualified", "contacted")]
        r.shuffle(extra)
        return (converted + extra)[:n]

    def _opportunity(self, r: random.Random, lid: int) -> None:
        """An opportunity opened some days after the lead's follow-up, moved through the stages
        and (once closed won) paid; the owner's skill drives the outcome."""
        lead = self.rows[Lead][lid - 1]
        owner = self.lead_meta[lid]["owner"]
        t = lead["first_follow_up_at"] or lead["created_at"]
        t = t + timedelta(days=r.randint(2, 20))
        if t >= self.now:
            t = self.now - timedelta(days=r.randint(1, 5))
        skill = self.traits[owner["login"]].skill
        opp = self.add(Opportunity, name=lead["name"], account_id=lead["account_id"], lead_id=lid, owner_id=owner["id"],
                       scenario=lead["scenario"], stage="discovery", amount_cny=int(round(lead["value_cny"] * r.uniform(0.8, 1.2), -3)),
                       won=None, created_at=t, close_date=None, payment_date=None)
        self._move_through_stages(r, opp, t, skill)
        if opp["won"] is True and opp["close_date"]:
            pay = opp["close_date"] + timedelta(days=int(r.uniform(15, 120) * (1.4 - 0.6 * skill)))
            opp["payment_date"] = pay if pay <= self.as_of else None

    def _move_through_stages(self, r: random.Random, opp: dict[str, Any], t: datetime, skill: float) -> None:
        """Stage by stage until today: lost early more often by less skilled reps; a deal through
        negotiation closes, won with a chance that grows with skill (patient, curious reps win more)."""
        p_win = 0.12 + 0.55 * skill
        prev = None
        for stage in STAGES:
            self.add(StageChange, opportunity_id=opp["id"], from_stage=prev, to_stage=stage, changed_at=t)
            opp["stage"] = prev = stage
            t = t + timedelta(days=max(1, int(r.expovariate(1 / STAGE_MEAN_DAYS[stage]))))
            if t >= self.now:
                return
            if r.random() < (0.15 if stage in ("discovery", "solution") else 0.1) * (1.3 - skill):
                self._close(opp, t, False)  # lost early
                return
        if t < self.now:
            self._close(opp, t, r.random() < p_win / 0.75)

    def _renewals(self) -> None:
        """Renewals for won deals of the subscription and service kinds, due in the last/next months."""
        rr = self.rng("renewals")
        for opp in self.rows[Opportunity]:
            if opp["won"] and opp["close_date"] and rr.random() < 0.7:
                due = opp["close_date"] + timedelta(days=rr.randint(150, 420))
                high = opp["amount_cny"] >= 500_000
                renewed = None
                decided = None
                if due <= self.as_of:
                    renewed = rr.random() < (0.78 if high else 0.68)
                    decided = due - timedelta(days=rr.randint(0, 25))
                self.add(Renewal, account_id=opp["account_id"], opportunity_id=opp["id"], owner_id=opp["owner_id"], due_date=due,
                         amount_cny=int(round(opp["amount_cny"] * rr.uniform(0.15, 0.3), -3)), high_value=high, renewed=renewed,
                         decided_at=decided)

    def _close(self, opp: dict, when: datetime, won: bool) -> None:
        stage = "closed_won" if won else "closed_lost"
        self.add(StageChange, opportunity_id=opp["id"], from_stage=opp["stage"], to_stage=stage, changed_at=when)
        opp.update(stage=stage, won=won, close_date=when.date())

    # -- calls -----------------------------------------------------------------------------
    def _calls(self) -> None:
        r = self.rng("calls")
        reps = [u for u in self.rows[User] if u["role"] == "rep"]
        opps_by_owner = _by_owner(self.rows[Opportunity])
        accounts_by_owner = _by_owner(self.rows[Account])
        order = self._call_order(r, reps)
        top = self._top_reps(reps)
        for rep in order:
            self._call(r, rep, opps_by_owner.get(rep["id"]) or [], accounts_by_owner.get(rep["id"]), top)
        # exemplars: the two richest calls of each top rep
        for rep_id in top:
            mine = [c for c in self.rows[Call] if c["rep_id"] == rep_id]
            for c in mine[:2]:
                c["is_exemplar"] = True
        for c in self.rows[Call]:
            c.pop("_top", None)

    def _call_order(self, r: random.Random, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Who makes each call: every rep gets four; the rest spread at random."""
        n = BASE_VOLUMES["calls"] * self.scale
        order = [reps[i % len(reps)] for i in range(len(reps) * 4)] + [r.choice(reps) for _ in range(max(0, n - len(reps) * 4))]
        return order[:n]

    def _top_reps(self, reps: list[dict[str, Any]]) -> set[int]:
        """The ids of the most skilled quarter of the reps (at least one)."""
        ranked = sorted(reps, key=lambda u: -self.traits[u["login"]].skill)
        return {u["id"] for u in ranked[: max(1, len(ranked) // 4)]}

    def _call(self, r: random.Random, rep: dict[str, Any], opps: list[dict[str, Any]],
              own_accounts: list[dict[str, Any]] | None, top: set[int]) -> None:
        """One recorded call of ``rep``, mostly about one of their opportunities, with its turns."""
        opp = r.choice(opps) if opps and r.random() < 0.7 else None
        acct = self.rows[Account][opp["account_id"] - 1] if opp else r.choice(own_accounts or self.rows[Account])
        meta = self.account_meta[acct["id"]]
        lang = "en" if (meta["international"] or rep["language"] == "en") else "zh"
        hired = datetime.combine(rep["hire_date"], datetime.min.time()) + timedelta(days=7)
        when = self.rand_time(r, max(self.start + timedelta(days=30), hired), self.now - timedelta(hours=2))
        turns = self._dialogue(r, self.traits[rep["login"]], meta["segment"], lang)
        call = self.add(Call, rep_id=rep["id"], account_id=acct["id"], opportunity_id=opp["id"] if opp else None, started_at=when,
                        duration_s=round(turns[-1]["end_s"] + r.uniform(1, 4), 2), language=lang, source_file=None,
                        content_hash=None, speaker_separation=True, is_exemplar=False)
        call["_top"] = rep["id"] in top
        for idx, t in enumerate(turns):
            self.add(CallTurn, call_id=call["id"], idx=idx, **t)

    def _dialogue(self, r: random.Random, tr: RepTraits, segment: str, lang: str) -> list[dict[str, Any]]:
        """A discovery call whose pacing and questions follow the rep's traits."""
        zh = lang == "zh"
        pains = V.PAIN_POINTS_ZH[V.SEGMENTS[segment]["industry"]] if zh else V.PAIN_POINTS_EN
        call = _CallTimeline(zh=zh, start_s=r.uniform(0.5, 2.0))
        opening = ("您好 我是瑞康智联的销售 想跟您聊聊贵单位的设备管理情况" if zh
                   else "Hi, this is Ruikang Connect, thanks for taking the time today")
        call.say("rep", opening, 0)
        call.say("customer", r.choice(V.CUSTOMER_NEUTRAL_ZH if zh else V.CUSTOMER_NEUTRAL_EN), r.uniform(0.3, 0.9))
        n_exchanges = r.randint(9, 18)
        last_customer_pain = False
        for _ in range(n_exchanges):
            gap = _rep_pause_s(r, tr, after_pain=last_customer_pain)
            line = _rep_line(r, tr, zh, after_pain=last_customer_pain)
            call.say("rep", line, gap, tr.talkativeness)
            ctext, last_customer_pain = _customer_reply(r, line, pains, zh)
            call.say("customer", ctext, r.uniform(0.3, 1.0))
        closing = "好的 那我整理一下今天的内容 下周发您方案" if zh else "Great, I'll summarise today and send a proposal next week"
        call.say("rep", closing, r.uniform(0.4, 1.0))
        return call.turns

    def _drills(self) -> None:
        catalogue = [
            ("pain-pause", "needs_discovery", "痛点后停顿练习", "Pause after the pain point",
             "客户说出痛点后 先停顿约2秒再提下一个问题 让客户补充细节",
             "After a customer states a pain point, wait about two seconds before the next question so they add detail."),
            ("why-ladder", "needs_discovery", "追问“为什么”三连", "The why ladder", "对每个痛点连续追问为什么 找到业务根因",
             "Ask why up to three times for each pain point to reach the business cause."),
            ("open-questions", "needs_discovery", "开放式提问", "Open questions", "用怎么/什么/哪些 开头提问 让客户讲故事",
             "Open with how / what / which so the customer tells the story."),
            ("price-objection", "objection_handling", "价格异议处理", "Handling 'too expensive'",
             "先确认异议背后的标准 再用全生命周期成本回应",
             "Find the yardstick behind the objection, then answer with total cost of ownership."),
            ("budget-objection", "objection_handling", "没有预算的应对", "'No budget this year'",
             "区分没有预算和没有优先级 找到下一个预算窗口", "Tell no-budget from no-priority and find the next budget window."),
            ("solution-fit", "solution_matching", "方案匹配: 痛点到功能", "Map pains to the solution",
             "每个功能介绍都对应客户说过的一个痛点 不超过60秒独白",
             "Tie every feature to a pain the customer named; no monologue over 60 s."),
            ("tender-policy", "policy_interpretation", "招标政策解读", "Tender policy briefing",
             "用三句话解释国产替代与集采政策对项目的影响",
             "Explain in three sentences how the domestic-substitution and volume-procurement policies affect the deal."),
            ("renewal-value", "solution_matching", "续约价值回顾", "Renewal value review", "用客户自己的使用数据说明续约价值",
             "Use the customer's own usage data to show renewal value."),
        ]
        for code, dim, tzh, ten, dzh, den in catalogue:
            self.add(Drill, code=code, dimension=dim, title_zh=tzh, title_en=ten, description_zh=dzh, description_en=den,
                     scenario_code=DRILL_SCENARIOS[code])

    def _suggestions(self) -> None:
        """A history of next-best-action suggestions and whether reps adopted them."""
        r = self.rng("suggestions")
        n = BASE_VOLUMES["ai_suggestions"] * self.scale
        leads = [lid for lid in self.lead_meta if self.rows[Lead][lid - 1]["owner_id"]]
        lead_tps: dict[int, list[int]] = {}
        for tp in self.rows[Touchpoint]:
            if tp["lead_id"]:
                lead_tps.setdefault(tp["lead_id"], []).append(tp["id"])
        actions = [("专家顾问+区域经理双人跟进", "Dual follow-up: specialist + regional manager"),
                   ("发送政策解读话术包", "Send the policy talk track"),
                   ("预约产品演示", "Book a product demo"),
                   ("进入培育池 由市场部继续触达", "Move to the nurture pool")]
        for _ in range(n):
            lid = r.choice(leads)
            lead = self.rows[Lead][lid - 1]
            zh_text, en_text = r.choice(actions)
            created = self.rand_time(r, max(lead["created_at"], self.start), self.now)
            skill = self.traits[self.lead_meta[lid]["owner"]["login"]].skill
            roll = r.random()
            status = "adopted" if roll < 0.35 + 0.35 * skill else ("dismissed" if roll < 0.8
                                                                    else ("expired" if (self.now - created).days > 14 else "shown"))
            tps = lead_tps.get(lid, [])
            evidence = [{"kind": "touchpoint", "id": tid} for tid in sorted(r.sample(tps, min(3, len(tps))))]
            self.add(AISuggestion, user_id=lead["owner_id"], kind="next_best_action", lead_id=lid, account_id=lead["account_id"],
                     text=zh_text, evidence=evidence, confidence=round(r.uniform(0.45, 0.95), 2), status=status, created_at=created,
                     decided_at=created + timedelta(hours=r.randint(1, 72)) if status in ("adopted", "dismissed") else None)

    # -- writing ---------------------------------------------------------------------------
    def write(self, engine: Engine) -> int:
        total = 0
        order = [Region, Team, User, Account, Contact, Lead, Touchpoint, Opportunity, StageChange, Renewal,
                 Call, CallTurn, Drill, AISuggestion]
        with engine.begin() as conn:
            for model in order:
                rows = self.rows[model]
                for i in range(0, len(rows), 5000):
                    conn.execute(insert(model), rows[i:i + 5000])
                total += len(rows)
            # fresh statistics: without them SQLite picks the time index for per-account
            # aggregates over touchpoints (journey coverage: 1.2 s instead of 0.3 s at scale 10)
            conn.execute(text("ANALYZE"))
            if conn.dialect.name == "postgresql":
                # explicit ids were inserted: move each sequence past them
                for model in order:
                    table = model.__tablename__
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
        return total


def lead_contact(lead: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in meta["contacts"] if c["id"] == lead["contact_id"])


def _by_owner(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Rows grouped by ``owner_id``, in row order."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["owner_id"], []).append(row)
    return grouped


class _CallTimeline:
    """The turns of a call laid out in time: each starts ``gap`` seconds after the previous one
    ended (a negative gap talks over it) and lasts as long as its text takes to say."""

    def __init__(self, *, zh: bool, start_s: float) -> None:
        self.zh = zh
        self.rate = 4.2 if zh else 2.5  # characters (zh) or words (en) per second
        self.t = start_s
        self.turns: list[dict[str, Any]] = []

    def speaking_s(self, text_: str, factor: float = 1.0) -> float:
        units = len(text_.replace(" ", "")) if self.zh else len(text_.split())
        return round(units / self.rate * factor, 2)

    def say(self, speaker: str, text_: str, gap: float, factor: float = 1.0) -> None:
        start = max(0.0, self.t + gap)
        end = start + max(0.6, self.speaking_s(text_, factor))
        self.turns.append({"speaker": speaker, "start_s": round(start, 2), "end_s": round(end, 2), "text": text_})
        self.t = end


def _rep_pause_s(r: random.Random, tr: RepTraits, *, after_pain: bool) -> float:
    """How long the rep waits before speaking: their patience after a pain point, a short
    pause otherwise; impatient reps sometimes talk over the customer (a negative pause)."""
    gap = max(0.25, r.gauss(tr.patience_s, 0.35)) if after_pain else max(0.15, r.gauss(0.7, 0.25))
    if r.random() < 0.12 * (1.6 - tr.patience_s / 2):  # impatient reps talk over the customer
        gap = -r.uniform(0.2, 0.8)
    return gap


def _rep_line(r: random.Random, tr: RepTraits, zh: bool, *, after_pain: bool) -> str:
    """A question (as often as the rep asks them) or a pitch (longer for talkative reps)."""
    if r.random() < tr.question_share:
        return _rep_question(r, tr, zh, after_pain=after_pain)
    line = r.choice(V.PITCH_ZH if zh else V.PITCH_EN)
    if r.random() < tr.talkativeness - 0.8:
        line = line + (" " if zh else ". ") + r.choice(V.PITCH_ZH if zh else V.PITCH_EN)
    return line


def _rep_question(r: random.Random, tr: RepTraits, zh: bool, *, after_pain: bool) -> str:
    """A why-question as often as the rep is curious, else an open or a closed one; after a
    pain point sometimes acknowledged first."""
    if r.random() < tr.curiosity:
        line = r.choice(V.WHY_QUESTIONS_ZH if zh else V.WHY_QUESTIONS_EN)
    elif r.random() < 0.6:
        line = r.choice(V.OPEN_QUESTIONS_ZH if zh else V.OPEN_QUESTIONS_EN)
    else:
        line = r.choice(V.CLOSED_QUESTIONS_ZH if zh else V.CLOSED_QUESTIONS_EN)
    if after_pain and r.random() < 0.3:
        ack = r.choice(V.ACK_ZH if zh else V.ACK_EN)
        line = f"{ack} {line}" if zh else f"{ack}. {line}"
    return line


def _asks_why(line: str) -> bool:
    why = V.WHY_QUESTIONS_ZH + V.WHY_QUESTIONS_EN
    return line in why or any(line.endswith(q) for q in why)


def _pain_chance(line: str, asked_why: bool) -> float:
    """How likely the customer answers with a pain point: most after a why, more after any question."""
    if asked_why:
        return 0.55
    return 0.35 if ("吗" in line or line.split(" ")[0] in ("Could", "How", "What", "Who")) else 0.2


def _customer_reply(r: random.Random, line: str, pains: list[str], zh: bool) -> tuple[str, bool]:
    """(what the customer says, whether it is a pain point): curious questions earn longer
    stories and more pain points; sometimes an objection, otherwise small talk."""
    asked_why = _asks_why(line)
    p_pain = _pain_chance(line, asked_why)
    roll = r.random()
    if roll < p_pain:
        ctext = r.choice(pains)
        if asked_why:
            ctext = ctext + (" " if zh else ", and ") + r.choice(pains)
        return ctext, True
    if roll < p_pain + 0.12:
        return r.choice(V.OBJECTIONS_ZH if zh else V.OBJECTIONS_EN), False
    return r.choice(V.CUSTOMER_NEUTRAL_ZH if zh else V.CUSTOMER_NEUTRAL_EN), False
