"""The server's long-lived parts: engine, the compiled copilot, conversation lanes."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from api.inbox import Inbox
from agent.service import Answer, Copilot, make_planner, open_checkpointer
from core.settings import Settings
from crm.db import engine_for, ensure_home, session_factory, upgrade_schema
from crm.models import User
from tools.context import ToolContext
from tools.jobs import JobWorker


class Lanes:
    """Work for one conversation runs in order; different conversations run in parallel."""

    def __init__(self, lanes: int = 4) -> None:
        self._pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane{i}") for i in range(lanes)]

    def submit(self, key: str, fn, *args) -> Future:
        lane = int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(self._pools)
        return self._pools[lane].submit(fn, *args)

    def shutdown(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home: Path = ensure_home(settings.resolved_home)
        self.engine = engine_for(settings.resolved_database_url)
        upgrade_schema(self.engine)
        self.session_factory = session_factory(self.engine)
        self._stack = ExitStack()
        saver = self._stack.enter_context(open_checkpointer(settings, self.home))
        self.copilot = Copilot(planner=make_planner(settings), checkpointer=saver)
        self._graph_lock = threading.Lock()  # the SQLite checkpointer connection is shared
        self.lanes = Lanes()
        self.inbox = Inbox(self.engine)
        self.worker: JobWorker | None = None
        if settings.inline_worker:  # one process by default; `repcopilot worker` when this is off
            self.worker = JobWorker(self.engine, home=self.home, settings=settings).start()
        self._knowledge = None

    @property
    def knowledge(self):
        if self._knowledge is None:
            try:
                from tools.knowledge import open_store

                self._knowledge = open_store(self.settings, self.home)
            except ImportError:
                return None
        return self._knowledge

    def ask(self, user_id: int, question: str, thread_id: str) -> Answer:
        with self.session_factory() as session:
            user = session.get(User, user_id)
            ctx = ToolContext(user=user, session=session, home=self.home, knowledge=self.knowledge,
                              anonymized=self.settings.anonymized_aggregate_mode)
            with self._graph_lock:
                answer = self.copilot.ask(ctx, question, thread_id=thread_id)
            session.commit()
            return answer

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.lanes.shutdown()
        self.inbox.close()
        self._stack.close()
