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
    allowed_hosts: list[str] = Field(default_factory=list, max_length=64)
    """Host names the server answers to (the request's Host header), the defence against DNS
    rebinding. Empty: the loopback names when bound to loopback (plus the bind address when it
    is one specific address); `["*"]`: any host. Behind a reverse proxy add the site's name,
    e.g. `GRVTMM_ALLOWED_HOSTS='["grvt-mm.example.com"]'`."""
    flatten_on_start: bool = False
    """Live: a position found on the venue when the engine starts is adopted (False) or
    flattened first (True)."""
    paper_equity: float = Field(200.0, gt=0, le=1e9)
    """Starting capital (USDT) of the simulated account in paper mode."""
    grvt: GrvtSettings = GrvtSettings()
    telegram: TelegramSettings = TelegramSettings()

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'grvtmm.db').resolve()}"


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def answered_hosts(settings: Settings) -> tuple[str, ...]:
    """The Host names the API accepts (empty tuple: any), from `allowed_hosts` and the bind."""
    configured = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    if "*" in configured:
        return ()
    bind = settings.host.strip().lower()
    if configured:
        return (*LOOPBACK_HOSTS, *configured)
    if is_loopback(bind.strip("[]")):
        return LOOPBACK_HOSTS
    if bind in _WILDCARD_BINDS:
        return ()  # reachable under any name; the password guards it (and a notice says so)
    return (*LOOPBACK_HOSTS, f"[{bind}]" if ":" in bind else bind)


def is_loopback(host: str) -> bool:
    """True for loopback bind addresses (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
