"""``repcopilot bench blobs``: a large recording through the database blob store (put, then read
back) against copying the same file on local disk, and how much the process grew meanwhile."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.blobs import CHUNK_BYTES
from crm.blobs import DatabaseBlobStore
from crm.db import make_engine, upgrade_schema


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """A throw-away database on the PostgreSQL server of ``server_url`` (dropped afterwards, so the
    deployment's own database is never touched), or a SQLite file in ``folder``."""
    if not server_url:
        yield f"sqlite:///{folder / 'blobs.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"repcopilot_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_blobs(database_url: str | None, size_mib: int = 200) -> dict[str, Any]:
    """``database_url``: a PostgreSQL server to measure the several-node store on (in a scratch database
    of its own); None: a SQLite file in a temp folder."""
    with tempfile.TemporaryDirectory() as tmp, scratch_database(database_url, Path(tmp)) as url:
        folder = Path(tmp)
        source = folder / "call.bin"
        with source.open("wb") as out:
            for _ in range(size_mib):
                out.write(os.urandom(CHUNK_BYTES))
        engine = make_engine(url)
        upgrade_schema(engine)
        store = DatabaseBlobStore(engine)
        key = f"uploads/bench-{os.getpid()}.bin"
        rss_before = _rss_mib()
        start = time.perf_counter()
        store.put_file(key, source)
        put_s = time.perf_counter() - start
        rss_put = _rss_mib()
        digest, start = hashlib.sha256(), time.perf_counter()
        for piece in store.read(key):
            digest.update(piece)
        read_s = time.perf_counter() - start
        rss_read = _rss_mib()
        store.delete(key)
        engine.dispose()
        start = time.perf_counter()
        shutil.copyfile(source, folder / "copy.bin")
        copy_s = time.perf_counter() - start
    return {"blob_mib": size_mib, "backend": (database_url or "sqlite").split(":", 1)[0],
            "put_s": round(put_s, 2), "read_s": round(read_s, 2),
            "put_mib_per_s": round(size_mib / put_s, 1), "read_mib_per_s": round(size_mib / read_s, 1),
            "local_copy_s": round(copy_s, 2), "put_vs_local_copy": round(put_s / copy_s, 1),
            "peak_rss_growth_put_mib": round(rss_put - rss_before, 1), "peak_rss_growth_read_mib": round(rss_read - rss_put, 1)}
