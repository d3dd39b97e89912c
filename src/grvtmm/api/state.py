"""Operator-editable configuration held by the running process, with persistence hooks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grvtmm.strategy.params import GoalConfig, StrategyConfig

EventLevel = Literal["on", "silent", "off"]


class TelegramConfig(BaseModel):
    """Non-secret Telegram settings (the bot token is a secret, stored separately)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chat_id: str | None = Field(None, max_length=64, description="chat allowed to command")
    heartbeat_minutes: int = Field(60, ge=0, le=1440, description="summary interval (0 = off)")
    language: Literal["en", "zh"] = Field("en", description="message language")
    large_fill_notional: float = Field(1000.0, ge=0, description="info alert above this notional")
    events: dict[str, EventLevel] = Field(
        default_factory=dict, description="per event on/silent/off"
    )
    disconnect_alert_s: int = Field(
        30, ge=5, le=3600, description="critical alert when the venue stays down this long"
    )


class ConfigRepository(Protocol):
    def save_config(self, kind: str, body: str) -> object: ...

    def latest_config(self, kind: str) -> str | None: ...


class ConfigState:
    """Current strategy, goal and Telegram configuration; every change is versioned."""

    def __init__(
        self,
        strategy: StrategyConfig,
        repository: ConfigRepository | None = None,
        principal_usdt: float = 100.0,
    ) -> None:
        self.repository = repository
        self.strategy = strategy
        self.principal_usdt = principal_usdt
        self.telegram = TelegramConfig()
        self.listeners: list[Callable[[str], None]] = []
        if repository is not None:
            self._load(repository)

    def _load(self, repository: ConfigRepository) -> None:
        raw = repository.latest_config("strategy")
        if raw:
            # an older version that no longer validates keeps the defaults; the operator fixes it
            with contextlib.suppress(ValidationError):
                self.strategy = StrategyConfig.model_validate_json(raw)
        raw = repository.latest_config("telegram")
        if raw:
            with contextlib.suppress(ValidationError):
                self.telegram = TelegramConfig.model_validate_json(raw)
        raw = repository.latest_config("goal_principal")
        if raw:
            self.principal_usdt = float(json.loads(raw))

    def merged_strategy(self, changes: dict[str, Any]) -> StrategyConfig:
        """Current config with `changes` applied and validated (raises ValidationError)."""
        body = self.strategy.model_dump()
        body.update(changes)
        return StrategyConfig.model_validate(body)

    def set_strategy(self, config: StrategyConfig) -> None:
        self.strategy = config
        self._save("strategy", config.model_dump_json())

    def goal(self) -> GoalConfig:
        return GoalConfig.from_strategy(self.strategy, self.principal_usdt)

    def set_goal(self, goal: GoalConfig) -> StrategyConfig:
        self.principal_usdt = goal.principal_usdt
        self._save("goal_principal", json.dumps(goal.principal_usdt))
        config = goal.to_strategy(self.strategy)
        self.set_strategy(config)
        return config

    def set_telegram(self, config: TelegramConfig) -> None:
        self.telegram = config
        self._save("telegram", config.model_dump_json())

    def _save(self, kind: str, body: str) -> None:
        if self.repository is not None:
            self.repository.save_config(kind, body)
        for listener in self.listeners:
            listener(kind)
