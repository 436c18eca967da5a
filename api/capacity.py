"""Back-pressure: a bounded number of agent runs at once per process, a bounded waiting room in
front of them, and beyond it a ``503`` with ``Retry-After`` at once — never a queue that grows
until requests time out.

Before this, 60 concurrent chat clients each took a pooled connection and waited for the
agent; beyond the pool requests waited 30 s and failed with 500. Now a request waits for a slot
(holding no thread and no connection while it waits) only while the waiting room has space and
for at most ``agent_queue_wait_s``; otherwise it is refused in microseconds and the client retries
(the web chat shows "busy, retrying").
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from core.metrics import AGENT_RUN_SECONDS, timed

T = TypeVar("T")


def busy(retry_after_s: int) -> HTTPException:
    """The one answer of a full server: 503, when to try again, in both languages."""
    return HTTPException(
        503, f"服务繁忙,请 {retry_after_s} 秒后重试。/ The copilot is busy answering other questions; "
             f"retry in {retry_after_s} s.", headers={"Retry-After": str(retry_after_s)})


class AgentGate:
    """At most ``limit`` agent runs (chat, KPI, practice turns, Teams messages) in this process;
    up to ``queue`` more requests wait (first come, first served) at most ``wait_s`` for a slot.
    A slot freed while someone waits goes straight to the first waiter."""

    def __init__(self, limit: int, *, queue: int = 0, wait_s: float = 0.0, retry_after_s: int = 1) -> None:
        self.limit, self.queue, self.wait_s, self.retry_after_s = limit, queue, wait_s, retry_after_s
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self.running = 0
        self.refused = 0  # 503s answered since start

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """A slot now, or False (counted as refused)."""
        with self._lock:
            if self.running < self.limit and not self._waiters:
                self.running += 1
                return True
            self.refused += 1
            return False

    async def acquire(self) -> bool:
        """A slot now, or after waiting in the room (when it has space) for at most ``wait_s``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.running < self.limit and not self._waiters:
                self.running += 1
                return True
            if len(self._waiters) >= self.queue or self.wait_s <= 0:
                self.refused += 1
                return False
            entry = (loop, loop.create_future())
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(entry[1]), self.wait_s)
            return True
        except TimeoutError:
            self._leave(entry)
            return False
        except asyncio.CancelledError:  # the client went away while waiting
            self._leave(entry)
            raise

    def _leave(self, entry) -> None:
        """Leave the waiting room; a slot handed over in the meantime is given back."""
        with self._lock:
            if entry in self._waiters:
                self._waiters.remove(entry)
                self.refused += 1
                return
        self.release()

    def release(self) -> None:
        """Give a slot back (from any thread): to the first waiter, or free."""
        with self._lock:
            if self._waiters:
                loop, future = self._waiters.popleft()  # the slot passes on; running stays the same
            else:
                self.running -= 1
                return
        loop.call_soon_threadsafe(_grant, future)

    @asynccontextmanager
    async def slot(self):
        """Hold one run's slot, or raise the 503 when none came free in time."""
        if not await self.acquire():
            raise busy(self.retry_after_s)
        try:
            yield
        finally:
            self.release()


def _grant(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(True)


async def run_agent(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the thread pool inside one of the process's agent slots (503 when none is free)."""
    async with request.app.state.runtime.agent_gate.slot():
        with timed(AGENT_RUN_SECONDS):  # GET /metrics: repcopilot_agent_run_seconds
            return await run_in_threadpool(fn, *args)
