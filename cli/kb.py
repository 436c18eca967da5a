"""``repcopilot kb``: index playbooks and transcripts, search them with citations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from cli.state import STATE, console, err_console, print_json
from core.errors import UserInputError
from crm.db import session_scope

kb_app = typer.Typer(help="The knowledge base: playbooks and call transcripts, bilingual hybrid search.", no_args_is_help=True)


def _store():
    from tools.knowledge import open_store

    return open_store(STATE.settings, STATE.home)


@kb_app.command("index")
def kb_index(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (Markdown, text, PDF, DOCX); for transcripts: VTT/JSON")],
    kind: Annotated[str, typer.Option("--kind", help="playbook | transcript")] = "playbook",
) -> None:
    """Index files. Unchanged files are skipped, changed files replace their chunks, bad files
    are reported and skipped."""
    if kind not in ("playbook", "transcript"):
        raise UserInputError(f"--kind {kind!r}: use playbook or transcript")
    store = _store()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("indexing", total=None)

        def on_progress(done: int, total: int, name: str = "") -> None:
            progress.update(task, completed=done, total=total, description=f"indexing {name}".strip())

        if kind == "playbook":
            report = store.index_files(paths, kind="playbook", on_progress=on_progress)
        else:
            report = _index_transcript_files(store, paths)
    _print_index_report(report)


def _index_transcript_files(store, paths: list[Path]):
    raise UserInputError(
        "call transcripts are indexed from the CRM, where each call has its rep and team (for access control): "
        "ingest them with `repcopilot calls ingest FILE --rep LOGIN`, then run `repcopilot kb sync`")


@kb_app.command("sync")
def kb_sync() -> None:
    """Index every call stored in the CRM (new and changed ones; unchanged ones are skipped), then
    embed the chunks indexed by keyword only (as `init --demo` leaves its calls)."""
    from tools.knowledge import transcripts_for_index

    store = _store()
    moved = _move_local_knowledge(store)
    if moved:
        console.print(moved, highlight=False)
    with session_scope(STATE.engine()) as session:
        calls = transcripts_for_index(session)
    report = store.index_transcripts(calls)
    _print_index_report(report)
    if pending := store.keywords.pending_count():  # e.g. left by `init --demo`
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=err_console, transient=True) as progress:
            task = progress.add_task("embedding", total=pending)
            done = store.embed_pending(on_progress=lambda n, total: progress.update(task, completed=n, total=total))
        console.print(f"added the vectors of {done} chunks indexed by keyword only")


@kb_app.command("reindex")
def kb_reindex() -> None:
    """Re-embed every indexed chunk with the configured embedder (REPCOPILOT_EMBEDDING_MODEL) and
    cross-lingual companion (REPCOPILOT_CROSSLINGUAL_ENCODER), computing only what changed, and
    delete the vectors of what is no longer configured. Texts come from the catalog: no file is read again."""
    store = _store()
    chunks = sum(store.stats().values())
    console.print(f"re-embedding {chunks} chunks with {store.identity} "
                  f"(indexed with {store.indexed_with or 'nothing yet'}); the old vectors are deleted afterwards")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("re-embedding", total=chunks)
        report = store.reindex(on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    console.print(report.summary())


def _move_local_knowledge(store) -> str | None:
    """On a deployment whose catalog is in PostgreSQL: a single-node catalog left in HOME
    (``knowledge/catalog.sqlite``) is copied into the database, and with a Chroma server its
    embedded vectors (``knowledge/chroma``) are copied to the server; the file is then renamed
    ``catalog.sqlite.moved`` (kept as a backup) so the next sync does not copy it again."""
    from knowledge.catalog_db import DatabaseKeywordIndex, move_local_catalog, move_local_vectors

    folder = STATE.home / "knowledge"
    local = folder / "catalog.sqlite"
    if not isinstance(store.keywords, DatabaseKeywordIndex) or not local.is_file():
        return None
    vectors = move_local_vectors(folder, store.client, store._suffix()) if STATE.settings.chroma_url else 0
    counts = move_local_catalog(local, store.keywords)
    local.rename(local.with_name("catalog.sqlite.moved"))
    return (f"moved the local knowledge base into the database: {counts['chunks']} chunks, {counts['sources']} sources, "
            f"{vectors} vectors to the Chroma server / 已把本机知识库移入数据库:{counts['chunks']} 个片段,"
            f"{counts['sources']} 个来源,{vectors} 个向量")


def _print_index_report(report) -> None:
    for failure in getattr(report, "failed", []):
        err_console.print(f"[red]skipped[/red] {failure}", highlight=False)
    console.print(report.summary() if hasattr(report, "summary") else str(report))


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="the question, in Chinese or English")],
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="number of results")] = 5,
    as_login: Annotated[str | None, typer.Option("--as", help="search as this user (default: admin view)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Hybrid (dense + BM25 bigram) search, per language and fused, with citations."""
    from crm.access import get_user
    from knowledge import Visibility
    from tools.knowledge import visibility_for

    store = _store()
    if as_login:
        with session_scope(STATE.engine()) as session:
            visibility = visibility_for(session, get_user(session, as_login))
    else:
        visibility = Visibility(all_calls=True)
    hits = store.search(query, k=k, visibility=visibility)
    rows = [{"id": h.id, "source": h.source, "section": h.section, "text": h.text, "score": round(h.score, 4),
             "citation": h.citation} for h in hits]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no results — index playbooks with `repcopilot kb index FOLDER` or build the demo with `repcopilot init --demo`")
        return
    table = Table("#", "citation", "text", "score")
    for i, r in enumerate(rows, 1):
        text = r["text"] if len(r["text"]) <= 240 else r["text"][:240] + " …"
        table.add_row(str(i), r["citation"], text, f"{r['score']:.3f}")
    console.print(table)
