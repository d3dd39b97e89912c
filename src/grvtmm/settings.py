"""Process settings (pydantic-settings): environment variables `GRVTMM_*`, nested with `__`.

Built once in `__main__` and passed down; secrets are `SecretStr` so they never print.
Examples: `GRVTMM_ADMIN_PASSWORD`, `GRVTMM_SECRET_KEY`, `GRVTMM_GRVT__API_KEY`,
`GRVTMM_TELEGRAM__BOT_TOKEN`, `GRVTMM_DATABASE_URL`, `GRVTMM_SHUTDOWN_TIMEOUT_S`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["demo", "paper", "live"]


class GrvtSettings(BaseModel):
    """GRVT connection. Keys set over the API are stored encrypted and override these."""

    model_config = ConfigDict(frozen=True)

    env: Literal["prod", "testnet"] = "prod"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    trading_account_id: str | None = None
    edge_url: str | None = None
    trades_url: str | None = None
    market_data_url: str | None = None
    trades_ws_url: str | None = None
    market_data_ws_url: str | None = None

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key and self.api_secret and self.trading_account_id)


class TelegramSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    bot_token: SecretStr | None = None
    chat_id: str | None = None
    api_base_url: str = "https://api.telegram.org"


class Settings(BaseSettings):
    """Everything the process needs to start."""

    model_config = SettingsConfigDict(
        env_prefix="GRVTMM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("data")
    mode: Mode | None = None
    """None: `live` when GRVT keys are configured, otherwise `demo`."""
    database_url: str | None = None
    admin_password: SecretStr | None = None
    secret_key: SecretStr | None = None
    log_json: bool = False
    demo_speed: float = Field(1.0, gt=0, le=1000)
    demo_seed: int = 7
    shutdown_timeout_s: float = Field(60.0, gt=0, le=3600)
    """SIGTERM/SIGINT: how long the engine may take to cancel and flatten before the process
    gives up (CRITICAL alert, stored event naming what is still open) and exits."""
    grvt: GrvtSettings = GrvtSettings()
    telegram: TelegramSettings = TelegramSettings()

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'grvtmm.db').resolve()}"


def is_loopback(host: str) -> bool:
    """True for loopback bind addresses (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
