"""Back-pressure: a bounded number of agent runs at once per process; beyond it a ``503`` with
``Retry-After`` at once — never a queue that grows until requests time out.

Before this, 60 concurrent chat clients each took a pooled connection and waited for the
agent; beyond the pool requests waited 30 s and failed with 500. Now a run that cannot start
is refused in microseconds and the client retries (the web chat shows "busy, retrying").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

T = TypeVar("T")


def busy(retry_after_s: int) -> HTTPException:
    """The one answer of a full server: 503, when to try again, in both languages."""
    return HTTPException(
        503, f"服务繁忙,请 {retry_after_s} 秒后重试。/ The copilot is busy answering other questions; "
             f"retry in {retry_after_s} s.", headers={"Retry-After": str(retry_after_s)})


class AgentGate:
    """At most ``limit`` agent runs (chat, KPI, practice turns, Teams messages) in this process."""

    def __init__(self, limit: int, *, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.running = 0
        self.refused = 0  # 503s answered since start (for /metrics-style counters and tests)

    def try_acquire(self) -> bool:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                self.refused += 1
            return False
        with self._lock:
            self.running += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.running -= 1
        self._slots.release()

    @contextmanager
    def slot(self):
        """Hold one run's slot, or raise the 503 when all are taken."""
        if not self.try_acquire():
            raise busy(self.retry_after_s)
        try:
            yield
        finally:
            self.release()


async def run_agent(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the thread pool inside one of the process's agent slots (503 when none is free)."""
    with request.app.state.runtime.agent_gate.slot():
        return await run_in_threadpool(fn, *args)
