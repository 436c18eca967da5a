"""The catalog and keyword side of hybrid search, in one SQLite file.

- ``catalog``: one row per chunk — its partition, who may see it (rep id, exemplar flag),
  the redacted text and the metadata. Search results are read from here, so a query never
  asks Chroma for documents or runs a Chroma metadata filter (~60–100 ms at 100k chunks).
- ``fts``: FTS5 over CJK character bigrams and lowercased latin words (pre-tokenised, the
  plain unicode61 tokenizer), BM25. Its rowid is the catalog row's id. The partition and
  the access tokens (``zzr<rep>``, ``zzx`` for exemplars) are tokens of the body, so the
  access filter is an index intersection inside FTS5, not a scan of its matches.
- a Chinese chunk's body also holds its dictionary rendering in English (CC-CEDICT,
  ``knowledge.dictionary``), each word stemmed and marked ``zzt`` (``zztfreeze``, ``zztorder``), so an English
  question finds a Chinese passage by its words (``search(..., translated=True)``) without
  those words ever matching an English question's own keyword search.
- ``partitions``: chunk counts per partition, so planning a query needs no round trip to Chroma.
- ``sources``: each indexed file or call, its digest and its chunk ids (idempotent re-indexing).
- ``pending``: chunks indexed for keywords whose vectors are still to be written (``kb sync``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
WORD = re.compile(r"[a-z0-9]+")
SCHEMA_VERSION = "3"  # 3: Chinese chunks carry their English dictionary rendering (``translated_tokens``)
TRANSLATED = "zzt"


def tokens(text: str) -> str:
    out: list[str] = []
    for run in CJK_RUN.findall(text):
        out.extend(run[i:i + 2] for i in range(max(1, len(run) - 1)))
    out.extend(WORD.findall(text.lower()))
    return " ".join(out)


def partition_language(partition: str) -> str:
    """The language of a partition's chunks: its name's last part (``pb_zh``, ``calls_t3_en``)."""
    return partition.rsplit("_", 1)[-1]


def stem(word: str) -> str:
    """A light English stem, the same on both sides ("hospitals" → hospital, "approved" → approv,
    "approves" → approv): enough for BM25 over a dictionary's words."""
    for suffix in ("ies", "es", "s", "ed", "ing"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[:-len(suffix)]
    return word


def translated_tokens(text: str) -> str:
    """A Chinese text's English words by the dictionary, stemmed and marked (``zztclient``)."""
    from knowledge.dictionary import to_english

    return " ".join(TRANSLATED + stem(w) for w in to_english(text).split())


def english_query_tokens(query: str) -> list[str]:
    """An English question's content words, stemmed and marked: what ``translated_tokens`` wrote."""
    from knowledge.dictionary import ENGLISH_STOP

    return list(dict.fromkeys(TRANSLATED + stem(w) for w in WORD.findall(query.lower()) if w not in ENGLISH_STOP))


def body(text: str, partition: str) -> str:
    """What the keyword index holds for a chunk: its own tokens and, for a Chinese chunk, its
    English rendering (``translated_tokens``)."""
    own = tokens(text)
    return f"{own} {translated_tokens(text)}" if partition_language(partition) == "zh" else own


@dataclass(frozen=True)
class Access:
    """Which chunks of one partition a query may read: all, or those of some reps and/or the exemplars."""

    everything: bool = True
    rep_ids: frozenset[int] = frozenset()
    exemplars: bool = False

    def allows(self, rep_id: int | None, exemplar: bool) -> bool:
        return self.everything or (rep_id in self.rep_ids) or (self.exemplars and exemplar)

    def fts_clause(self) -> str | None:
        if self.everything:
            return None
        terms = [f"zzr{r}" for r in sorted(self.rep_ids)] + (["zzx"] if self.exemplars else [])
        return " OR ".join(terms) if terms else "zznothing"


@dataclass
class CatalogRow:
    chunk_id: str
    partition: str
    rep_id: int | None
    exemplar: bool
    document: str
    metadata: dict[str, Any]


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS catalog (
                id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, partition TEXT NOT NULL,
                rep_id INTEGER, exemplar INTEGER NOT NULL DEFAULT 0, document TEXT NOT NULL, metadata TEXT NOT NULL);
            CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, tokenize='unicode61');
            CREATE TABLE IF NOT EXISTS partitions (name TEXT PRIMARY KEY, chunks INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS sources (source_key TEXT PRIMARY KEY, digest TEXT, chunk_ids TEXT);
            CREATE TABLE IF NOT EXISTS pending (chunk_id TEXT PRIMARY KEY);
        """)
        # a new file is written in this schema; a file with chunks but no schema row predates it
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION if self.empty() else "2",))
        self.db.commit()
        if self.meta("schema") != SCHEMA_VERSION:
            self.retokenize()

    def retokenize(self) -> int:
        """Rewrite every chunk's keyword body from its stored text (an index written by an earlier
        version: schema 2 had no English rendering of Chinese chunks). No vector changes."""
        got = self.db.execute("SELECT id, partition, rep_id, exemplar, document FROM catalog").fetchall()
        for rowid, part, rep, exemplar, text in got:
            self.db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
            self.db.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (rowid, _fts_body(part, rep, bool(exemplar), text)))
        self.set_meta("schema", SCHEMA_VERSION)
        return len(got)

    def empty(self) -> bool:
        return self.db.execute("SELECT 1 FROM catalog LIMIT 1").fetchone() is None

    # -- writing --------------------------------------------------------------------------------
    def add(self, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        """rows: (chunk_id, partition, text, metadata). An existing chunk id is replaced."""
        rows = list(rows)
        self.delete([r[0] for r in rows])
        counts: dict[str, int] = {}
        for cid, part, text, meta in rows:
            rep = meta.get("rep_id")
            exemplar = bool(meta.get("exemplar"))
            cur = self.db.execute(
                "INSERT INTO catalog (chunk_id, partition, rep_id, exemplar, document, metadata) VALUES (?, ?, ?, ?, ?, ?)",
                (cid, part, rep, int(exemplar), text, json.dumps(meta, ensure_ascii=False)))
            self.db.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (cur.lastrowid, _fts_body(part, rep, exemplar, text)))
            counts[part] = counts.get(part, 0) + 1
        self._count(counts)

    def delete(self, chunk_ids: list[str]) -> None:
        if not chunk_ids:
            return
        counts: dict[str, int] = {}
        for i in range(0, len(chunk_ids), 500):
            part_ids = chunk_ids[i:i + 500]
            marks = ",".join("?" * len(part_ids))
            found = self.db.execute(f"SELECT id, partition FROM catalog WHERE chunk_id IN ({marks})", part_ids).fetchall()
            if not found:
                continue
            self.db.executemany("DELETE FROM pending WHERE chunk_id = ?", [(c,) for c in part_ids])
            self.db.executemany("DELETE FROM fts WHERE rowid = ?", [(r[0],) for r in found])
            self.db.executemany("DELETE FROM catalog WHERE id = ?", [(r[0],) for r in found])
            for _, part in found:
                counts[part] = counts.get(part, 0) - 1
        self._count(counts)

    def _count(self, deltas: dict[str, int]) -> None:
        for part, delta in deltas.items():
            self.db.execute("INSERT INTO partitions VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET chunks = chunks + ?",
                            (part, max(delta, 0), delta))

    def commit(self) -> None:
        self.db.commit()

    def add_pending(self, chunk_ids: list[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(c,) for c in chunk_ids])

    def clear_pending(self, chunk_ids: list[str] | None = None) -> None:
        if chunk_ids is None:
            self.db.execute("DELETE FROM pending")
        else:
            self.db.executemany("DELETE FROM pending WHERE chunk_id = ?", [(c,) for c in chunk_ids])
        self.db.commit()

    def pending_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM pending").fetchone()[0]

    def pending_rows(self, limit: int) -> list[tuple[str, str, str, dict[str, Any]]]:
        """Up to ``limit`` chunks still without vectors, as (chunk id, partition, text, metadata)."""
        got = self.db.execute("SELECT c.chunk_id, c.partition, c.document, c.metadata FROM pending p "
                              "JOIN catalog c ON c.chunk_id = p.chunk_id ORDER BY c.id LIMIT ?", (limit,)).fetchall()
        return [(cid, part, doc, json.loads(meta)) for cid, part, doc, meta in got]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        self.db.commit()

    # -- sources (idempotent re-indexing); the same contract as knowledge.catalog_db --------------
    def source(self, source_key: str) -> tuple[str | None, list[list[str]]] | None:
        row = self.db.execute("SELECT digest, chunk_ids FROM sources WHERE source_key = ?", (source_key,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def put_sources(self, rows: list[tuple[str, str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO sources VALUES (?, ?, ?)", rows)

    def drop_source(self, source_key: str) -> None:
        self.db.execute("DELETE FROM sources WHERE source_key = ?", (source_key,))

    def restamp_sources(self, identity: str) -> None:
        """Every source's digest names ``identity`` as what made its vectors (after a reindex)."""
        self.db.executemany("UPDATE sources SET digest = ? WHERE source_key = ?", [
            (restamped(digest, identity), key) for key, digest in self.db.execute("SELECT source_key, digest FROM sources")])
        self.db.commit()

    # -- reading --------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def partition_rows(self, partition: str, batch: int = 256) -> Iterable[list[tuple[str, str, dict[str, Any]]]]:
        """Every chunk of a partition as (chunk id, text, metadata), in batches."""
        last = 0
        while True:
            got = self.db.execute("SELECT id, chunk_id, document, metadata FROM catalog WHERE partition = ? AND id > ? "
                                  "ORDER BY id LIMIT ?", (partition, last, batch)).fetchall()
            if not got:
                return
            last = got[-1][0]
            yield [(cid, doc, json.loads(meta)) for _, cid, doc, meta in got]

    def partitions(self) -> dict[str, int]:
        return {name: n for name, n in self.db.execute("SELECT name, chunks FROM partitions WHERE chunks > 0")}

    def search(self, query: str, partition: str, k: int, access: Access = Access(), *, translated: bool = False) -> list[str]:
        """Chunk ids of the partition matching any of the query's tokens, best BM25 first;
        ``translated``: an English question's words against Chinese chunks' English renderings."""
        terms = english_query_tokens(query) if translated else dict.fromkeys(tokens(query).split())
        q = " OR ".join(f'"{t}"' for t in terms)
        if not q:
            return []
        match = f"({q}) AND {_ptoken(partition)}"
        clause = access.fts_clause()
        if clause:
            match += f" AND ({clause})"
        rowids = [r[0] for r in self.db.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match, k))]
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        by_row = dict(self.db.execute(f"SELECT id, chunk_id FROM catalog WHERE id IN ({marks})", rowids).fetchall())
        return [by_row[r] for r in rowids if r in by_row]

    def owners(self, chunk_ids: list[str]) -> dict[str, tuple[int | None, bool]]:
        """Who may see each chunk: (rep id, exemplar flag), what an access check reads."""
        out: dict[str, tuple[int | None, bool]] = {}
        for i in range(0, len(chunk_ids), 500):
            part_ids = chunk_ids[i:i + 500]
            marks = ",".join("?" * len(part_ids))
            for cid, rep, ex in self.db.execute(f"SELECT chunk_id, rep_id, exemplar FROM catalog WHERE chunk_id IN ({marks})", part_ids):
                out[cid] = (rep, bool(ex))
        return out

    def rows(self, chunk_ids: list[str]) -> dict[str, CatalogRow]:
        out: dict[str, CatalogRow] = {}
        for i in range(0, len(chunk_ids), 500):
            part_ids = chunk_ids[i:i + 500]
            marks = ",".join("?" * len(part_ids))
            for cid, part, rep, ex, doc, meta in self.db.execute(
                    f"SELECT chunk_id, partition, rep_id, exemplar, document, metadata FROM catalog WHERE chunk_id IN ({marks})",
                    part_ids):
                out[cid] = CatalogRow(cid, part, rep, bool(ex), doc, json.loads(meta))
        return out


def restamped(digest: str | None, identity: str) -> str:
    """A source digest (``sha256:c<chunker>:<embedder identity>``) with another identity; a digest
    from before the identity was recorded (``sha256`` or ``sha256:c<chunker>``) gets it appended."""
    parts = (digest or "").split(":", 2)
    return ":".join(parts[:2] + [identity]) if len(parts) >= 2 and parts[1].startswith("c") else f"{digest}:{identity}"


def _fts_body(partition: str, rep: int | None, exemplar: bool, text: str) -> str:
    access = (f" zzr{rep}" if rep is not None else "") + (" zzx" if exemplar else "")
    return f"{_ptoken(partition)}{access} {body(text, partition)}"


def _ptoken(partition: str) -> str:
    return "zzpart" + re.sub(r"[^a-z0-9]", "", partition.lower())
