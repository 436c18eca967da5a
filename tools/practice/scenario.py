"""Practice scenarios: YAML files trainers write, validated by a pydantic model.

Built-in scenarios are in ``prompts/scenarios/*.yaml``; a trainer's own go to
``HOME/scenarios/CODE.yaml`` and are listed beside them. Every validation error names the
file, the field path and what to write instead.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from core.errors import NotFoundError, UserInputError
from core.lang import CJK, pick

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "prompts" / "scenarios"

#: what a rep turn can be (the offline classifier's labels; rubric checks and scripted branches use them)
TURN_KINDS = ("why_question", "discovery_question", "pitch", "objection_response", "closing", "small_talk", "other")
TurnKind = Literal["why_question", "discovery_question", "pitch", "objection_response", "closing", "small_talk", "other"]
INDUSTRIES = ("hospital", "dental_chain", "manufacturing", "new_energy", "government_tender", "saas_renewal")
SKILLS = ("needs_discovery", "solution_matching", "objection_handling", "policy_interpretation")
CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

Kinds = Annotated[list[TurnKind], Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Text(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def pick(self, language: str) -> str:
        return pick(language, self.zh, self.en)


class Persona(Strict):
    name: str
    role: str
    organisation: str
    personality: str
    language: Literal["zh", "en"]


class PainPoint(Strict):
    id: str
    summary: str  # what the pain is, for the trainer's report
    revealed_by: Kinds  # the question styles that earn it
    about: list[str] = []  # words one of which the question (or the customer line it follows up) must contain; empty = any
    requires: list[str] = []  # pain points that must be uncovered first (the why ladder)
    hint: str | None = None  # what the customer says to a question about it in a style that does not earn it
    reveal: str  # the customer's line that states it


class Trigger(Strict):
    """When an objection is raised: after the rep's Nth pitch, at the rep's Nth turn, or on the first closing attempt."""

    after_pitches: int | None = Field(None, ge=1)
    at_turn: int | None = Field(None, ge=1)
    on_closing: bool = False

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        if sum([self.after_pitches is not None, self.at_turn is not None, self.on_closing]) != 1:
            raise ValueError("give exactly one of after_pitches: N, at_turn: N, on_closing: true")
        return self


class Objection(Strict):
    id: str
    text: str  # the customer's objection
    when: Trigger
    handled_by: Kinds  # rep turn kinds that handle it (e.g. a why-question that finds the yardstick behind it)
    resolution: str  # the customer's line once it is handled
    pushback: str  # the customer's line when the rep pitches / closes over it


class Evidence(Strict):
    """What a rubric check needs to pass — at least one of these."""

    kind: list[TurnKind] = []  # a rep turn of one of these kinds …
    mentions: list[str] = []  # … (or any rep turn) containing one of these words
    min_count: int = Field(1, ge=1)  # how many such turns
    before_first: TurnKind | None = None  # … all before the first turn of this kind (e.g. why before pitch)
    pain_point: str | None = None  # this hidden pain point uncovered
    objection_handled: str | None = None  # this objection raised and handled
    pause_after_pain_s: float | None = Field(None, gt=0)  # a question this long after a pain point (measured pauses only)
    next_step_agreed: bool = False  # a closing the customer accepted

    @model_validator(mode="after")
    def _something(self) -> Evidence:
        if not (self.kind or self.mentions or self.pain_point or self.objection_handled or self.pause_after_pain_s
                or self.next_step_agreed):
            raise ValueError("the check names no evidence; write e.g. `evidence: {kind: [why_question]}`, "
                             "`{pain_point: ID}`, `{objection_handled: ID}`, `{mentions: [word]}`, `{pause_after_pain_s: 2}` or "
                             "`{next_step_agreed: true}`")
        return self


class RubricCheck(Strict):
    id: str
    check: Text  # the yes/no question, bilingual
    evidence: Evidence
    advice: Text  # what to do differently when it fails


class Replies(Strict):
    """The scripted customer's lines per rep turn kind (used in order, cycling)."""

    discovery_question: list[str] = Field(min_length=1)
    why_question: list[str] = Field(min_length=1)
    pitch: list[str] = Field(min_length=1)
    pitch_early: list[str] = Field(min_length=1)  # a pitch before any question
    objection_response: list[str] = Field(min_length=1)
    closing: list[str] = Field(min_length=1)  # closing after enough discovery: agrees to a next step
    closing_early: list[str] = Field(min_length=1)  # closing too early: stalls
    small_talk: list[str] = Field(min_length=1)
    other: list[str] = Field(min_length=1)


class Scenario(Strict):
    code: str
    language: Literal["zh", "en"]
    industry: Literal["hospital", "dental_chain", "manufacturing", "new_energy", "government_tender", "saas_renewal"]
    skill: Literal["needs_discovery", "solution_matching", "objection_handling", "policy_interpretation"]
    title: Text
    aliases: list[str] = []  # phrases the chat matches ("医院采购价格异议", "hospital price objection")
    situation: Text  # the brief the rep reads before starting
    persona: Persona
    budget: str
    decision_process: str
    opening: str  # the customer's first line
    pain_points: list[PainPoint] = Field(min_length=1)
    objections: list[Objection] = []
    success_criteria: list[str] = Field(min_length=1)
    ready_to_close_after: int = Field(1, ge=0)  # pain points that must be uncovered before a closing is accepted
    max_rep_turns: int = Field(14, ge=3, le=60)
    rubric: list[RubricCheck] = Field(min_length=1)
    replies: Replies

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE.match(v):
            raise ValueError("write the code in lower case with hyphens, e.g. hospital-price-objection")
        return v

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        self._check_unique_ids()
        self._check_persona_language()
        self._check_requirements()
        self._check_rubric_evidence()
        if self.ready_to_close_after > len(self.pain_points):
            raise ValueError(f"ready_to_close_after is {self.ready_to_close_after} but only {len(self.pain_points)} pain points are hidden")
        return self

    def _check_unique_ids(self) -> None:
        """Pain points, objections and rubric checks each have their own ids."""
        for name, ids in (("pain_points", [p.id for p in self.pain_points]), ("objections", [o.id for o in self.objections]),
                          ("rubric", [r.id for r in self.rubric])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{name}: id {dupes[0]!r} is used twice; give each entry its own id")

    def _check_persona_language(self) -> None:
        if self.persona.language != self.language:
            raise ValueError(f"persona.language is {self.persona.language!r} but the scenario's language is "
                             f"{self.language!r}; make them the same")

    def _check_requirements(self) -> None:
        """A pain point requires only other pain points."""
        pains = [p.id for p in self.pain_points]
        for p in self.pain_points:
            for r in p.requires:
                if r not in pains or r == p.id:
                    raise ValueError(f"pain_points.{p.id}.requires names {r!r}, which is not another pain point; "
                                     f"use one of {', '.join(x for x in pains if x != p.id) or '(none)'}")

    def _check_rubric_evidence(self) -> None:
        """A rubric check's evidence names pain points and objections of this scenario."""
        pains = [p.id for p in self.pain_points]
        objections = [o.id for o in self.objections]
        for c in self.rubric:
            e = c.evidence
            if e.pain_point and e.pain_point not in pains:
                raise ValueError(f"rubric.{c.id}.evidence.pain_point {e.pain_point!r} is not a pain point id; "
                                 f"use one of {', '.join(pains)}")
            if e.objection_handled and e.objection_handled not in objections:
                raise ValueError(f"rubric.{c.id}.evidence.objection_handled {e.objection_handled!r} is not an objection id; "
                                 f"use one of {', '.join(objections) or '(no objections defined)'}")

    def label(self, language: str) -> str:
        return self.title.pick(language)

    def summary(self, language: str, source: str) -> dict[str, Any]:
        return {"code": self.code, "title": self.label(language), "language": self.language, "industry": self.industry,
                "skill": self.skill, "persona": f"{self.persona.role} · {self.persona.organisation}",
                "pain_points": len(self.pain_points), "objections": len(self.objections),
                "rubric_checks": len(self.rubric), "source": source}


# -- loading -----------------------------------------------------------------------------------
def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


KIND_HINT = f"write one of {', '.join(TURN_KINDS)}"


def _advice(err: dict[str, Any]) -> str:
    t, msg = err["type"], err["msg"]
    if t == "missing":
        return "this field is required; add it"
    if t == "extra_forbidden":
        return "unknown field; remove it or check its spelling"
    if t == "literal_error" and "why_question" in msg:
        return f"unknown turn kind {err.get('input')!r}; {KIND_HINT}"
    if t == "literal_error":
        return f"{err.get('input')!r} is not allowed; {msg.replace('Input should be', 'write')}"
    return msg.removeprefix("Value error, ")


def parse_scenario(text: str, source: str) -> Scenario:
    """A validated scenario from YAML text, or a UserInputError naming ``source``, the field path
    and what to write instead (every problem found, one per line)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserInputError(f"{source}:{where}: not valid YAML ({problem}); check the indentation and quote "
                             "text that contains ': '") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{source}: a scenario file is a YAML mapping (code:, language:, persona: …); "
                             "start from one of prompts/scenarios/*.yaml")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_where(e['loc'])}: {_advice(e)}" for e in exc.errors()]
        raise UserInputError("\n".join(lines)) from None


def load_file(path: Path) -> Scenario:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file; give the path of a scenario YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not UTF-8 text; save the scenario as UTF-8 YAML") from None
    scenario = parse_scenario(text, str(path))
    if path.suffix in (".yaml", ".yml") and path.stem != scenario.code and path.parent == BUILTIN_DIR:
        raise UserInputError(f"{path}: code is {scenario.code!r} but the file is named {path.name}; rename one to match")
    return scenario


@dataclass(frozen=True)
class Catalogue:
    scenarios: dict[str, Scenario]
    sources: dict[str, str]  # code → "builtin" | "home"
    errors: list[str]  # trainer files that do not validate (listed, not fatal)


def home_dir(home: Path | None) -> Path | None:
    return Path(home) / "scenarios" if home else None


def catalogue(home: Path | None) -> Catalogue:
    """Built-in scenarios plus ``HOME/scenarios/*.yaml`` (a trainer's file with a built-in code replaces it)."""
    scenarios: dict[str, Scenario] = {}
    sources: dict[str, str] = {}
    errors: list[str] = []
    for source, folder in (("builtin", BUILTIN_DIR), ("home", home_dir(home))):
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                s = _cached(path, path.stat().st_mtime_ns)
            except UserInputError as exc:
                if source == "builtin":
                    raise
                errors.append(str(exc))
                continue
            scenarios[s.code] = s
            sources[s.code] = source
    return Catalogue(scenarios, sources, errors)


_CACHE: dict[tuple[str, int], Scenario] = {}


def sync_scenarios(session, home: Path | None) -> int:
    """Trainer-created scenarios live in the database (``practice_scenarios``), shared by every
    node; ``HOME/scenarios`` is this node's cache of them. Writes the ones that differ (atomically),
    so ``catalogue(home)`` sees what any node created; how many files it wrote."""
    from crm.models import PracticeScenarioRecord

    folder = home_dir(home)
    if folder is None or session is None:
        return 0
    written = 0
    for code, text in session.execute(select(PracticeScenarioRecord.code, PracticeScenarioRecord.yaml_text)):
        target = folder / f"{code}.yaml"
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{code}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        written += 1
    return written


def _cached(path: Path, mtime: int) -> Scenario:
    key = (str(path), mtime)
    if key not in _CACHE:
        _CACHE[key] = load_file(path)
    return _CACHE[key]


def get_scenario(code: str, home: Path | None, language: str = "en") -> Scenario:
    cat = catalogue(home)
    if code in cat.scenarios:
        return cat.scenarios[code]
    found = find_scenario(code, home)
    if found:
        return cat.scenarios[found]
    codes = ", ".join(sorted(cat.scenarios))
    raise NotFoundError(f"没有场景 {code!r};可选:{codes}(`repcopilot practice list`)" if language == "zh"
                        else f"no scenario {code!r}; choose from {codes} (see `repcopilot practice list`)")


def _tokens(text: str) -> set[str]:
    text = text.lower()
    words = set(re.findall(r"[a-z0-9]+", text))
    cjk = "".join(CJK.findall(text))
    return words | {cjk[i:i + 2] for i in range(len(cjk) - 1)}


STOP = {"the", "a", "an", "of", "with", "and", "for", "to", "in", "practice", "start", "scenario", "练习", "开始", "场景"}


#: the words around a scenario's name in a chat request ("开始练习 医院采购价格异议", "I want to practise the CFO with no budget")
PRACTICE_CUE = re.compile(
    r"(我|咱们?)?(想|要|来)(练习|练|模拟)(一下|一练|练)?|(开始|来|做)?(一个|一次|一下)?(模拟)?(练习|对练|演练|陪练|角色扮演)(一下|一个|一次)?(场景)?|"
    r"陪我练(一下|练)?|练一(下|练)|模拟(一下|一个|一次)?|帮我|请|吧|场景|[::,,。!!??]|"
    r"(来|开|整|搞)?(一把|一局|一个|一场)|(的)?那(个|种)|(客户)?(难搞|刁钻|难缠|凶)(一)?点(的)?|"
    r"(我|咱)(来)?(当|演|扮演|做)(销售|sales)?|你(来)?(当|演|扮演|做)|(的)?对话|来个|"
    r"\b(please|can|could|i|we|let'?s|let me|want|would|like|to|start(ing)?|begin|a|an|the|new|role[- ]?play(ing)?|"
    r"practi[sc]e|practi[sc]ing|session|scenario|with|on|against|for|me)\b", re.I)


def scenario_phrase(text: str) -> str:
    """What is left of a chat request once the practice words are taken out: "我想练习一下价格异议" → "价格异议"."""
    return re.sub(r"\s+", " ", PRACTICE_CUE.sub(" ", text or "")).strip()


def find_scenario(text: str, home: Path | None) -> str | None:
    """The scenario a phrase names ("医院采购价格异议", "hospital price objection", a code), or None.
    Scores each scenario by the share of the phrase's words (zh: character bigrams) found in its
    code, titles and aliases; the best wins when it covers at least half of the phrase."""
    cat = catalogue(home)
    q = text.strip().lower()
    if q in cat.scenarios:
        return q
    want = _tokens(q) - STOP
    if not want:
        return None
    best, best_score = None, 0.0
    vocab: dict[str, set[str]] = {}
    for code, s in cat.scenarios.items():
        names = [code.replace("-", " "), s.title.zh, s.title.en, *s.aliases]
        if any(q == n.lower() for n in names):
            return code
        vocab[code] = set().union(*(_tokens(n) for n in names))
        score = len(want & vocab[code]) / len(want)
        if score > best_score:
            best, best_score = code, score
    return best if best_score >= 0.5 else (_named_by_its_own_words(want, vocab) or _closest_by_meaning(q, cat))


def _named_by_its_own_words(want: set[str], vocab: dict[str, set[str]]) -> str | None:
    """A request padded with other words ("gov tender policy, want to check how tough it is"): each word
    counts 1 / the number of scenarios that use it, so a word only one scenario has weighs most; the
    best wins with one and a half such words' weight (one common word — "没有" of "没有预算" — is not enough) and
    twice the runner-up's."""
    uses = {w: sum(w in words for words in vocab.values()) for w in want}
    scores = sorted(((sum(1 / uses[w] for w in want & words), code) for code, words in vocab.items()), reverse=True)
    (first, code), (second, _) = scores[0], scores[1] if len(scores) > 1 else (0.0, None)
    return code if first >= 1.5 and first >= 2 * second else None


#: the multilingual encoder's cosine a phrase needs with a scenario's title or alias, and its lead
#: over the runner-up ("续约客户嫌涨价" → the SaaS renewal price rise: 0.96 against 0.90)
MEANING_MIN, MEANING_MARGIN = 0.92, 0.04


def _closest_by_meaning(phrase: str, cat: Catalogue) -> str | None:
    """The scenario whose title or alias means what the phrase says, in either language, when
    the words differ ("续约客户嫌涨价", "the CFO who has no budget"); None unless one clearly leads."""
    from knowledge.e5 import encode_cached, query_vector

    names = [(code, n) for code, s in cat.scenarios.items() for n in (s.title.zh, s.title.en, *s.aliases) if n]
    if len(cat.scenarios) < 2 or not names:
        return None
    sims = encode_cached([n for _, n in names], kind="scenario-names") @ query_vector(phrase)
    best: dict[str, float] = {}
    for (code, _), sim in zip(names, sims, strict=True):
        best[code] = max(best.get(code, -1.0), float(sim))
    (top, first), (_, second) = sorted(best.items(), key=lambda kv: -kv[1])[:2]
    return top if first >= MEANING_MIN and first - second >= MEANING_MARGIN else None
