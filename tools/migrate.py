"""Moving a single-node install (SQLite, files and indexes in HOME) onto PostgreSQL + a Chroma
server, so any number of nodes can serve it (``repcopilot migrate-to``).

What moves: every table of the database (ids kept, PostgreSQL sequences set past them); uploads
of jobs not yet done and the charts in HOME → the blob store in the database; trainer scenarios
in ``HOME/scenarios`` → ``practice_scenarios``; the knowledge catalog → the database and its
embedded Chroma vectors → the Chroma server. What does not: conversation memory
(``HOME/checkpoints.sqlite``) — conversations start afresh on the new deployment.

The target must be empty (a database that already holds a company is refused); the source is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine

from core.errors import UserInputError
from crm.db import make_engine, upgrade_schema
from crm.models import Base, Job, PracticeScenarioRecord, User

BATCH_ROWS = 1000


@dataclass
class MigrationReport:
    rows: dict[str, int] = field(default_factory=dict)
    uploads: int = 0
    charts: int = 0
    scenarios: int = 0
    knowledge: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{sum(self.rows.values())} rows in {len(self.rows)} tables, {self.uploads} queued uploads, "
                f"{self.charts} charts, {self.scenarios} trainer scenarios, knowledge {self.knowledge} — "
                "conversation memory is not moved")


def migrate_to(*, source: Engine, home: Path, target_url: str, chroma_url: str | None, embedding_model: str) -> MigrationReport:
    if not target_url.startswith("postgresql"):
        raise UserInputError("migrate-to needs a PostgreSQL URL: --database-url postgresql+psycopg://USER@HOST/DB")
    target = make_engine(target_url)
    upgrade_schema(target)
    with target.connect() as conn:
        if conn.scalar(select(func.count()).select_from(User)):
            raise UserInputError("the target database already holds users; migrate into an empty database")
    report = MigrationReport()
    report.rows = copy_tables(source, target)
    report.uploads, report.charts = move_files(target, home)
    report.scenarios = move_scenarios(target, home)
    report.knowledge = move_knowledge(target, home, chroma_url, embedding_model)
    target.dispose()
    return report


def copy_tables(source: Engine, target: Engine) -> dict[str, int]:
    """Every table of the models, parents first, in batches; then PostgreSQL's id sequences past the copied ids."""
    counts: dict[str, int] = {}
    present = set(inspect(source).get_table_names())
    with source.connect() as src, target.begin() as dst:
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            counts[table.name] = 0
            result = src.execution_options(stream_results=True).execute(select(table))
            while rows := result.fetchmany(BATCH_ROWS):
                dst.execute(table.insert(), [dict(r._mapping) for r in rows])
                counts[table.name] += len(rows)
        for table in Base.metadata.sorted_tables:
            if "id" in table.c and table.c.id.primary_key and table.c.id.autoincrement is not False:
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table.name}), 1))"))
    return counts


def move_files(target: Engine, home: Path) -> tuple[int, int]:
    """Uploads of jobs still queued or running → blobs (their payload then names the blob); charts → blobs."""
    from sqlalchemy.orm import Session

    from crm.blobs import DatabaseBlobStore

    store = DatabaseBlobStore(target)
    uploads = 0
    with Session(target) as session, session.begin():
        for job in session.scalars(select(Job).where(Job.status.in_(("queued", "running")), Job.kind == "ingest_call")):
            path = Path(job.payload.get("path") or home / (job.payload.get("blob") or "-"))
            if not path.is_file():
                continue
            key = f"uploads/{path.name}"
            store.put_file(key, path)
            job.payload = {k: v for k, v in job.payload.items() if k != "path"} | {"blob": key}
            uploads += 1
    uploads += move_kept_recordings(store, target, home)
    charts = 0
    for chart in sorted((home / "charts").glob("*.png")) if (home / "charts").is_dir() else []:
        store.put_file(f"charts/{chart.name}", chart)
        charts += 1
    return uploads, charts


def move_kept_recordings(store, target: Engine, home: Path) -> int:
    """Calls whose recording is kept in ``HOME/uploads`` → blobs; the call then names its blob (``blob:<key>``)."""
    from sqlalchemy.orm import Session

    from core.blobs import BLOB_PREFIX
    from crm.models import Call

    folder = (home / "uploads").resolve()
    moved = 0
    with Session(target) as session, session.begin():
        calls = select(Call).where(Call.source_file.like(f"{folder}/%") | Call.source_file.like(f"{BLOB_PREFIX}uploads/%"))
        for call in session.scalars(calls):
            path = home / call.source_file[len(BLOB_PREFIX):] if call.source_file.startswith(BLOB_PREFIX) else Path(call.source_file)
            if path.parent.resolve() != folder or not path.is_file():
                continue
            key = f"uploads/{path.name}"
            store.put_file(key, path)
            call.source_file = f"{BLOB_PREFIX}{key}"
            moved += 1
    return moved


def move_scenarios(target: Engine, home: Path) -> int:
    from sqlalchemy.orm import Session

    from tools.practice.scenario import home_dir, load_file

    folder = home_dir(home)
    if folder is None or not folder.is_dir():
        return 0
    moved = 0
    with Session(target) as session, session.begin():
        for path in sorted(folder.glob("*.yaml")):
            scenario = load_file(path)  # a file that does not validate stops the move with its name and field
            session.merge(PracticeScenarioRecord(code=scenario.code, yaml_text=path.read_text(encoding="utf-8"),
                                                 updated_at=datetime.now(UTC).replace(tzinfo=None)))
            moved += 1
    return moved


def move_knowledge(target: Engine, home: Path, chroma_url: str | None, embedding_model: str) -> dict[str, int]:
    from knowledge import KnowledgeStore, make_embedder
    from knowledge.catalog_db import DatabaseKeywordIndex, move_local_catalog, move_local_vectors

    folder = home / "knowledge"
    counts = move_local_catalog(folder / "catalog.sqlite", DatabaseKeywordIndex(target))
    if chroma_url:
        store = KnowledgeStore(home / "migrate-tmp", embedder=make_embedder(embedding_model), chroma_url=chroma_url,
                               catalog_engine=target)
        counts["vectors"] = move_local_vectors(folder, store.client, store._suffix())
    return counts
