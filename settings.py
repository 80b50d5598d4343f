"""Typed settings for zhibu, read from ``ZHIBU_*`` environment variables and ``.env``."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the operator can configure. Read once and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="ZHIBU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///zhibu.db"
    timezone: str = "Asia/Shanghai"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    api_base_url: str = "https://api.telegram.org/bot"
    api_file_base_url: str | None = None
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1:8443"
    webhook_secret: SecretStr | None = None
    # the one HTTP server (Mini App, its API, /healthz, the webhook); ZHIBU_WEBHOOK_LISTEN is
    # still honoured for it when this is not set
    web_listen: str = "127.0.0.1:8080"
    web_url: str | None = None  # the public HTTPS base Telegram opens the Mini App under
    language: Literal["zh", "en"] = "zh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    invite_ttl_days: int = Field(default=30, ge=1, le=365)
    conversation_timeout_seconds: int = Field(default=900, ge=1)
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    rate_overall_per_second: int = Field(default=30, ge=1)
    rate_group_per_minute: int = Field(default=20, ge=1)
    rate_private_interval_seconds: float = Field(default=1.0, gt=0)
    sender_workers: int = Field(default=16, ge=1, le=256)
    # updates of different chats handled side by side (each chat's and person's in order)
    concurrent_updates: int = Field(default=16, ge=1, le=256)
    scheduler_enabled: bool = True

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return [int(p) for p in parts if p]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept plain URLs and add the async driver this project uses."""
        if value.startswith("sqlite:"):
            return "sqlite+aiosqlite:" + value[len("sqlite:") :]
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
            raise ValueError("use a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("web_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError(
                "ZHIBU_WEB_URL must be an https:// address (Telegram opens only those)"
            )
        return value.rstrip("/") if value else None

    @property
    def listen(self) -> str:
        """Where the one HTTP server listens (ZHIBU_WEB_LISTEN, else ZHIBU_WEBHOOK_LISTEN)."""
        if "web_listen" not in self.model_fields_set and "webhook_listen" in self.model_fields_set:
            return self.webhook_listen
        return self.web_listen

    @property
    def serves_web(self) -> bool:
        """The HTTP server runs: for the webhook, or for the Mini App."""
        return bool(self.webhook_url or self.web_url)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Self:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("ZHIBU_WEBHOOK_SECRET is required when ZHIBU_WEBHOOK_URL is set")
        return self

    @property
    def file_base_url(self) -> str:
        """Base URL for file downloads, derived from the API base when not given."""
        if self.api_file_base_url:
            return self.api_file_base_url
        base = self.api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base.rstrip("/") + "/file/bot"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secrets(self) -> list[str]:
        """Every secret setting's value, for the log redactor: token, webhook secret, the
        database password."""
        from sqlalchemy.engine import make_url

        found = [s.get_secret_value() for s in (self.bot_token, self.webhook_secret) if s]
        try:
            password = make_url(self.database_url).password
        except ValueError:
            password = None
        if password:
            found.append(str(password))
        return [s for s in found if s]


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides for tests and the CLI."""
    return Settings(**overrides)  # type: ignore[arg-type]
