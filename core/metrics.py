"""The process's Prometheus metrics (prometheus-client), served at ``GET /metrics``.

One registry per process (a node is a process); histograms in seconds. The job-queue gauges
are read from the database when ``/metrics`` is scraped, so every node reports the shared queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUEST_SECONDS = Histogram("repcopilot_request_seconds", "HTTP request latency by route template, method and status",
                            ["route", "method", "status"], buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
REJECTED = Counter("repcopilot_rejected_total", "requests answered 503 (busy, back-pressure) by route",
                   ["route"], registry=REGISTRY)
AGENT_RUN_SECONDS = Histogram("repcopilot_agent_run_seconds", "agent runs (chat, KPI, practice turns) inside an agent slot",
                              buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
TOOL_SECONDS = Histogram("repcopilot_tool_seconds", "copilot tool calls by tool", ["tool"],
                         buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
WECOM_ACK_SECONDS = Histogram("repcopilot_wecom_ack_seconds", "time to acknowledge a WeCom callback (WeCom retries after 5 s)",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0), registry=REGISTRY)
JOBS_QUEUED = Gauge("repcopilot_jobs_queued", "background jobs waiting for a worker", registry=REGISTRY)
JOBS_RUNNING = Gauge("repcopilot_jobs_running", "background jobs a worker is running", registry=REGISTRY)
JOBS_OLDEST_QUEUED_AGE = Gauge("repcopilot_jobs_oldest_queued_age_seconds",
                               "age of the oldest queued job (0 when none waits)", registry=REGISTRY)


@contextmanager
def timed(histogram, **labels) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - start)
