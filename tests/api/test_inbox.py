"""The inbox — the one writer of inbound messages in a server process — on both backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from api.inbox import Inbox
from crm.models import InboundMessage


def _accept(inbox: Inbox, msg_id: str, text: str = "hi"):
    return inbox.accept(channel="wecom", platform_msg_id=msg_id, conversation_id="wecom:u1", platform_user_id="u1",
                        kind="text", text=text)


def test_each_platform_message_id_is_stored_once_and_a_retry_comes_back_as_none(engine):
    inbox = Inbox(engine)
    try:
        first = _accept(inbox, "m1").result(timeout=10)
        retry = _accept(inbox, "m1", text="changed").result(timeout=10)
        other = _accept(inbox, "m2").result(timeout=10)
    finally:
        inbox.close()
    assert isinstance(first, int) and retry is None and isinstance(other, int) and other != first
    with engine.connect() as conn:
        rows = conn.execute(select(InboundMessage.platform_msg_id, InboundMessage.text)).all()
    assert sorted(rows) == [("m1", "hi"), ("m2", "hi")]  # the retry changed nothing


def test_a_burst_with_duplicates_stores_each_id_once_and_gives_exactly_one_caller_its_row(engine):
    inbox = Inbox(engine)
    ids = [f"b{i % 60}" for i in range(300)]  # 60 distinct ids, each sent 5 times, from 20 threads at once
    try:
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda m: _accept(inbox, m).result(timeout=30), ids))
    finally:
        inbox.close()
    winners = [(m, r) for m, r in zip(ids, results, strict=True) if r is not None]
    assert sorted(m for m, _ in winners) == sorted(set(ids))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 60


def test_two_inboxes_on_one_database_accept_a_message_once_between_them(engine):
    a, b = Inbox(engine), Inbox(engine)
    try:
        got = [_accept(a, "x1").result(timeout=10), _accept(b, "x1").result(timeout=10)]
    finally:
        a.close()
        b.close()
    assert sum(r is not None for r in got) == 1


def test_finish_records_status_answer_and_the_resolved_user(engine):
    inbox = Inbox(engine)
    try:
        row_id = _accept(inbox, "f1").result(timeout=10)
        inbox.finish(row_id, status="answered", answer="ok", user_id=None).result(timeout=10)
    finally:
        inbox.close()
    with engine.connect() as conn:
        row = conn.execute(select(InboundMessage.status, InboundMessage.answer, InboundMessage.user_id)
                           .where(InboundMessage.id == row_id)).one()
    assert tuple(row) == ("answered", "ok", None)
