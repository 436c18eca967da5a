"""The practice dialogue as pure functions: classify a rep turn, decide what the customer may
say next (the scripted branches of the scenario), and score a finished transcript with the
same conversation metrics as real calls.

The decision — which hidden pain point the rep's questioning has earned, which objection comes
up, whether a closing is accepted — is made here for both personas: offline the scripted
line is the reply; with an LLM the model words the reply but is told only what is unlocked.

A transcript is a list of dicts: ``{"idx", "speaker": "rep"|"customer", "text", "start_s",
"end_s", "kind" (rep), "pause_s" (rep: measured pause before the turn, or None), "at",
"revealed" (customer: pain ids), "raised" / "handled" (objection ids)}``. ``idx`` starts at 1
with the customer's opening line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from core.lang import cjk_count, pick
from speech.metrics import compute_metrics
from speech.text import is_objection, is_pain_point, is_question, is_why_question
from speech.turns import Turn
from tools.practice.scenario import Scenario

# -- the rep turn classifier --------------------------------------------------------------------
CLOSING_ZH = re.compile(r"(约|安排|定)(个|一个|一下|一次)?(时间|演示|试点|会议|拜访|参观|沟通|交流)|发(给)?(您|你)|开个会|见个面|"
                        r"签(个)?(约|合同)|"
                        r"(先|做)(个|一个)?试点|试用|(下周|明天|下次|这周|月底).{0,20}(约|演示|拜访|见面|再聊|过来|开会|汇报|测算)")
CLOSING_EN = re.compile(r"\b(next steps?|schedule|set up (a|an)|book (a|an)|send (you|over)|pilot|trial|move forward|sign|contract|"
                        r"follow[- ]up (call|meeting)|meet (again|next))\b")
SMALL_TALK_ZH = re.compile(r"^.{0,6}(您好|你好|早上好|下午好|谢谢|感谢|不好意思|打扰)")
SMALL_TALK_EN = re.compile(r"^(hi|hello|good (morning|afternoon)|thanks|thank you|nice to)\b")
ACK_ZH = re.compile(r"理解|明白|确实|您说得对|有道理|我听到|这个顾虑")
ACK_EN = re.compile(r"\b(understand|fair|makes sense|appreciate|hear you|good point|that's a real concern)\b")
VALUE_ZH = re.compile(r"全生命周期|总成本|总拥有成本|投资回报|回报|分期|按效果|节省|省下|ROI|TCO|预算窗口|下一个预算|政策")
VALUE_EN = re.compile(r"\b(total cost|cost of ownership|tco|roi|return on|payback|phased|pay back|saves?|savings|budget (cycle|window)|"
                      r"policy)\b")
PITCH_ZH = re.compile(r"我们的(产品|系统|方案|平台|设备|服务)|我们(可以|能够|能)|功能|优势|领先|行业第一|性价比|帮您|帮你们|客户都|支持")
PITCH_EN = re.compile(r"\b(our (product|platform|system|solution|service)|we (also )?(can|offer|provide)|features?|leading|best in class|"
                      r"helps? you|supports?)\b")


@dataclass(frozen=True)
class TurnCues:
    """The patterns of one language that tell a rep turn's kind, and the length (Chinese
    characters or English words) that makes a turn too long for small talk or long enough to be a pitch."""

    closing: re.Pattern
    small_talk: re.Pattern
    acknowledge: re.Pattern
    value: re.Pattern
    pitch: re.Pattern
    small_talk_max_units: int
    pitch_min_units: int


TURN_CUES = {
    "zh": TurnCues(CLOSING_ZH, SMALL_TALK_ZH, ACK_ZH, VALUE_ZH, PITCH_ZH, small_talk_max_units=16, pitch_min_units=30),
    "en": TurnCues(CLOSING_EN, SMALL_TALK_EN, ACK_EN, VALUE_EN, PITCH_EN, small_talk_max_units=10, pitch_min_units=20),
}


def classify_turn(text: str, language: str, *, objection_open: bool = False) -> str:
    """The kind of a rep turn: why_question, discovery_question, closing, objection_response,
    small_talk, pitch or other. Questions are detected with the call detectors (speech/text.py)."""
    text = (text or "").strip()
    if not text:
        return "other"
    zh = language == "zh"
    cues = TURN_CUES[pick(language, "zh", "en")]
    low = text if zh else text.lower()
    closing = cues.closing.search(low) is not None
    if is_question(text, language):
        return question_kind(text, language, closing=closing)
    if objection_open and (cues.acknowledge.search(low) or cues.value.search(low)):
        return "objection_response"
    if closing:
        return "closing"
    return statement_kind(low, cues, turn_length(text, language))


def question_kind(text: str, language: str, *, closing: bool) -> str:
    """A question is a why_question, else a closing when it proposes a next step, else a discovery_question."""
    if is_why_question(text, language):
        return "why_question"
    return "closing" if closing else "discovery_question"


def turn_length(text: str, language: str) -> int:
    """A turn's length: Chinese characters (zh) or words (en)."""
    return cjk_count(text) if language == "zh" else len(text.split())


def statement_kind(low: str, cues: TurnCues, units: int) -> str:
    """A statement that is neither a closing nor an objection response: short greetings are
    small_talk; product talk, value talk or a long turn is a pitch; anything else is other."""
    if cues.small_talk.search(low) and units <= cues.small_talk_max_units:
        return "small_talk"
    if cues.pitch.search(low) or cues.value.search(low) or units >= cues.pitch_min_units:
        return "pitch"
    return "other"


# -- the customer's next move -------------------------------------------------------------------
def new_state() -> dict[str, Any]:
    return {"revealed": {}, "hinted": [], "objections": {}, "counts": {}, "rep_turns": 0, "ended": False, "end_reason": None}


def open_objection(state: dict[str, Any]) -> str | None:
    return next((oid for oid, o in state["objections"].items() if o["status"] == "open"), None)


@dataclass
class Move:
    """What the customer does after a rep turn. ``reply`` is the scripted line."""

    kind: str  # the rep turn's kind
    reply: str
    revealed: list[str] = field(default_factory=list)  # pain ids earned by this turn
    hinted: str | None = None  # a pain point hinted at (asked about in a style that does not earn it)
    raised: str | None = None  # objection raised now
    handled: str | None = None  # objection handled by this turn
    pushback: str | None = None  # objection the rep pitched or closed over
    ended: bool = False
    end_reason: str | None = None
    intent: str = "reply"  # reveal / hint / raise / resolve / pushback / agree / stall / reply


def _mentions(words: list[str], *texts: str) -> bool:
    if not words:
        return True
    blob = " ".join(texts).lower()
    return any(w.lower() in blob for w in words)


def _next_line(lines: list[str], state: dict[str, Any], key: str) -> str:
    n = state.setdefault("used", {}).get(key, 0)
    state["used"][key] = n + 1
    return lines[n % len(lines)]


def decide(scenario: Scenario, state: dict[str, Any], rep_text: str, *, rep_idx: int) -> Move:
    """Advance ``state`` (mutated) by one rep turn and return the customer's move. A pain point's
    ``about`` words are looked for in the rep's turn and in what the customer just disclosed (a
    reveal, hint or resolution), so "why is that?" follows up on the customer's last disclosure."""
    kind = classify_turn(rep_text, scenario.language, objection_open=open_objection(state) is not None)
    state["rep_turns"] += 1
    state["counts"][kind] = state["counts"].get(kind, 0) + 1
    move = _decide(scenario, state, kind, rep_text, state.get("disclosed", ""), rep_idx)
    state["disclosed"] = move.reply if move.intent in ("reveal", "hint", "resolve") else ""
    if not move.ended and state["rep_turns"] >= scenario.max_rep_turns:
        move.ended, move.end_reason = True, "max_turns"
    if move.ended:
        state["ended"], state["end_reason"] = True, move.end_reason
    return move


def _decide(s: Scenario, state: dict[str, Any], kind: str, rep_text: str, last: str, rep_idx: int) -> Move:
    current = open_objection(state)
    if current:
        return answer_open_objection(s, state, current, kind, rep_idx)
    earned = [p for p in s.pain_points if p.id not in state["revealed"] and _earns(p, state, kind, rep_text, last)]
    raised = raise_due_objection(s, state, kind, rep_idx, earned=bool(earned))
    if raised:
        return raised
    if earned:
        p = earned[0]
        state["revealed"][p.id] = rep_idx
        return Move(kind, p.reveal, revealed=[p.id], intent="reveal")
    if kind in ("why_question", "discovery_question"):
        hint = hint_pain_point(s, state, kind, rep_text)
        if hint:
            return hint
    if kind == "closing":
        return answer_closing(s, state, kind, rep_idx)
    return scripted_reply(s, state, kind)


def answer_open_objection(s: Scenario, state: dict[str, Any], current: str, kind: str, rep_idx: int) -> Move:
    """While an objection is open the customer answers only to it: resolved by a turn of a kind
    that handles it, pushed back on otherwise."""
    o, rec = next(o for o in s.objections if o.id == current), state["objections"][current]
    if kind in o.handled_by:
        rec.update(status="handled", handled_at=rep_idx)
        return Move(kind, o.resolution, handled=current, intent="resolve")
    rec["pushbacks"] = rec.get("pushbacks", 0) + 1
    return Move(kind, o.pushback, pushback=current, intent="pushback")


def objection_due(o, state: dict[str, Any], kind: str, *, earned: bool) -> bool:
    """Whether an objection's moment has come: after enough pitches, at its turn (unless this
    turn earns a pain point), or on a closing."""
    w = o.when
    return ((w.after_pitches is not None and kind == "pitch" and state["counts"].get("pitch", 0) >= w.after_pitches)
            or (w.at_turn is not None and state["rep_turns"] >= w.at_turn and not earned)
            or (w.on_closing and kind == "closing"))


def raise_due_objection(s: Scenario, state: dict[str, Any], kind: str, rep_idx: int, *, earned: bool) -> Move | None:
    """The first not yet raised objection whose moment has come, raised now (recorded as open)."""
    for o in s.objections:
        if o.id not in state["objections"] and objection_due(o, state, kind, earned=earned):
            state["objections"][o.id] = {"status": "open", "raised_at": rep_idx + 1, "pushbacks": 0}
            return Move(kind, o.text, raised=o.id, intent="raise")
    return None


def hint_pain_point(s: Scenario, state: dict[str, Any], kind: str, rep_text: str) -> Move | None:
    """A question about a hidden pain point (its requirements revealed) that does not earn it
    gets the pain point's hint, once."""
    for p in s.pain_points:
        if (p.id not in state["revealed"] and p.hint and p.id not in state["hinted"]
                and all(r in state["revealed"] for r in p.requires) and p.about and _mentions(p.about, rep_text)):
            state["hinted"].append(p.id)
            return Move(kind, p.hint, hinted=p.id, intent="hint")
    return None


def answer_closing(s: Scenario, state: dict[str, Any], kind: str, rep_idx: int) -> Move:
    """A closing is accepted (the session ends) once enough pain points are uncovered, else stalled."""
    if len(state["revealed"]) >= s.ready_to_close_after:
        state["agreed_at"] = rep_idx
        return Move(kind, _next_line(s.replies.closing, state, "closing"), ended=True, end_reason="agreed_next_step", intent="agree")
    return Move(kind, _next_line(s.replies.closing_early, state, "closing_early"), intent="stall")


def scripted_reply(s: Scenario, state: dict[str, Any], kind: str) -> Move:
    """The scenario's next scripted line for the turn's kind (a pitch before any question gets the pitch_early lines)."""
    questions = state["counts"].get("why_question", 0) + state["counts"].get("discovery_question", 0)
    if kind == "pitch" and questions == 0:
        return Move(kind, _next_line(s.replies.pitch_early, state, "pitch_early"))
    return Move(kind, _next_line(getattr(s.replies, kind), state, kind))


def _earns(p, state: dict[str, Any], kind: str, rep_text: str, last: str) -> bool:
    return (kind in p.revealed_by and all(r in state["revealed"] for r in p.requires)
            and _mentions(p.about, rep_text, last))


# -- timing and scoring -------------------------------------------------------------------------
DEFAULT_PAUSE_S = 1.0  # text practice: the pause used for timing when none was measured (pause metrics are then withheld)
CUSTOMER_PAUSE_S = 0.7


def speaking_seconds(text: str, language: str) -> float:
    """Spoken duration at the demo calls' pace: 4.2 Chinese characters or 2.5 English words a second."""
    if language == "zh":
        return max(0.6, len(re.sub(r"\s", "", text)) / 4.2)
    return max(0.6, len(text.split()) / 2.5)


def place(transcript: list[dict[str, Any]], speaker: str, text: str, language: str, *, pause_s: float | None = None,
          duration_s: float | None = None) -> tuple[float, float]:
    """Start and end seconds of the next turn: after the previous turn plus the measured pause
    (or the default), lasting ``duration_s`` (measured) or the text's spoken duration."""
    end = transcript[-1]["end_s"] if transcript else 0.0
    gap = pause_s if pause_s is not None else (CUSTOMER_PAUSE_S if speaker == "customer" else DEFAULT_PAUSE_S)
    start = round(end + gap, 3)
    return start, round(start + (duration_s if duration_s is not None else speaking_seconds(text, language)), 3)


def _turns(transcript: list[dict[str, Any]]) -> list[Turn]:
    return [Turn(t["speaker"], t["start_s"], t["end_s"], t["text"]) for t in transcript]


PAUSE_METRICS = ("patience_s", "pain_point_pause_s", "interruptions")


def _cite(t: dict[str, Any]) -> dict[str, Any]:
    return {"turn": t["idx"], "speaker": t["speaker"], "text": t["text"]}


@dataclass
class Failure:
    """Why a rubric check failed, in both languages, and the turn that shows it (if one does)."""

    reason_zh: str
    reason_en: str
    turn: dict[str, Any] | None = None


@dataclass
class Session:
    """What a rubric check looks at: the scenario, the transcript and the dialogue state."""

    scenario: Scenario
    transcript: list[dict[str, Any]]
    state: dict[str, Any]

    @property
    def rep(self) -> list[dict[str, Any]]:
        return [t for t in self.transcript if t["speaker"] == "rep"]

    def turn(self, idx: int | None) -> dict[str, Any] | None:
        return {t["idx"]: t for t in self.transcript}.get(idx)


def agreed_next_step(ses: Session, e, cited):
    """The customer agreed a next step: cites the agreeing turn; fails citing the last stalled closing."""
    if ses.state.get("agreed_at") is None:
        closings = [t for t in ses.rep if t.get("kind") == "closing"]
        return Failure(f"客户没有同意下一步({len(closings)} 次推进都被搁置;先把痛点挖够再推进)",
                       f"the customer agreed no next step ({len(closings)} closing attempt(s) stalled; uncover enough pain first)",
                       closings[-1] if closings else None)
    return ses.turn(ses.state["agreed_at"])


def uncovered_pain_point(ses: Session, e, cited):
    """The pain point was revealed: cites the turn that earned it; fails saying what would have."""
    p = next(p for p in ses.scenario.pain_points if p.id == e.pain_point)
    if e.pain_point not in ses.state["revealed"]:
        how = "/".join(p.revealed_by)
        return Failure(f"痛点“{p.summary}”没有被挖出来:客户只在被问到({how}{',涉及 ' + '、'.join(p.about) if p.about else ''})时才会说",
                       f"the pain point “{p.summary}” stayed hidden: the customer reveals it only to a {how}"
                       f"{' about ' + ' / '.join(p.about) if p.about else ''}")
    return ses.turn(ses.state["revealed"][e.pain_point])


def handled_objection(ses: Session, e, cited):
    """The objection was raised and handled: cites the handling turn (or keeps the earlier citation)."""
    rec = ses.state["objections"].get(e.objection_handled)
    o = next(o for o in ses.scenario.objections if o.id == e.objection_handled)
    if rec is None:
        return Failure("这个异议在对话中没有出现(对话在它被提出之前就结束了)",
                       "the objection never came up (the session ended before it was raised)")
    if rec["status"] != "handled":
        after = next((t for t in ses.rep if t["idx"] > rec["raised_at"]), None)
        return Failure(f"客户在第 {rec['raised_at']} 轮提出异议后没有得到处理(需要:{'/'.join(o.handled_by)})",
                       f"the objection raised at turn {rec['raised_at']} was not handled (it needs a {' or '.join(o.handled_by)})",
                       after or ses.turn(rec["raised_at"]))
    return ses.turn(rec["handled_at"]) or cited


def enough_turns(ses: Session, e, cited):
    """At least ``min_count`` rep turns of the kinds (mentioning the words), before the first
    turn of ``before_first`` when given: cites the one that reaches the count."""
    first = next((t for t in ses.rep if t.get("kind") == e.before_first), None) if e.before_first else None
    pool = [t for t in ses.rep if t["idx"] < first["idx"]] if first is not None else ses.rep
    hits = [t for t in pool if (not e.kind or t.get("kind") in e.kind) and _mentions(e.mentions, t["text"])]
    if len(hits) < e.min_count:
        return too_few_turns(e, hits, first)
    return hits[e.min_count - 1]


def too_few_turns(e, hits: list[dict[str, Any]], first: dict[str, Any] | None) -> Failure:
    what_zh = ("/".join(e.kind) if e.kind else "销售发言") + (f"(提到 {'、'.join(e.mentions)})" if e.mentions else "")
    what_en = (" or ".join(e.kind) if e.kind else "rep turn") + (f" mentioning {' / '.join(e.mentions)}" if e.mentions else "")
    if first is not None:
        return Failure(f"第 {first['idx']} 轮就开始 {e.before_first},之前只有 {len(hits)} 次 {what_zh}(需要 {e.min_count} 次)",
                       f"the first {e.before_first} came at turn {first['idx']} after only {len(hits)} {what_en} (needs {e.min_count})",
                       first)
    return Failure(f"只有 {len(hits)} 次 {what_zh},需要 {e.min_count} 次", f"only {len(hits)} {what_en}, needs {e.min_count}",
                   hits[-1] if hits else None)


def questions_after_pain(ses: Session) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(customer pain point, rep question right after it) pairs. The detectors read the dialogue's
    language (the scenario's), not the language the verdict is written in."""
    spoken = ses.scenario.language
    return [(c, r) for c, r in pairwise(ses.transcript)
            if c["speaker"] == "customer" and r["speaker"] == "rep" and is_pain_point(c["text"], spoken) and is_question(r["text"], spoken)]


def paused_after_pain(ses: Session, e, cited):
    """A measured pause of at least ``pause_after_pain_s`` before a question that follows a pain
    point: cites the first such question; fails when none was measured or all were too short."""
    pairs = questions_after_pain(ses)
    measured = [(c, r) for c, r in pairs if r.get("pause_s") is not None]
    if not measured:
        return Failure("停顿没有被测量(文字练习不计停顿);用语音练习,或在脚本行首写 [2.5s] 标出停顿",
                       "pauses were not measured (text practice has none); practise by voice, or mark a pause with [2.5s] at the start of "
                       "a script line",
                       pairs[0][1] if pairs else None)
    good = [r for _, r in measured if r["pause_s"] >= e.pause_after_pain_s]
    if not good:
        best = max(measured, key=lambda cr: cr[1]["pause_s"])[1]
        return Failure(f"痛点后最长只停顿了 {best['pause_s']:.1f} 秒(需要 ≥ {e.pause_after_pain_s} 秒)",
                       f"the longest pause after a pain point was {best['pause_s']:.1f} s (needs ≥ {e.pause_after_pain_s} s)", best)
    return good[0]


#: the evidence a rubric check may ask for, in the order it is checked: (is it asked for, the step
#: that returns the turn to cite or a Failure). A later step's citation replaces an earlier one.
EVIDENCE_STEPS = (
    (lambda e: e.next_step_agreed, agreed_next_step),
    (lambda e: e.pain_point, uncovered_pain_point),
    (lambda e: e.objection_handled, handled_objection),
    (lambda e: e.kind or e.mentions, enough_turns),
    (lambda e: e.pause_after_pain_s, paused_after_pain),
)


def rubric_verdict(scenario: Scenario, check, transcript: list[dict[str, Any]], state: dict[str, Any], language: str) -> dict[str, Any]:
    """One rubric check: passed or not, the turn that satisfies it, or why it failed (citing the
    turn that shows it where there is one)."""
    out = {"id": check.id, "check": check.check.pick(language), "passed": False, "turn": None, "quote": None, "reason": None}
    ses = Session(scenario, transcript, state)
    cited = None
    for asked_for, step in EVIDENCE_STEPS:
        if not asked_for(check.evidence):
            continue
        found = step(ses, check.evidence, cited)
        if isinstance(found, Failure):
            out["reason"] = pick(language, found.reason_zh, found.reason_en)
            cited = found.turn
            break
        cited = found
    else:
        out["passed"] = True
    if cited:
        out["turn"], out["quote"] = cited["idx"], cited["text"]
    return out


def score_transcript(scenario: Scenario, transcript: list[dict[str, Any]], state: dict[str, Any], language: str) -> dict[str, Any]:
    """Scores of a session: conversation metrics (as for real calls), pain points uncovered of
    those hidden, objections handled, each rubric verdict, and the discovery / rubric / objection
    / overall scores (0–100)."""
    rep = [t for t in transcript if t["speaker"] == "rep"]
    metrics, measured, notes = session_metrics(scenario, transcript, language)
    found = found_pain_points(scenario, state)
    objections = objection_records(scenario, state)
    rubric = [rubric_verdict(scenario, c, transcript, state, language) for c in scenario.rubric]
    kinds = [t.get("kind") for t in rep]
    hidden = len(scenario.pain_points)
    discovery = discovery_score(kinds, found=len(found), hidden=hidden)
    raised = [o for o in objections if o["raised"]]
    objection_score = objection_handling_score(raised)
    rubric_score = 100 * sum(v["passed"] for v in rubric) / len(rubric)
    parts = [discovery, rubric_score] + ([objection_score] if objection_score is not None else [])
    return {
        "discovery": round(discovery, 1), "rubric": round(rubric_score, 1),
        "objection_handling": _round1(objection_score),
        "overall": round(sum(parts) / len(parts), 1),
        "pain_points_found": len(found), "pain_points_hidden": hidden,
        "objections_raised": len(raised), "objections_handled": sum(o["handled"] for o in raised),
        "rep_turns": len(rep), "turn_kinds": {k: kinds.count(k) for k in dict.fromkeys(kinds)},
        "metrics": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in metrics.items()},
        "pauses_measured": measured, "ended_by": state.get("end_reason"),
        "found": found, "objections": objections, "rubric_verdicts": rubric, "notes": notes,
    }


def session_metrics(scenario: Scenario, transcript: list[dict[str, Any]], language: str) -> tuple[dict[str, Any], bool, list[str]]:
    """The call metrics of the session (none without a rep turn), whether any pause was measured,
    and the notes to show: without measured pauses the pause metrics are withheld (None)."""
    turns = _turns(transcript)
    metrics = compute_metrics(turns, scenario.language) if any(t.speaker == "rep" for t in turns) else {}
    measured = any(t.get("pause_s") is not None for t in transcript if t["speaker"] == "rep")
    notes = []
    if metrics and not measured:
        for m in PAUSE_METRICS:
            metrics[m] = None
        notes.append(pick(language, "文字练习不测停顿:耐心、痛点后停顿和打断次数不计;用语音练习可以测量",
                          "text practice measures no pauses: patience, pain-point pause and interruptions are left out; practise by voice "
                          "to measure them"))
    return metrics, measured, notes


def found_pain_points(scenario: Scenario, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The pain points revealed, in the scenario's order, with the rep turn that earned each."""
    return [{"id": p.id, "summary": p.summary, "turn": state["revealed"][p.id]} for p in scenario.pain_points if p.id in state["revealed"]]


def objection_records(scenario: Scenario, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each objection of the scenario: raised (at which turn), handled (at which turn), pushbacks."""
    out = []
    for o in scenario.objections:
        rec = state["objections"].get(o.id)
        out.append({"id": o.id, "raised": rec is not None, "raised_turn": rec and rec["raised_at"],
                    "handled": bool(rec and rec["status"] == "handled"), "handled_turn": rec and rec.get("handled_at"),
                    "pushbacks": rec["pushbacks"] if rec else 0})
    return out


def objection_handling_score(raised: list[dict[str, Any]]) -> float | None:
    """0–100: the share of raised objections that were handled; None when none was raised."""
    return 100 * sum(o["handled"] for o in raised) / len(raised) if raised else None


def _round1(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def discovery_score(kinds: list[str | None], *, found: int, hidden: int) -> float:
    """0–100: half for the share of hidden pain points found, 0.3 for why-questions (three is
    full marks), 0.2 for the share of rep turns that are questions."""
    questions = sum(k in ("why_question", "discovery_question") for k in kinds)
    whys = kinds.count("why_question")
    return 100 * (0.5 * found / hidden + 0.3 * min(1.0, whys / 3) + 0.2 * (questions / len(kinds) if kinds else 0.0))


def running_scores(scenario: Scenario, transcript: list[dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    """What a rep sees after each turn: questions, why-questions, pain points found so far, objections open."""
    rep = [t for t in transcript if t["speaker"] == "rep"]
    kinds = [t.get("kind") for t in rep]
    return {"rep_turns": len(rep), "questions": sum(k in ("why_question", "discovery_question") for k in kinds),
            "why_questions": kinds.count("why_question"), "pitches": kinds.count("pitch"),
            "pain_points_found": len(state["revealed"]), "pain_points_hidden": len(scenario.pain_points),
            "objection_open": open_objection(state)}


def advice(scenario: Scenario, scores: dict[str, Any], language: str) -> list[str]:
    """What to do differently next time: the advice of each failed rubric check, then the metrics
    that fall short of what top reps do (the seed: ~2.3 s after a pain point, 3.7× more why-questions)."""
    out = [next(c for c in scenario.rubric if c.id == v["id"]).advice.pick(language)
           for v in scores["rubric_verdicts"] if not v["passed"]]
    for shortfall in (why_question_advice, pain_pause_advice, talk_ratio_advice, hidden_pain_advice):
        line = shortfall(scores, language)
        if line:
            out.append(line)
    return list(dict.fromkeys(out))


def why_question_advice(scores: dict[str, Any], language: str) -> str | None:
    if (scores["metrics"].get("why_question_count") or 0) < 2:
        return pick(language, "每个痛点至少追问一次“为什么”:优秀销售问“为什么”的次数是一般销售的 3.7 倍",
                    "Ask why at least once for each pain point: top reps ask 3.7× more why-questions")
    return None


def pain_pause_advice(scores: dict[str, Any], language: str) -> str | None:
    pause = scores["metrics"].get("pain_point_pause_s")
    if pause is not None and pause < 2.0:
        return pick(language, f"客户说出痛点后你平均只停了 {pause:.1f} 秒;先停约 2 秒,让客户补充",
                    f"You waited {pause:.1f} s after a pain point; wait about 2 s so the customer adds detail")
    return None


def talk_ratio_advice(scores: dict[str, Any], language: str) -> str | None:
    ratio = scores["metrics"].get("talk_ratio")
    if ratio is not None and ratio > 0.6:
        return pick(language, f"你说了 {ratio:.0%} 的话;少介绍、多提问,让客户多讲",
                    f"You did {ratio:.0%} of the talking; pitch less, ask more, let the customer talk")
    return None


def hidden_pain_advice(scores: dict[str, Any], language: str) -> str | None:
    hidden = scores["pain_points_hidden"] - scores["pain_points_found"]
    if hidden:
        return pick(language, f"还有 {hidden} 个痛点没挖出来;在介绍方案前先问清楚流程、影响和原因",
                    f"{hidden} pain point(s) stayed hidden; ask about the process, its impact and its causes before presenting")
    return None


def objection_in(text: str, language: str) -> bool:
    """Whether a customer line is an objection (the call detector), for the LLM persona's moves."""
    return is_objection(text, language)
