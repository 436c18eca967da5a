"""The keyword side of hybrid search: SQLite FTS5 over CJK character bigrams and
lowercased latin words (pre-tokenised, indexed with the plain unicode61 tokenizer), BM25."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> str:
    out: list[str] = []
    for run in CJK_RUN.findall(text):
        out.extend(run[i:i + 2] for i in range(max(1, len(run) - 1)))
    out.extend(WORD.findall(text.lower()))
    return " ".join(out)


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(body, chunk_id UNINDEXED, partition UNINDEXED, tokenize='unicode61')")
        self.db.execute("CREATE TABLE IF NOT EXISTS sources (source_key TEXT PRIMARY KEY, digest TEXT, chunk_ids TEXT)")
        self.db.commit()

    def add(self, rows: list[tuple[str, str, str]]) -> None:
        """rows: (chunk_id, partition, text). The partition is also a token of the body, so a
        query's partition filter is an index intersection inside FTS5, not a scan of its matches."""
        self.db.executemany("INSERT INTO chunks (body, chunk_id, partition) VALUES (?, ?, ?)",
                            [(f"{_ptoken(part)} {tokens(text)}", cid, part) for cid, part, text in rows])

    def delete(self, chunk_ids: list[str]) -> None:
        self.db.executemany("DELETE FROM chunks WHERE chunk_id = ?", [(c,) for c in chunk_ids])

    def search(self, query: str, partitions: list[str], k: int) -> list[str]:
        q = " OR ".join(f'"{t}"' for t in dict.fromkeys(tokens(query).split()))
        if not q or not partitions:
            return []
        scope = " OR ".join(_ptoken(p) for p in partitions)
        rows = self.db.execute("SELECT chunk_id FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?",
                               (f"({q}) AND ({scope})", k)).fetchall()
        return [r[0] for r in rows]


def _ptoken(partition: str) -> str:
    return "zzpart" + re.sub(r"[^a-z0-9]", "", partition.lower())
