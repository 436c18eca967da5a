"""Where files a request hands to another node are kept: uploaded calls and charts.

- ``LocalBlobStore``: files under HOME (``HOME/uploads/…``, ``HOME/charts/…``) — one node.
- ``DatabaseBlobStore``: the ``blobs`` / ``blob_chunks`` tables (1 MiB pieces), for several nodes
  sharing PostgreSQL. Writing reads the source a piece at a time and reading yields a piece at a
  time, so a 200 MB recording is never whole in memory; a blob is readable only once it is
  complete (``blobs.complete``), so a reader never sees half a file.

A key is a relative name such as ``uploads/<uuid>.wav`` or ``charts/<user>-<id>.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from crm.db import session_factory
from crm.models import Blob, BlobChunk

CHUNK_BYTES = 1 << 20
KEY = re.compile(r"^[a-z]+(/[A-Za-z0-9._-]+)+$")


class BlobMissing(KeyError):
    """No (complete) blob under this key."""


def check_key(key: str) -> str:
    if not KEY.match(key) or ".." in key:
        raise ValueError(f"not a blob key: {key!r}")
    return key


class BlobStore(Protocol):
    def put_file(self, key: str, source: Path) -> int: ...
    def read(self, key: str) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def fetch_to(self, key: str, target: Path) -> Path: ...
    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Files under one folder (HOME): the single-node default, the layout earlier versions used."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, source: Path) -> int:
        target = self.path(key)
        if Path(source).resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return target.stat().st_size

    def read(self, key: str) -> Iterator[bytes]:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(key)
        return _file_chunks(path)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def fetch_to(self, key: str, target: Path) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(key)
        return path  # already a local file: no copy

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            yield block


class DatabaseBlobStore:
    """Blobs in the main database, in 1 MiB rows; every node reads what any node wrote."""

    def __init__(self, engine: Engine) -> None:
        self.factory = session_factory(engine)

    def put_file(self, key: str, source: Path) -> int:
        """Store ``source`` under ``key`` (replacing an older blob), a piece per row, in one transaction."""
        check_key(key)
        size = 0
        with self.factory() as session, session.begin():
            _drop(session, key)
            blob = Blob(key=key, size=0, chunks=0, complete=False, created_at=datetime.now(UTC).replace(tzinfo=None))
            session.add(blob)
            session.flush()
            for seq, block in enumerate(_file_chunks(Path(source))):
                piece = BlobChunk(blob_id=blob.id, seq=seq, data=block)
                session.add(piece)
                session.flush()  # the piece goes to the server now; the session keeps no bytes
                session.expunge(piece)
                size += len(block)
                blob.chunks = seq + 1
            blob.size, blob.complete = size, True
        return size

    def _blob_id(self, key: str) -> int | None:
        with self.factory() as session:
            return session.scalar(select(Blob.id).where(Blob.key == check_key(key), Blob.complete.is_(True)))

    def exists(self, key: str) -> bool:
        return self._blob_id(key) is not None

    def read(self, key: str) -> Iterator[bytes]:
        blob_id = self._blob_id(key)
        if blob_id is None:
            raise BlobMissing(key)
        return self._chunks(blob_id)

    def _chunks(self, blob_id: int) -> Iterator[bytes]:
        seq = 0
        while True:  # one piece per query: a reader holds one piece and no connection between them
            with self.factory() as session:
                block = session.scalar(select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq))
            if block is None:
                return
            yield bytes(block)
            seq += 1

    def fetch_to(self, key: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        chunks = self.read(key)
        with target.open("wb") as out:
            for block in chunks:
                out.write(block)
        return target

    def delete(self, key: str) -> None:
        with self.factory() as session, session.begin():
            _drop(session, check_key(key))


def _drop(session, key: str) -> None:
    blob_id = session.scalar(select(Blob.id).where(Blob.key == key))
    if blob_id is not None:
        session.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
        session.execute(delete(Blob).where(Blob.id == blob_id))


def blob_store_for(settings, engine: Engine, home: Path) -> LocalBlobStore | DatabaseBlobStore:
    """The database when the deployment shares state (PostgreSQL, or REPCOPILOT_BLOB_STORE=database), else HOME."""
    return DatabaseBlobStore(engine) if settings.shared_state else LocalBlobStore(home)
