"""A small closed-loop HTTP/1.1 load generator on asyncio streams (keep-alive, one request
in flight per connection). It costs a few tens of microseconds per request, so on a
2-core machine the figures measure the server, not the client (httpx's async client costs
~5 ms per request and was the bottleneck of the first `bench api`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str] | None = None
    body: bytes = b""
    content_type: str = "text/xml"

    def encode(self, host: str) -> bytes:
        target = self.path + ("?" + urlencode(self.params) if self.params else "")
        head = f"{self.method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(self.body)}\r\n"
        if self.body:
            head += f"Content-Type: {self.content_type}\r\n"
        return (head + "\r\n").encode() + self.body


@dataclass
class Result:
    latencies_ms: list[float]
    statuses: list[int]
    wall_s: float

    @property
    def errors(self) -> int:
        return sum(1 for s in self.statuses if s != 200)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(host: str, port: int, requests: list[Request], concurrency: int) -> Result:
    """Send every request once over ``concurrency`` keep-alive connections; each connection
    sends its next request when the previous answer has arrived."""
    payloads = [r.encode(f"{host}:{port}") for r in requests]
    latencies: list[float] = [0.0] * len(payloads)
    statuses: list[int] = [0] * len(payloads)
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_index < len(payloads):
                i = next_index
                next_index += 1
                t = time.perf_counter()
                writer.write(payloads[i])
                statuses[i] = await _read_response(reader)
                latencies[i] = (time.perf_counter() - t) * 1000
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(latencies, statuses, time.perf_counter() - t0)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]
