"""The FastAPI application: HTTP API, WeCom callback, health."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from api import alerts, calls_page, conversations, errors, feedback, observability, practice, routes, teams, uploads, wecom
from api.guards import EarlyAuth, validation_error
from api.runtime import Runtime
from core.settings import Settings

MULTIPART_OVERHEAD = 64 * 1024  # form fields and part headers around an uploaded file


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime(settings)
    runtime.wecom_client = None
    if settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id:
        runtime.wecom_client = wecom.WeComClient(corp_id=settings.wecom_corp_id, secret=settings.wecom_secret,
                                                 agent_id=settings.wecom_agent_id, api_base=settings.wecom_api_base)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # request threads = what the connection pool was sized for (Settings.db_pool_size)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runtime.start_warm_up()  # the knowledge store and models open once; /ready waits for them
        yield
        runtime.close()

    app = FastAPI(title="repcopilot", version="0.1.0", lifespan=lifespan, max_body_size=settings.max_body_kb * 1024,
                  description="Sales copilot API: chat with evidence, KPI questions, channels.")
    app.state.runtime = runtime
    app.state.session_factory = runtime.session_factory
    app.add_middleware(EarlyAuth)
    app.add_middleware(observability.RequestMetrics)  # outermost: request id, latency per route, 503s
    app.add_exception_handler(RequestValidationError, validation_error)
    errors.register(app)  # domain errors (core.errors) → 403 / 404 / 422
    upload_limit = settings.max_upload_mb * 1024 * 1024 + MULTIPART_OVERHEAD
    app.include_router(routes.health)
    app.include_router(observability.router)
    app.include_router(routes.router)
    app.include_router(wecom.router)
    app.include_router(uploads.router, max_body_size=upload_limit)
    app.include_router(practice.router, max_body_size=upload_limit)  # a turn may be a recording
    app.include_router(alerts.router)
    app.include_router(conversations.router)
    app.include_router(feedback.router)
    app.include_router(calls_page.router)
    app.include_router(calls_page.pages)
    teams.mount(app, runtime)
    page = (Path(__file__).parent / "web" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def web_chat() -> str:
        """The web chat: one page, no build step; it talks to /api with the user's token."""
        return page

    return app
