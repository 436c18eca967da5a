"""A small closed-loop HTTP/1.1 load generator on asyncio streams (keep-alive, one request
in flight per connection). It costs a few tens of microseconds per request, so on a
2-core machine the figures measure the server, not the client (httpx's async client costs
~5 ms per request and was the bottleneck of the first `bench api`).

With ``retry_busy`` a ``503`` carrying ``Retry-After`` is what a well-behaved client (the web
chat) does with it: wait that long (with a little jitter, so 200 clients do not come back in
one wave) and send again; the request's latency then includes the wait, and ``retries`` counts them."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str] | None = None
    body: bytes = b""
    content_type: str = "text/xml"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, host: str) -> bytes:
        target = self.path + ("?" + urlencode(self.params) if self.params else "")
        head = f"{self.method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(self.body)}\r\n"
        if self.body:
            head += f"Content-Type: {self.content_type}\r\n"
        for name, value in self.headers:
            head += f"{name}: {value}\r\n"
        return (head + "\r\n").encode() + self.body


@dataclass
class Result:
    latencies_ms: list[float]
    statuses: list[int]
    wall_s: float
    bodies: list[bytes] = field(default_factory=list)
    retries: int = 0  # 503s answered with Retry-After and sent again (delays, not errors)

    @property
    def errors(self) -> int:
        """Requests that did not end in 200 (0: the connection was dropped)."""
        return sum(1 for s in self.statuses if s != 200)


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def _read_response(reader: asyncio.StreamReader) -> _Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while (size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)) > 0:
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return _Response(status, headers, body)
    length = int(headers.get("content-length", 0))
    return _Response(status, headers, await reader.readexactly(length) if length else b"")


async def run_load(host: str, port: int, requests: list[Request], concurrency: int, *,
                   retry_busy: bool = False, max_retries: int = 120, seed: int = 0) -> Result:
    """Send every request once over ``concurrency`` keep-alive connections; each connection
    sends its next request when the previous answer has arrived."""
    payloads = [r.encode(f"{host}:{port}") for r in requests]
    latencies: list[float] = [0.0] * len(payloads)
    statuses: list[int] = [0] * len(payloads)
    bodies: list[bytes] = [b""] * len(payloads)
    next_index = 0
    retries = 0
    jitter = random.Random(seed)

    async def client() -> None:
        nonlocal next_index, retries
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_index < len(payloads):
                i = next_index
                next_index += 1
                t = time.perf_counter()
                for attempt in range(max_retries + 1):
                    try:
                        writer.write(payloads[i])
                        response = await _read_response(reader)
                    except (ConnectionError, asyncio.IncompleteReadError):  # the server dropped us: an error
                        response = _Response(0, {"connection": "close"}, b"")
                    if response.headers.get("connection", "").lower() == "close":
                        writer.close()
                        reader, writer = await asyncio.open_connection(host, port)
                    busy = response.status == 503 and "retry-after" in response.headers
                    if not (retry_busy and busy and attempt < max_retries):
                        break
                    retries += 1
                    await asyncio.sleep(float(response.headers["retry-after"]) * (0.5 + jitter.random()))
                statuses[i], bodies[i] = response.status, response.body
                latencies[i] = (time.perf_counter() - t) * 1000
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(latencies, statuses, time.perf_counter() - t0, bodies, retries)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]
