"""The blob store for several nodes sharing PostgreSQL, and the choice of store by settings.

- ``DatabaseBlobStore``: the ``blobs`` / ``blob_chunks`` tables (1 MiB pieces). Writing reads the
  source a piece at a time and reading yields a piece at a time (also for a byte range), so a
  200 MB recording is never whole in memory; a blob is readable only once it is complete
  (``blobs.complete``), so a reader never sees half a file.
- ``blob_store_for``: the database when the deployment shares state, else files in HOME
  (``core.blobs.LocalBlobStore``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from core.blobs import CHUNK_BYTES, BlobMissing, LocalBlobStore, check_key, file_chunks
from crm.db import session_factory
from crm.models import Blob, BlobChunk

__all__ = ["CHUNK_BYTES", "DatabaseBlobStore", "blob_store_for"]


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
            for seq, block in enumerate(file_chunks(Path(source))):
                piece = BlobChunk(blob_id=blob.id, seq=seq, data=block)
                session.add(piece)
                session.flush()  # the piece goes to the server now; the session keeps no bytes
                session.expunge(piece)
                size += len(block)
                blob.chunks = seq + 1
            blob.size, blob.complete = size, True
        return size

    def _blob(self, key: str) -> tuple[int, int]:
        """(id, size) of the complete blob under ``key``; BlobMissing when there is none."""
        with self.factory() as session:
            row = session.execute(select(Blob.id, Blob.size).where(Blob.key == check_key(key), Blob.complete.is_(True))).first()
        if row is None:
            raise BlobMissing(key)
        return row.id, row.size

    def exists(self, key: str) -> bool:
        try:
            self._blob(key)
        except BlobMissing:
            return False
        return True

    def size(self, key: str) -> int:
        return self._blob(key)[1]

    def read(self, key: str) -> Iterator[bytes]:
        blob_id, _size = self._blob(key)
        return self._chunks(blob_id, 0)

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (inclusive): from the piece holding ``start``, pieces trimmed at both ends."""
        blob_id, _size = self._blob(key)
        return _trimmed(self._chunks(blob_id, start // CHUNK_BYTES), start % CHUNK_BYTES, end - start + 1)

    def _chunks(self, blob_id: int, first_seq: int) -> Iterator[bytes]:
        seq = first_seq
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


def _trimmed(pieces: Iterator[bytes], skip: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the concatenated ``pieces`` after the first ``skip``."""
    for block in pieces:
        if skip:
            block, skip = block[skip:], max(0, skip - len(block))
        if length <= 0:
            return
        block = block[:length]
        length -= len(block)
        if block:
            yield block


def _drop(session, key: str) -> None:
    blob_id = session.scalar(select(Blob.id).where(Blob.key == key))
    if blob_id is not None:
        session.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
        session.execute(delete(Blob).where(Blob.id == blob_id))


def blob_store_for(settings, engine: Engine, home: Path) -> LocalBlobStore | DatabaseBlobStore:
    """The database when the deployment shares state (PostgreSQL, or REPCOPILOT_BLOB_STORE=database), else HOME."""
    return DatabaseBlobStore(engine) if settings.shared_state else LocalBlobStore(home)
