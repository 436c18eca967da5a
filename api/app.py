"""The FastAPI application: HTTP API, WeCom callback, health."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from api import alerts, calls_page, conversations, feedback, practice, routes, teams, uploads, wecom
from api.runtime import Runtime
from core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime(settings)
    runtime.wecom_client = None
    if settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id:
        runtime.wecom_client = wecom.WeComClient(corp_id=settings.wecom_corp_id, secret=settings.wecom_secret,
                                                 agent_id=settings.wecom_agent_id, api_base=settings.wecom_api_base)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        runtime.close()

    app = FastAPI(title="repcopilot", version="0.1.0", lifespan=lifespan,
                  description="Sales copilot API: chat with evidence, KPI questions, channels.")
    app.state.runtime = runtime
    app.state.session_factory = runtime.session_factory
    app.include_router(routes.health)
    app.include_router(routes.router)
    app.include_router(wecom.router)
    app.include_router(uploads.router)
    app.include_router(practice.router)
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
