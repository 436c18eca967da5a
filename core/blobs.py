"""Where files a request hands to another node are kept: uploaded calls and charts.

This module is the lowest layer's part of it and imports nothing from the project:

- ``BlobStore``: what every store does — put a file, read it a piece at a time (all of it, or a
  byte range), its size, fetch it to a local file, delete it.
- ``LocalBlobStore``: files under HOME (``HOME/uploads/…``, ``HOME/charts/…``) — one node.

The store for several nodes sharing PostgreSQL (``DatabaseBlobStore``) and the choice between the
two by settings (``blob_store_for``) are in ``crm.blobs``: they need the database.

A key is a relative name such as ``uploads/<uuid>.wav`` or ``charts/<user>-<id>.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 1 << 20
KEY = re.compile(r"^[a-z]+(/[A-Za-z0-9._-]+)+$")
BLOB_PREFIX = "blob:"  # a call's source_file naming a blob key rather than a path on one machine

class BlobMissing(KeyError):
    """No (complete) blob under this key."""

def check_key(key: str) -> str:
    if not KEY.match(key) or ".." in key:
        raise ValueError(f"not a blob key: {key!r}")
    return key

def blob_key_of(source_file: str | None) -> str | None:
    """The blob key a stored ``source_file`` names (``blob:uploads/….wav``), or None for a plain path."""
    if source_file and source_file.startswith(BLOB_PREFIX):
        return source_file[len(BLOB_PREFIX):]
    return None

class BlobStore(Protocol):
    def put_file(self, key: str, source: Path) -> int: ...
    def read(self, key: str) -> Iterator[bytes]: ...
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
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

    def _existing(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(key)
        return path

    def read(self, key: str) -> Iterator[bytes]:
        return file_chunks(self._existing(key))

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (inclusive), a piece at a time."""
        return file_chunks(self._existing(key), start, end)

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def fetch_to(self, key: str, target: Path) -> Path:
        return self._existing(key)  # already a local file: no copy

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

def file_chunks(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The file's bytes ``start``..``end`` (inclusive; None: to the end), at most ``CHUNK_BYTES`` at a time."""
    left = None if end is None else end - start + 1
    with path.open("rb") as fh:
        fh.seek(start)
        while left is None or left > 0:
            block = fh.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
            if not block:
                return
            if left is not None:
                left -= len(block)
            yield block

