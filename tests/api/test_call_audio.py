"""GET /api/calls/{id}/audio over HTTP: an uploaded call's recording streams from the blob store
(whichever node stored it), whole or as one byte range, only to those who may see the call."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.blobs import CHUNK_BYTES
from core.settings import Settings
from crm.access import get_user
from crm.db import make_engine, session_scope
from crm.models import Call
from tests.api.conftest import demo_home_with_tokens

KEY = "uploads/kept-call.wav"


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """zhangwei's first call pointing at a recording in the blob store (2 MiB + 100 bytes)."""
    home = tmp_path_factory.mktemp("audio-home")
    tokens = demo_home_with_tokens(home, ("zhangwei", "chenjing", "huanglei"))
    data = os.urandom(2 * CHUNK_BYTES + 100)
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as s:
        call = s.scalars(select(Call).where(Call.rep_id == get_user(s, "zhangwei").id).order_by(Call.id)).first()
        call.source_file = f"blob:{KEY}"
        call_id = call.id
    engine.dispose()
    app = create_app(Settings(home=home))
    with TestClient(app) as client:
        source = home / "kept-call.wav"
        source.write_bytes(data)
        app.state.runtime.blobs.put_file(KEY, source)
        source.unlink()
        yield client, tokens, call_id, data


def _get(client, token: str, call_id: int, **headers):
    return client.get(f"/api/calls/{call_id}/audio", headers={"Authorization": f"Bearer {token}", **headers})


def test_the_whole_recording_streams_from_the_blob_store(kept):
    client, tokens, call_id, data = kept
    got = _get(client, tokens["zhangwei"], call_id)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith("audio/")


def test_a_byte_range_across_pieces_answers_206_with_exactly_those_bytes(kept):
    client, tokens, call_id, data = kept
    start, end = CHUNK_BYTES - 10, CHUNK_BYTES + 9
    got = _get(client, tokens["chenjing"], call_id, Range=f"bytes={start}-{end}")  # the rep's manager
    assert got.status_code == 206
    assert got.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert got.content == data[start:end + 1]


def test_a_range_past_the_end_is_416_and_another_teams_manager_gets_404(kept):
    client, tokens, call_id, data = kept
    past = _get(client, tokens["zhangwei"], call_id, Range=f"bytes={len(data)}-")
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    assert _get(client, tokens["huanglei"], call_id).status_code == 404
