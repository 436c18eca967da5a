"""``repcopilot eval``: evaluation suites that report quality (tests only check the runners work)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.state import console, print_json
from core.errors import UserInputError


def _demo_session(tmp: str):
    from crm.db import make_engine, session_factory, upgrade_schema
    from tools.demo_setup import build_demo

    engine = make_engine(f"sqlite:///{Path(tmp) / 'eval.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=date(2026, 11, 20))
    return engine, session_factory(engine)


def _kpi(tmp: str) -> dict[str, Any]:
    """Per suite (old cases, old held-out, paraphrase dev, paraphrase test) and language: spec right,
    value right against the oracle, different metric answered with a number (must be 0)."""
    from evals.kpi_eval import run_kpi_suites, seed_alerts

    engine, factory = _demo_session(tmp)
    seed_alerts(engine)
    with factory() as session:
        suites = run_kpi_suites(session)
        session.rollback()
    report: dict[str, Any] = {}
    for name, figures in suites.items():
        for key, value in figures.items():
            if key != "failures":
                report[f"{name}: {key}"] = value
    report["failures"] = [f | {"suite": name} for name, figures in suites.items() for f in figures["failures"]]
    return report


def _detectors(tmp: str) -> dict[str, Any]:
    from evals.detectors import evaluate_detectors

    report = evaluate_detectors()
    report["failures"] = report.pop("errors")
    return report


# a set's batches were written at different times, each against the demo as built: each runs on it
AGENT_SETS = {"old": ("agent_cases.jsonl",),
              "dev": ("agent_dev.jsonl", "agent_dev_b3.jsonl", "agent_dev_b4.jsonl", "agent_dev_b5.jsonl", "agent_dev_b6.jsonl",
                      "agent_dev_b7.jsonl", "agent_dev_b8.jsonl", "agent_dev_b9.jsonl", "agent_dev_b10.jsonl",
                      "agent_dev_b11.jsonl", "agent_dev_b12.jsonl", "agent_dev_b13.jsonl", "agent_dev_b14.jsonl",
                      "agent_dev_b15.jsonl", "agent_dev_b16.jsonl", "agent_dev_b17.jsonl",
                      "agent_dev_b18.jsonl", "agent_dev_b19.jsonl"),
              "test": ("agent_test.jsonl", "agent_test_b3.jsonl", "agent_test_b4.jsonl", "agent_test_b5.jsonl", "agent_test_b6.jsonl")}


def _agent(tmp: str, cases_file: Path | None = None) -> dict[str, Any]:
    """One case file, or the three sets: the original suite ("old", written with the old planner),
    and the paraphrase set written before tuning, split once by a hash of the id into "dev" (tuned
    on) and "test" (reported; its failures are not listed, so nobody tunes on them)."""
    reports = _run_sets(tmp, _load_sets(cases_file))
    if cases_file:
        return reports["cases"]
    out: dict[str, Any] = {name: {k: v for k, v in r.items() if k != "failures"} | {"failed": len(r["failures"])}
                           for name, r in reports.items()}
    out["failures"] = [f for name in ("old", "dev") if name in reports for f in reports[name]["failures"]]
    return out


def _load_sets(cases_file: Path | None) -> dict[str, list[list[dict[str, Any]]]]:
    """The sets to run, each a list of batches of cases: one file, or the old, dev and test sets."""
    from evals.agent_eval import CASES_DIR, load_cases

    if cases_file:
        files = {"cases": [cases_file]}
    else:
        files = {k: [CASES_DIR / f for f in v if (CASES_DIR / f).exists()] for k, v in AGENT_SETS.items()}
    try:
        return {name: [load_cases(path) for path in paths] for name, paths in files.items()}
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read the cases: {exc}; give a JSON-lines file of "
                             '{"id", "as", "question", "expect_tools", "expect_facts", "lang"} objects') from None


def _run_sets(tmp: str, sets: dict[str, list[list[dict[str, Any]]]]) -> dict[str, Any]:
    """Each set's figures: its batches, each on the fresh demo company as built (rolled back after it)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.planners import OfflinePlanner
    from agent.service import Copilot
    from crm.access import get_user
    from crm.db import session_factory
    from evals.agent_eval import run_agent_cases, summarize
    from evals.demo import NOON, build_eval_demo, build_eval_knowledge
    from tools.context import ToolContext

    engine = build_eval_demo(Path(tmp))
    store = build_eval_knowledge(Path(tmp) / "kb", engine)
    reports: dict[str, Any] = {}
    with session_factory(engine)() as session:
        for name, batches in sets.items():
            results = []
            for n, cases in enumerate(batches):
                results += run_agent_cases(
                    Copilot(planner=OfflinePlanner(), checkpointer=InMemorySaver()),
                    lambda login: ToolContext(user=get_user(session, login), session=session, clock=lambda: NOON, knowledge=store),
                    cases, thread_prefix=f"eval-{name}-{n}")
                session.rollback()  # adopting a suggestion in a case must not leak into the next batch
            reports[name] = summarize(results)
    return reports


def _retrieval(tmp: str) -> dict[str, Any]:
    from cli.state import STATE
    from crm.demo import DEMO_PLAYBOOKS
    from evals.retrieval import corpus_retrieval_report, no_translation, run_retrieval_eval
    from knowledge import KnowledgeStore, make_embedder

    s = STATE.settings
    embedder = make_embedder(s.embedding_model, base_url=s.embedding_base_url, api_key=s.embedding_api_key)
    store = KnowledgeStore(Path(tmp) / "retrieval", embedder=embedder)
    store.index_files([DEMO_PLAYBOOKS])
    report = run_retrieval_eval(store)
    report["embedder"] = s.embedding_model
    # the same cases with the query left untranslated: how far the embedder crosses languages alone
    untranslated = run_retrieval_eval(store, translate=no_translation)
    report["without_query_translation"] = {"recall_at_3": untranslated["recall_at_3"], "mrr": untranslated["mrr"]}
    report.update(corpus_retrieval_report(KnowledgeStore(Path(tmp) / "retrieval_corpus", embedder=embedder)))
    return report


def _practice(tmp: str) -> dict[str, Any]:
    from evals.practice_eval import run_practice_eval

    engine, factory = _demo_session(tmp)
    with factory() as session:
        report = run_practice_eval(session, home=Path(tmp))
        session.rollback()
    return report


def _profiles(tmp: str) -> dict[str, Any]:
    from evals.profiles_eval import profiles_suite

    return profiles_suite(tmp)


SUITES = {
    "agent": ("copilot questions → tools, facts, refusals per role and language (offline planner)", _agent),
    "detectors": ("question / why / open / pain-point detection: precision and recall per language", _detectors),
    "kpi": ("KPI questions → query specs, per language", _kpi),
    "profiles": ("demo company: the patient, curious reps come out on top in needs discovery", _profiles),
    "practice": ("scripted strong vs weak rep sessions per demo scenario: discovery, rubric, cited verdicts", _practice),
    "retrieval": ("recall@3 and MRR per direction (en→en, zh→zh, en→zh, zh→en): demo playbooks; held-out corpus dev and test, with and "
                  "without the offline translation", _retrieval),
}


def feedback_cases(session, *, since: date | None = None) -> list[dict[str, Any]]:
    """The 👎 answers of the web chat as agent eval cases (the runner's fields, ``expect_tools`` set
    to the tools the answer used and ``expect_facts`` empty, both for a person to correct — hence
    ``needs_review``), with the reason, the answer, its evidence and the conversation's earlier
    questions, oldest first."""
    from sqlalchemy import select

    from crm.models import AnswerFeedback, ChatMessage, User

    stmt = (select(AnswerFeedback, User.login, ChatMessage.conversation_id)
            .join(User, User.id == AnswerFeedback.user_id).join(ChatMessage, ChatMessage.id == AnswerFeedback.message_id)
            .where(AnswerFeedback.rating == -1).order_by(AnswerFeedback.created_at, AnswerFeedback.id))
    if since is not None:
        stmt = stmt.where(AnswerFeedback.created_at >= datetime.combine(since, datetime.min.time()))
    cases = []
    for fb, login, conversation_id in session.execute(stmt):
        earlier = list(session.scalars(select(ChatMessage.text).where(
            ChatMessage.conversation_id == conversation_id, ChatMessage.role == "user",
            ChatMessage.id < fb.message_id).order_by(ChatMessage.id)))[:-1]
        cases.append({
            "id": f"fb-{fb.id}", "as": login, "lang": fb.language, "question": fb.question,
            "expect_tools": [t["name"] for t in fb.tools or [] if t.get("name")], "expect_facts": [],
            "needs_review": True,
            "feedback": {"reason": fb.reason, "answer": fb.answer, "evidence": fb.evidence, "tools": fb.tools,
                         "earlier_questions": earlier, "rated_at": fb.created_at.isoformat(), "message_id": fb.message_id},
        })
    return cases


def export_feedback(out: Path | None, since: str | None) -> None:
    """`repcopilot eval export-feedback`: the 👎 answers → eval cases (JSON lines)."""
    import json

    from cli.state import STATE
    from crm.db import session_factory

    try:
        since_date = date.fromisoformat(since) if since else None
    except ValueError:
        raise UserInputError(f"--since {since!r} is not a date; write it as YYYY-MM-DD") from None
    with session_factory(STATE.engine())() as session:
        cases = feedback_cases(session, since=since_date)
    lines = "".join(json.dumps(c, ensure_ascii=False, default=str) + "\n" for c in cases)
    if out is None:
        typer.echo(lines, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(lines, encoding="utf-8")
    console.print(f"{len(cases)} 👎 answer(s) → {out}; review expect_tools / expect_facts, then run "
                  f"`repcopilot eval {out}`", highlight=False)


def eval_command(
    suites: Annotated[list[str] | None, typer.Argument(help=f"suites to run (default: all): {', '.join(SUITES)}; "
                                                            "or `export-feedback` to write the 👎 web chat answers as eval cases")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="export-feedback: the JSON-lines file to write (default: stdout)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="export-feedback: only ratings from this day on (YYYY-MM-DD)")] = None,
) -> None:
    """Run evaluation suites on a fresh demo company (seed 7, as of 2026-11-20) and report quality;
    `repcopilot eval export-feedback [--out FILE] [--since DAY]` exports the 👎 answers as eval cases."""
    if suites and suites[0] == "export-feedback":
        if len(suites) > 1:
            raise UserInputError("export-feedback takes no suite names; use --out FILE and --since YYYY-MM-DD")
        export_feedback(out, since)
        return
    names = suites or list(SUITES)
    files = case_files(names)
    report = run_suites(names, files)
    if as_json:
        print_json(report)
        return
    print_report(report)


def case_files(names: list[str]) -> list[str]:
    """The agent case files among the suite names (``*.jsonl``); an unknown suite or a missing
    file is refused before anything runs."""
    files = [n for n in names if n.endswith(".jsonl")]
    unknown = [n for n in names if n not in SUITES and n not in files]
    if unknown:
        raise UserInputError(f"unknown eval suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)} "
                             "or give a CASES.jsonl file of agent cases")
    for f in files:
        if not Path(f).is_file():
            raise UserInputError(f"{f}: no such file")
    return files


def run_suites(names: list[str], files: list[str]) -> dict[str, dict[str, Any]]:
    """Each suite (or agent case file) in a shared temporary folder; a case file gets its own sub-folder."""
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="repcopilot-eval-") as tmp:
        for name in names:
            if name in files:
                folder = Path(tmp) / f"cases{len(report)}"
                folder.mkdir()
                report[name] = _agent(str(folder), Path(name))
            else:
                report[name] = SUITES[name][1](tmp)
    return report


def print_report(report: dict[str, dict[str, Any]]) -> None:
    """A table of figures per suite, its failure count, and its first ten failures."""
    for name, figures in report.items():
        title = SUITES[name][0] if name in SUITES else "agent cases from a file"
        table = Table("figure", "value", title=f"eval {name} — {title}")
        for key, value in figures.items():
            if key == "failures":
                continue
            table.add_row(key, str(value))
        table.add_row("failures", str(len(figures.get("failures", []))))
        console.print(table)
        for f in figures.get("failures", [])[:10]:
            console.print(f"  [red]✗[/red] {f}", highlight=False)
