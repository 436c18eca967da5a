"""The knowledge catalog and keyword index in the main database, for several nodes.

The same contract as ``knowledge.keyword.KeywordIndex`` (the single-node SQLite FTS5 file in
HOME), over the ``kb_chunks`` / ``kb_sources`` / ``kb_partitions`` tables (migration 0007):

- ``kb_chunks.body`` holds the same pre-tokenised text as the FTS5 index — CJK character
  bigrams and lowercased latin words (``keyword.tokens``); on PostgreSQL a GIN index over
  ``to_tsvector('simple', body)`` answers ``@@`` queries, ranked with ``ts_rank``.
- The partition and the access rule (rep ids, exemplars) are columns, filtered in the same query.
- Each write is its own transaction, so every node sees a chunk as soon as it is indexed.

``move_local_catalog`` copies a single-node install's ``catalog.sqlite`` into these tables
(``repcopilot kb sync`` runs it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from crm.db import session_factory
from crm.models import KnowledgeChunk, KnowledgeMeta, KnowledgePartition, KnowledgePending, KnowledgeSource
from knowledge.keyword import SCHEMA_VERSION, Access, CatalogRow, body, english_query_tokens, restamped, tokens

TSV = func.to_tsvector(text("'simple'"), KnowledgeChunk.body)


def _tsquery(query: str, translated: bool = False) -> str | None:
    """Any of the query's tokens (the FTS5 side ORs them too); the tokens are [a-z0-9]+ words and
    CJK bigrams, nothing a tsquery could read as an operator. ``translated``: an English question's
    marked words, against Chinese chunks' English renderings (``keyword.translated_tokens``)."""
    terms = english_query_tokens(query) if translated else list(dict.fromkeys(tokens(query).split()))
    return " | ".join(terms) if terms else None


class DatabaseKeywordIndex:
    """``KeywordIndex`` over the main database (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the shared knowledge catalog needs PostgreSQL (REPCOPILOT_DATABASE_URL=postgresql+psycopg://…)")
        self.factory = session_factory(engine)
        if self.meta("keyword_schema") != SCHEMA_VERSION:
            self.retokenize()

    def retokenize(self) -> int:
        """Rewrite every chunk's keyword body from its stored text (a catalog written before Chinese
        chunks carried their English rendering); idempotent, so two nodes doing it at once agree."""
        done, last = 0, 0
        while True:
            with self.factory() as session, session.begin():
                got = session.scalars(select(KnowledgeChunk).where(KnowledgeChunk.id > last)
                                      .order_by(KnowledgeChunk.id).limit(500)).all()
                for chunk in got:
                    chunk.body = body(chunk.document, chunk.partition)
            if not got:
                break
            last, done = got[-1].id, done + len(got)
        self.set_meta("keyword_schema", SCHEMA_VERSION)
        return done

    def empty(self) -> bool:
        with self.factory() as session:
            return session.scalar(select(KnowledgeChunk.id).limit(1)) is None

    # -- writing --------------------------------------------------------------------------------
    def add(self, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        """rows: (chunk_id, partition, text, metadata). An existing chunk id is replaced."""
        rows = list(rows)
        if not rows:
            return
        with self.factory() as session, session.begin():
            counts = self._delete(session, [r[0] for r in rows])
            for i in range(0, len(rows), 500):
                session.execute(pg_insert(KnowledgeChunk), [_chunk(*row) for row in rows[i:i + 500]])
            for _cid, part, _text, _meta in rows:
                counts[part] = counts.get(part, 0) + 1
            _count(session, counts)

    def delete(self, chunk_ids: list[str]) -> None:
        if chunk_ids:
            with self.factory() as session, session.begin():
                _count(session, self._delete(session, chunk_ids))

    @staticmethod
    def _delete(session, chunk_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for i in range(0, len(chunk_ids), 500):
            gone = session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.chunk_id.in_(chunk_ids[i:i + 500]))
                                   .returning(KnowledgeChunk.partition)).scalars().all()
            for part in gone:
                counts[part] = counts.get(part, 0) - 1
        return counts

    def commit(self) -> None:
        """Every write above commits on its own."""

    # -- sources (idempotent re-indexing) ----------------------------------------------------
    def source(self, source_key: str) -> tuple[str | None, list[list[str]]] | None:
        with self.factory() as session:
            row = session.get(KnowledgeSource, source_key)
            return (row.digest, json.loads(row.chunk_ids)) if row else None

    def put_sources(self, rows: list[tuple[str, str, str]]) -> None:
        """(source key, digest, JSON chunk ids), replacing older ones."""
        if not rows:
            return
        with self.factory() as session, session.begin():
            stmt = pg_insert(KnowledgeSource).values([{"source_key": k, "digest": d, "chunk_ids": c} for k, d, c in rows])
            session.execute(stmt.on_conflict_do_update(index_elements=["source_key"],
                                                       set_={"digest": stmt.excluded.digest, "chunk_ids": stmt.excluded.chunk_ids}))

    def drop_source(self, source_key: str) -> None:
        with self.factory() as session, session.begin():
            session.execute(delete(KnowledgeSource).where(KnowledgeSource.source_key == source_key))

    def restamp_sources(self, identity: str) -> None:
        """Every source's digest names ``identity`` as what made its vectors (after a reindex)."""
        with self.factory() as session, session.begin():
            for source in session.scalars(select(KnowledgeSource)):
                source.digest = restamped(source.digest, identity)

    # -- meta and chunks waiting for their vectors (the same contract as KeywordIndex) ----------
    def meta(self, key: str) -> str | None:
        with self.factory() as session:
            row = session.get(KnowledgeMeta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.factory() as session, session.begin():
            stmt = pg_insert(KnowledgeMeta).values(key=key, value=value)
            session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))

    def add_pending(self, chunk_ids: list[str]) -> None:
        if chunk_ids:
            with self.factory() as session, session.begin():
                session.execute(pg_insert(KnowledgePending).values([{"chunk_id": c} for c in chunk_ids]).on_conflict_do_nothing())

    def clear_pending(self, chunk_ids: list[str] | None = None) -> None:
        with self.factory() as session, session.begin():
            stmt = delete(KnowledgePending)
            session.execute(stmt if chunk_ids is None else stmt.where(KnowledgePending.chunk_id.in_(chunk_ids)))

    def pending_count(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(KnowledgePending)) or 0

    def pending_rows(self, limit: int) -> list[tuple[str, str, str, dict[str, Any]]]:
        with self.factory() as session:
            got = session.execute(select(KnowledgeChunk.chunk_id, KnowledgeChunk.partition, KnowledgeChunk.document,
                                         KnowledgeChunk.meta)
                                  .join(KnowledgePending, KnowledgePending.chunk_id == KnowledgeChunk.chunk_id)
                                  .order_by(KnowledgeChunk.id).limit(limit)).all()
            return [(cid, part, doc, dict(meta)) for cid, part, doc, meta in got]

    def partition_rows(self, partition: str, batch: int = 256) -> Iterable[list[tuple[str, str, dict[str, Any]]]]:
        last = 0
        while True:
            with self.factory() as session:
                got = session.execute(select(KnowledgeChunk.id, KnowledgeChunk.chunk_id, KnowledgeChunk.document,
                                             KnowledgeChunk.meta)
                                      .where(KnowledgeChunk.partition == partition, KnowledgeChunk.id > last)
                                      .order_by(KnowledgeChunk.id).limit(batch)).all()
            if not got:
                return
            last = got[-1][0]
            yield [(cid, doc, dict(meta)) for _, cid, doc, meta in got]

    # -- reading --------------------------------------------------------------------------------
    def partitions(self) -> dict[str, int]:
        with self.factory() as session:
            return dict(session.execute(select(KnowledgePartition.name, KnowledgePartition.chunks)
                                        .where(KnowledgePartition.chunks > 0)).all())

    def search(self, query: str, partition: str, k: int, access: Access | None = None, *, translated: bool = False) -> list[str]:
        """Chunk ids of the partition matching any of the query's tokens, best ``ts_rank`` first."""
        access = access or Access()
        q = _tsquery(query, translated)
        if not q:
            return []
        tsq = func.to_tsquery(text("'simple'"), q)
        stmt = (select(KnowledgeChunk.chunk_id).where(KnowledgeChunk.partition == partition, TSV.op("@@")(tsq))
                .order_by(func.ts_rank(TSV, tsq).desc(), KnowledgeChunk.id).limit(k))
        if not access.everything:
            allowed = [KnowledgeChunk.rep_id.in_(sorted(access.rep_ids))] if access.rep_ids else []
            if access.exemplars:
                allowed.append(KnowledgeChunk.exemplar.is_(True))
            if not allowed:
                return []
            stmt = stmt.where(or_(*allowed))
        with self.factory() as session:
            return list(session.scalars(stmt))

    def owners(self, chunk_ids: list[str]) -> dict[str, tuple[int | None, bool]]:
        """Who may see each chunk: (rep id, exemplar flag), what an access check reads."""
        out: dict[str, tuple[int | None, bool]] = {}
        with self.factory() as session:
            for i in range(0, len(chunk_ids), 500):
                got = session.execute(select(KnowledgeChunk.chunk_id, KnowledgeChunk.rep_id, KnowledgeChunk.exemplar)
                                      .where(KnowledgeChunk.chunk_id.in_(chunk_ids[i:i + 500])))
                out.update({cid: (rep, bool(ex)) for cid, rep, ex in got})
        return out

    def rows(self, chunk_ids: list[str]) -> dict[str, CatalogRow]:
        out: dict[str, CatalogRow] = {}
        with self.factory() as session:
            for i in range(0, len(chunk_ids), 500):
                for c in session.scalars(select(KnowledgeChunk).where(KnowledgeChunk.chunk_id.in_(chunk_ids[i:i + 500]))):
                    out[c.chunk_id] = CatalogRow(c.chunk_id, c.partition, c.rep_id, c.exemplar, c.document, dict(c.meta))
        return out


def _local_meta(local: sqlite3.Connection) -> list[tuple[str, str]]:
    try:
        return local.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.OperationalError:  # a catalog written before the embedder was recorded
        return []


def _chunk(cid: str, part: str, text_: str, meta: dict[str, Any]) -> dict[str, Any]:
    rep = meta.get("rep_id")
    return {"chunk_id": cid, "partition": part, "rep_id": rep, "exemplar": bool(meta.get("exemplar")),
            "document": text_, "meta": meta, "body": body(text_, part)}


def _count(session, deltas: dict[str, int]) -> None:
    for part, delta in deltas.items():
        if delta == 0:
            continue
        stmt = pg_insert(KnowledgePartition).values(name=part, chunks=max(delta, 0))
        session.execute(stmt.on_conflict_do_update(index_elements=["name"],
                                                   set_={"chunks": KnowledgePartition.chunks + delta}))


def move_local_catalog(path: Path, index: DatabaseKeywordIndex, batch: int = 2000) -> dict[str, int]:
    """Copy a single-node catalog (``HOME/knowledge/catalog.sqlite``) into the database: its chunks
    (replacing the same ids) and its sources. Safe to run again. Counts of what it copied."""
    if not path.is_file():
        return {"chunks": 0, "sources": 0}
    local = sqlite3.connect(path)
    try:
        chunks = 0
        cursor = local.execute("SELECT chunk_id, partition, document, metadata FROM catalog ORDER BY id")
        while block := cursor.fetchmany(batch):
            index.add([(cid, part, doc, json.loads(meta)) for cid, part, doc, meta in block])
            chunks += len(block)
        for key, value in _local_meta(local):  # which embedder made the vectors travels with them
            index.set_meta(key, value)
        sources = local.execute("SELECT source_key, digest, chunk_ids FROM sources").fetchall()
        for i in range(0, len(sources), batch):
            index.put_sources(sources[i:i + batch])
    finally:
        local.close()
    return {"chunks": chunks, "sources": len(sources)}


__all__ = ["DatabaseKeywordIndex", "move_local_catalog"]


def move_local_vectors(folder: Path, client, suffix: str, batch: int = 2000) -> int:
    """Copy the embedded Chroma store of a single-node install (``HOME/knowledge/chroma``) into the
    Chroma server ``client`` talks to: every collection of this embedder (``suffix``) and of the
    cross-lingual companion encoder (``__usem3``), ids, vectors, documents and metadata, upserted
    (safe to run again). How many chunks it copied (the companion's vectors not counted again)."""
    import chromadb
    from chromadb.config import Settings

    from knowledge.use_encoder import UseEncoder

    companion = f"__{UseEncoder.name}"

    if not (folder / "chroma").is_dir():
        return 0
    local = chromadb.PersistentClient(path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False))
    copied = 0
    for col in local.list_collections():
        name = col.name if hasattr(col, "name") else str(col)
        is_companion = f"{name.split('__', 1)[0]}{companion}"[:60] == name
        if f"{name.split('__', 1)[0]}{suffix}"[:60] != name and not is_companion:
            continue  # another embedder's vectors (names are cut at 60 characters, as KnowledgeStore._col does)
        source = local.get_collection(name, embedding_function=None)
        target = client.get_or_create_collection(name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        for offset in range(0, source.count(), batch):
            got = source.get(include=["embeddings", "documents", "metadatas"], limit=batch, offset=offset)
            documents = got["documents"]  # none in the companion's collections (texts are e5's collection's and the catalog's)
            texts = {"documents": documents} if documents is not None and all(d is not None for d in documents) else {}
            target.upsert(ids=got["ids"], embeddings=got["embeddings"], metadatas=got["metadatas"], **texts)
            copied += 0 if is_companion else len(got["ids"])
    return copied
