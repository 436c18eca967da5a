"""The server's long-lived parts: engine, the compiled copilot, conversation lanes."""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from agent.service import Answer, Copilot, make_planner, open_checkpointer
from api.capacity import AgentGate
from api.inbox import Inbox
from core.settings import Settings
from crm.blobs import blob_store_for
from crm.db import engine_for, ensure_home, schema_lock, session_factory, upgrade_schema
from crm.models import User
from tools.context import ToolContext
from tools.jobs import JobWorker
from tools.practice.scenario import sync_scenarios

log = logging.getLogger("repcopilot.runtime")


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
        self.engine = engine_for(settings.resolved_database_url, settings.db_pool_size)
        upgrade_schema(self.engine)
        self.session_factory = session_factory(self.engine)
        self.blobs = blob_store_for(settings, self.engine, self.home)  # uploads and charts any node can read
        self._stack = ExitStack()
        with schema_lock(self.engine):  # LangGraph's PostgresSaver.setup() creates tables too: one node at a time
            saver = self._stack.enter_context(open_checkpointer(settings, self.home))
        self.copilot = Copilot(planner=make_planner(settings), checkpointer=saver)
        self._graph_lock = threading.Lock()  # the SQLite checkpointer connection is shared
        self.lanes = Lanes()
        self.agent_gate = AgentGate(settings.max_agent_runs, queue=settings.agent_queue, wait_s=settings.agent_queue_wait_s,
                                    retry_after_s=settings.busy_retry_after_s)
        self.inbox = Inbox(self.engine)
        self.worker: JobWorker | None = None
        if settings.inline_worker:  # one process by default; `repcopilot worker` when this is off
            self.worker = JobWorker(self.engine, home=self.home, settings=settings).start()
        self._knowledge = None
        self._knowledge_lock = threading.Lock()
        self.ready = threading.Event()  # set when the knowledge store and the models are open (GET /ready)
        self.warm_up_error: str | None = None
        self._stop_signals = threading.Event()
        self._signals: threading.Thread | None = None
        if settings.signals_interval_s > 0:
            self._signals = threading.Thread(target=self._signals_loop, name="signals", daemon=True)
            self._signals.start()

    @property
    def knowledge(self):
        """The knowledge store, opened once: a request that arrives while it opens waits for it
        (opening it from several threads at once failed: "Could not connect to tenant …")."""
        if self._knowledge is None:
            with self._knowledge_lock:
                if self._knowledge is None:
                    try:
                        from tools.knowledge import open_store

                        self._knowledge = open_store(self.settings, self.home)
                    except ImportError:
                        return None
        return self._knowledge

    def warm_up(self) -> None:
        """Open what the first questions need — the knowledge store with its embedder, the
        planner's models — once, at start-up; ``ready`` is set when they are open."""
        try:
            store = self.knowledge
            if store is not None:
                store.embedder.embed_query("warm up")  # loads the embedding model
                from knowledge.dictionary import dictionary

                dictionary()  # the offline query translation (CC-CEDICT, ~1 s to parse)
            if self.settings.llm_base_url is None:  # the offline planner's intent encoder and typing-slip vocabulary
                from agent.planners import route_intent
                from agent.understanding.typos import vocabulary

                route_intent("warm up")
                with self.session_factory() as session:
                    vocabulary(session)  # every account's name: built once, not on the first question
            from tools.kpi.service import warm_chart_renderer

            warm_chart_renderer()  # matplotlib and its CJK font, before the first chart answer
        except Exception as exc:  # noqa: BLE001 — the server still answers what does not need them; /ready says why
            log.exception("start-up warm-up failed")
            self.warm_up_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()

    def start_warm_up(self) -> threading.Thread:
        thread = threading.Thread(target=self.warm_up, name="warm-up", daemon=True)
        thread.start()
        return thread

    def context(self, session, user: User | int, language: str | None = None) -> ToolContext:
        """The ToolContext every request and channel message runs in: the user (as loaded in
        ``session``), their language unless one is given, the data home and this deployment's
        anonymized-aggregate switch — set in one place, so no entry point can forget it."""
        user = session.get(User, user if isinstance(user, int) else user.id)
        lang = language if language in ("zh", "en") else (user.language if user.language in ("zh", "en") else "zh")
        sync_scenarios(session, self.home)  # scenarios a trainer created on any node, for the chat's practice too
        return ToolContext(user=user, session=session, language=lang, home=self.home,
                           anonymized=self.settings.anonymized_aggregate_mode)

    def ask(self, user_id: int, question: str, thread_id: str) -> Answer:
        knowledge = self.knowledge  # opened (or waited for) before anything is held
        # the graph lock is taken before the session touches the pool: a run waiting for its
        # turn holds no database connection (waiting ones used to exhaust the pool → 500s)
        with self._graph_lock, self.session_factory() as session:
            ctx = self.context(session, user_id)
            ctx.knowledge = knowledge
            answer = self.copilot.ask(ctx, question, thread_id=thread_id)
            session.commit()
            return answer

    def stream(self, user_id: int, question: str, thread_id: str):
        """``Copilot.stream`` for one user's question (status, token … events, then done), run in
        the calling thread: the web chat's SSE route drives it from a worker thread."""
        with self.session_factory() as session:
            ctx = self.context(session, user_id)
            ctx.knowledge = self.knowledge
            with self._graph_lock:
                yield from self.copilot.stream(ctx, question, thread_id=thread_id)
            session.commit()

    def run_signals_once(self) -> dict:
        """Evaluate the signal rules over the time since the last run (at most a day), as the
        deployment's first admin, then deliver every alert not yet sent (WeCom, Teams; the web
        lists them at /api/alerts)."""
        from sqlalchemy import select

        from api.notify import deliver_pending
        from crm.roles import Role
        from tools.signals import run_signals

        with self.session_factory() as session:
            admin = session.scalar(select(User).where(User.role == Role.ADMIN, User.left_at.is_(None)).order_by(User.id))
            if admin is None:
                log.warning("signals: no admin user to run the rules as; create one or turn REPCOPILOT_SIGNALS_INTERVAL_S off")
                return {}
            ctx = self.context(session, admin)
            now = ctx.now()
            since = max(self._signals_since or now - timedelta(days=1), now - timedelta(days=1))
            run = run_signals(ctx=ctx, since=since, until=now)
            session.commit()
            self._signals_since = now
        return {"new_alerts": run.new_alerts, "escalated": run.escalated, "expired": run.expired,
                "delivery": deliver_pending(self.engine, self.settings, teams_runtime=self)}

    _signals_since = None

    def _signals_loop(self) -> None:
        while not self._stop_signals.wait(self.settings.signals_interval_s):
            try:
                self.run_signals_once()
            except Exception:  # noqa: BLE001 — a failed round is logged; the next one tries again
                log.exception("signals round failed")

    def close(self) -> None:
        self._stop_signals.set()
        if self.worker is not None:
            self.worker.stop()
        self.lanes.shutdown()
        self.inbox.close()
        self._stack.close()
