"""The practice dialogue graph and the session functions the CLI, the API and the chat call.

Graph (LangGraph ``StateGraph``), one run per rep turn:

    START ─► score_rep_turn ─► customer_turn ─► check_end ─► (end_session) ─► END
      └──────────────(an explicit end)──────────────────────►  end_session

- ``score_rep_turn`` classifies the rep's turn and advances the scenario's state — which hidden
  pain point the questioning earned, which objection comes up, whether a closing is accepted
  (tools/practice/dialogue.py decides, for both personas);
- ``customer_turn`` words the customer's reply: the scenario's scripted line offline, or an
  OpenAI-compatible model (langchain-openai, as the copilot's planner) whose system prompt holds
  the persona and only the pain points unlocked so far — a locked one is not in the prompt, so
  the model cannot give it away;
- ``check_end`` routes to ``end_session`` (final scores) when the customer agreed a next step or
  the turn limit is reached.

Session state lives in ``practice_sessions`` (transcript, dialogue state, scores), so a session
survives restarts and the API can serve it from any process without a checkpointer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from core.errors import UserInputError
from crm.models import PracticeSession
from tools.context import ToolContext
from tools.practice.dialogue import Move, decide, new_state, place, running_scores, score_transcript
from tools.practice.scenario import Scenario
from tools.practice.service import count_for_assignment, load_session, open_assignment, rep_report, scenario_for


# -- personas ------------------------------------------------------------------------------------
class ScriptedPersona:
    """Offline: the scenario's scripted line is the reply."""

    name = "scripted"

    def reply(self, scenario: Scenario, transcript: list[dict[str, Any]], dialogue: dict[str, Any], move: Move) -> str:
        return move.reply


INSTRUCTIONS = {
    "reveal": "Now tell the rep this, in your own words: {line}",
    "hint": "Only hint at it, without details: {line}",
    "raise": "Raise this objection now: {line}",
    "resolve": "The rep handled your objection well; say what is really behind it: {line}",
    "pushback": "The rep did not address your objection; push back: {line}",
    "agree": "Accept a concrete next step: {line}",
    "stall": "Do not commit to anything yet: {line}",
    "reply": "Answer briefly and reveal nothing new. For example: {line}",
}


def persona_prompt(s: Scenario, dialogue: dict[str, Any], move: Move) -> str:
    """The system prompt of the LLM persona: who to play, what is unlocked so far, what to do now.
    Pain points the rep has not earned are left out entirely."""
    unlocked = [p for p in s.pain_points if p.id in dialogue["revealed"]]
    lines = [
        f"You are {s.persona.name}, {s.persona.role} at {s.persona.organisation}, on a sales call. "
        f"The caller is a sales rep; stay in character as the customer and never coach the rep.",
        f"Personality: {s.persona.personality}.",
        f"Speak {'Simplified Chinese' if s.language == 'zh' else 'English'}, one to three sentences, like on the phone.",
        f"Budget: {s.budget}. Decision process: {s.decision_process}.",
        "Problems you have already told the rep (you may refer to them):",
        *([f"- {p.summary}" for p in unlocked] or ["- none yet"]),
        "Do not mention any other problem of yours: the rep has not earned it with their questions.",
        "What to do in this reply: " + INSTRUCTIONS[move.intent].format(line=move.reply),
    ]
    return "\n".join(lines)


class LLMPersona:
    """The customer played by any OpenAI-compatible chat model (the construction the planner uses)."""

    name = "llm"

    def __init__(self, *, base_url: str, api_key: str | None, model: str, timeout_s: float = 60.0, max_retries: int = 2) -> None:
        from langchain_openai import ChatOpenAI

        self.model = ChatOpenAI(base_url=base_url, api_key=api_key or "not-needed", model=model, timeout=timeout_s,
                                max_retries=max_retries, temperature=0.3)

    def reply(self, scenario: Scenario, transcript: list[dict[str, Any]], dialogue: dict[str, Any], move: Move) -> str:
        messages: list[Any] = [SystemMessage(content=persona_prompt(scenario, dialogue, move))]
        for t in transcript:
            messages.append(AIMessage(content=t["text"]) if t["speaker"] == "customer" else HumanMessage(content=t["text"]))
        text = str(self.model.invoke(messages).content).strip()
        return text or move.reply


def make_persona(settings) -> ScriptedPersona | LLMPersona:
    if settings is not None and settings.llm_base_url:
        return LLMPersona(base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model or "gpt-4o-mini")
    return ScriptedPersona()


# -- the graph -----------------------------------------------------------------------------------
class PracticeState(TypedDict, total=False):
    transcript: list[dict[str, Any]]
    dialogue: dict[str, Any]  # the scenario state: pain points earned, objections, counts …
    rep_text: str
    pause_s: float | None  # measured pause before the rep's turn (voice), None in text practice
    duration_s: float | None  # measured duration of the rep's turn (voice)
    at: str  # wall-clock time of the turn
    end_requested: bool
    move: dict[str, Any]
    running: dict[str, Any]
    scores: dict[str, Any] | None


@dataclass(kw_only=True)
class PracticeContext:
    scenario: Scenario = field(metadata={"description": "the scenario being practised"})
    persona: Any = field(metadata={"description": "ScriptedPersona or LLMPersona: words the customer's replies"})
    language: str = field(default="zh", metadata={"description": "the rep's language (verdicts and advice)"})


def _turn(transcript: list[dict[str, Any]], speaker: str, text: str, language: str, **extra: Any) -> dict[str, Any]:
    start, end = place(transcript, speaker, text, language, pause_s=extra.get("pause_s"), duration_s=extra.pop("duration_s", None))
    return {"idx": len(transcript) + 1, "speaker": speaker, "text": text, "start_s": start, "end_s": end, **extra}


def score_rep_turn(state: PracticeState, runtime: Runtime[PracticeContext]) -> dict:
    s = runtime.context.scenario
    transcript = list(state["transcript"])
    dialogue = dict(state["dialogue"])
    text = state["rep_text"].strip()
    move = decide(s, dialogue, text, rep_idx=len(transcript) + 1)
    transcript.append(_turn(transcript, "rep", text, s.language, kind=move.kind, pause_s=state.get("pause_s"),
                            duration_s=state.get("duration_s"), at=state.get("at"), handled=move.handled))
    return {"transcript": transcript, "dialogue": dialogue, "move": move.__dict__}


def customer_turn(state: PracticeState, runtime: Runtime[PracticeContext]) -> dict:
    s = runtime.context.scenario
    move = Move(**state["move"])
    transcript = list(state["transcript"])
    try:
        text = runtime.context.persona.reply(s, transcript, state["dialogue"], move)
    except Exception as exc:  # noqa: BLE001 — an unreachable model must not end the rep's practice
        text, move.intent = move.reply, f"{move.intent} (scripted: the model failed: {type(exc).__name__})"
    transcript.append(_turn(transcript, "customer", text, s.language, at=state.get("at"), revealed=move.revealed,
                            raised=move.raised, intent=move.intent))
    return {"transcript": transcript, "running": running_scores(s, transcript, state["dialogue"])}


def check_end(state: PracticeState) -> dict:
    return {}


def route_start(state: PracticeState) -> Literal["score_rep_turn", "end_session"]:
    if state.get("end_requested"):
        return "end_session"
    if not (state.get("rep_text") or "").strip():
        raise ValueError("a practice turn needs the rep's text (or end_requested)")
    return "score_rep_turn"


def route_end(state: PracticeState) -> Literal["end_session", "__end__"]:
    return "end_session" if state["dialogue"].get("ended") else END


def end_session_node(state: PracticeState, runtime: Runtime[PracticeContext]) -> dict:
    dialogue = dict(state["dialogue"])
    dialogue["ended"] = True
    dialogue["end_reason"] = dialogue.get("end_reason") or "ended_by_rep"
    return {"dialogue": dialogue,
            "scores": score_transcript(runtime.context.scenario, state["transcript"], dialogue, runtime.context.language)}


def build_practice_graph(checkpointer=None):
    graph = StateGraph(PracticeState, context_schema=PracticeContext)
    graph.add_node("score_rep_turn", score_rep_turn)
    graph.add_node("customer_turn", customer_turn)
    graph.add_node("check_end", check_end)
    graph.add_node("end_session", end_session_node)
    graph.add_conditional_edges(START, route_start, ["score_rep_turn", "end_session"])
    graph.add_edge("score_rep_turn", "customer_turn")
    graph.add_edge("customer_turn", "check_end")
    graph.add_conditional_edges("check_end", route_end, ["end_session", END])
    graph.add_edge("end_session", END)
    return graph.compile(checkpointer=checkpointer)


GRAPH = build_practice_graph()


# -- session functions ---------------------------------------------------------------------------
def start_session(ctx: ToolContext, code: str, *, persona=None) -> dict[str, Any]:
    """Start practising a scenario (a code or a phrase such as "医院采购价格异议"): the customer's
    opening line. The session counts for the rep's open assignment of a drill pointing at it."""
    s = scenario_for(ctx, code)
    persona = persona or ScriptedPersona()
    assignment = open_assignment(ctx, s.code)
    transcript = [_turn([], "customer", s.opening, s.language, at=ctx.now().isoformat(timespec="seconds"), intent="opening")]
    row = PracticeSession(user_id=ctx.user.id, scenario_code=s.code, started_at=ctx.now(), ended_at=None, transcript=transcript,
                          scores=None, language=ctx.language, persona=persona.name, state=new_state(),
                          drill_assignment_id=assignment.id if assignment else None)
    ctx.session.add(row)
    ctx.session.flush()
    return {"session_id": row.id, "scenario": s.code, "title": s.label(ctx.language), "language": s.language,
            "situation": s.situation.pick(ctx.language), "persona": f"{s.persona.name} · {s.persona.role} · {s.persona.organisation}",
            "opening": s.opening, "drill_assignment_id": row.drill_assignment_id, "persona_kind": persona.name,
            "max_rep_turns": s.max_rep_turns}


def _invoke(ctx: ToolContext, row: PracticeSession, s: Scenario, persona, **inputs: Any) -> dict[str, Any]:
    out = GRAPH.invoke({"transcript": list(row.transcript), "dialogue": dict(row.state or new_state()), **inputs},
                       context=PracticeContext(scenario=s, persona=persona, language=ctx.language))
    row.transcript = out["transcript"]
    row.state = out["dialogue"]
    if out.get("scores"):
        _finish(ctx, row, s, out["scores"])
    ctx.session.flush()
    return out


def _finish(ctx: ToolContext, row: PracticeSession, s: Scenario, scores: dict[str, Any]) -> None:
    scores = dict(scores, report=rep_report(ctx, s, scores))
    row.ended_at = ctx.now()
    row.scores = scores
    if row.drill_assignment_id:
        from crm.models import DrillAssignment
        from tools.drills import complete_assignment

        ctx.session.flush()
        a = ctx.session.get(DrillAssignment, row.drill_assignment_id)
        progress = {"id": a.id, "sessions_done": count_for_assignment(ctx, a.id), "repetitions": a.repetitions}
        if a.completed_at is None and progress["sessions_done"] >= a.repetitions:
            progress["completed"] = complete_assignment(ctx=ctx, assignment_id=a.id).message
        row.scores = dict(scores, assignment=progress)


def _turn_view(out: dict[str, Any], row: PracticeSession) -> dict[str, Any]:
    rep, customer = out["transcript"][-2], out["transcript"][-1]
    view = {"session_id": row.id, "rep": {k: rep.get(k) for k in ("idx", "kind", "text", "pause_s")},
            "customer": {"idx": customer["idx"], "text": customer["text"]}, "running": out.get("running"),
            "ended": row.ended_at is not None}
    if row.scores:
        view["report"] = row.scores["report"]
        view["scores"] = _public_scores(row.scores)
    return view


def rep_turn(ctx: ToolContext, session_id: int, text: str | None = None, *, audio: Path | None = None,
             pause_s: float | None = None, persona=None, whisper_model: str = "base") -> dict[str, Any]:
    """One rep turn — text, or a recorded turn (``audio``) that goes through the speech pipeline so
    its pause and duration are measured — and the customer's reply with the running scores. When
    the customer agrees a next step or the turn limit is reached, the session ends and the report
    comes with it."""
    row = load_session(ctx, session_id, write=True)
    if row.ended_at is not None:
        raise UserInputError(ctx.t(f"练习 {session_id} 已经结束;用 `repcopilot practice start` 开始新的练习。",
                                   f"practice session {session_id} has ended; start a new one with `repcopilot practice start`."))
    s = scenario_for(ctx, row.scenario_code)
    duration = None
    if audio is not None:
        from tools.practice.voice import transcribe_turn

        text, pause_s, duration = transcribe_turn(Path(audio), s.language, home=ctx.home, model=whisper_model)
    if not (text or "").strip():
        raise UserInputError(ctx.t("这一轮没有内容;输入你要对客户说的话。", "the turn is empty; type what you say to the customer."))
    if pause_s is not None and not 0 <= pause_s <= 120:
        raise UserInputError(ctx.t("停顿应在 0 到 120 秒之间。", "the pause must be between 0 and 120 seconds."))
    out = _invoke(ctx, row, s, persona or ScriptedPersona(), rep_text=text, pause_s=pause_s, duration_s=duration,
                  at=ctx.now().isoformat(timespec="seconds"))
    return _turn_view(out, row)


def end_session(ctx: ToolContext, session_id: int) -> dict[str, Any]:
    """End a session (or return the report of one already ended): scores, rubric verdicts, report."""
    row = load_session(ctx, session_id, write=False)
    if row.ended_at is None:
        if row.user_id != ctx.user.id:
            load_session(ctx, session_id, write=True)  # raises: only the rep ends their session
        s = scenario_for(ctx, row.scenario_code)
        _invoke(ctx, row, s, ScriptedPersona(), end_requested=True)
    return session_result(row)


def _public_scores(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if k not in ("rubric_verdicts", "report", "found")}


def session_result(row: PracticeSession) -> dict[str, Any]:
    """The run/report JSON: ``{"session_id", "transcript", "scores", "rubric", "pain_points_found", "report"}``."""
    sc = row.scores or {}
    return {"session_id": row.id, "scenario": row.scenario_code, "transcript": row.transcript, "scores": _public_scores(sc),
            "rubric": sc.get("rubric_verdicts", []), "pain_points_found": sc.get("found", []), "report": sc.get("report")}


SCRIPT_PAUSE = re.compile(r"^\[(\d+(?:\.\d+)?)\s*s\]\s*(.*)$")


def parse_script(lines: list[str]) -> list[tuple[str, float | None]]:
    """One rep turn per line; ``#`` comments and blank lines skipped; ``[2.3s]`` at the start of a
    line is the measured pause before that turn."""
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = SCRIPT_PAUSE.match(line)
        out.append((m.group(2).strip(), float(m.group(1))) if m else (line, None))
    if not out:
        raise UserInputError("the script has no rep turns; write one rep turn per line "
                             "(optionally starting with [2.3s], the pause before it)")
    return out


def run_script(ctx: ToolContext, code: str, lines: list[str], *, persona=None, audio_dir: Path | None = None,
               whisper_model: str = "base") -> dict[str, Any]:
    """A whole session from a script of rep turns (evaluation): the turns run until the script or
    the dialogue ends, then the session ends. With ``audio_dir``, turn N is ``NN.wav`` (01.wav …)
    and goes through the speech pipeline instead of the text line."""
    turns = parse_script(lines) if audio_dir is None else [("", None)] * len(sorted(Path(audio_dir).glob("*.wav")))
    if audio_dir is not None and not turns:
        raise UserInputError(f"{audio_dir}: no .wav files; record one rep turn per file named 01.wav, 02.wav …")
    started = start_session(ctx, code, persona=persona)
    sid = started["session_id"]
    wavs = sorted(Path(audio_dir).glob("*.wav")) if audio_dir is not None else []
    for i, (text, pause) in enumerate(turns):
        view = rep_turn(ctx, sid, text or None, audio=wavs[i] if wavs else None, pause_s=pause, persona=persona,
                        whisper_model=whisper_model)
        if view["ended"]:
            break
    return end_session(ctx, sid)
