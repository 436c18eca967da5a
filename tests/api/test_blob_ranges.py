"""Byte ranges of a blob (the call page's recording, any node) and the Range header parser."""

from __future__ import annotations

import os

import pytest
from fastapi import HTTPException

from api.calls_page import byte_range
from core.blobs import CHUNK_BYTES, LocalBlobStore
from crm.blobs import DatabaseBlobStore


def test_byte_range_reads_one_range_and_refuses_one_outside_the_file():
    assert byte_range(None, 100) is None and byte_range("bytes=0-1,5-6", 100) is None
    assert byte_range("bytes=10-19", 100) == (10, 19)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-5", 100) == (95, 99)
    assert byte_range("bytes=50-500", 100) == (50, 99)
    with pytest.raises(HTTPException) as refused:
        byte_range("bytes=100-", 100)
    assert refused.value.status_code == 416 and refused.value.headers["Content-Range"] == "bytes */100"


@pytest.mark.parametrize("start,end", [(0, 9), (CHUNK_BYTES - 3, CHUNK_BYTES + 4), (5, 2 * CHUNK_BYTES + 99), (2 * CHUNK_BYTES, 2 * CHUNK_BYTES + 99)])
def test_a_range_read_returns_exactly_those_bytes_from_either_store(engine, tmp_path, start, end):
    data = os.urandom(2 * CHUNK_BYTES + 100)
    (tmp_path / "uploads").mkdir()
    source = tmp_path / "uploads" / "r.wav"
    source.write_bytes(data)
    for store in (LocalBlobStore(tmp_path), DatabaseBlobStore(engine)):
        store.put_file("uploads/r.wav", source)
        assert store.size("uploads/r.wav") == len(data)
        pieces = list(store.read_range("uploads/r.wav", start, end))
        assert b"".join(pieces) == data[start:end + 1] and all(len(p) <= CHUNK_BYTES for p in pieces)
