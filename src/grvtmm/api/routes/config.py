"""Strategy, legacy goal, exchange keys and Telegram configuration."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from grvtmm.api.deps import AuthDep, Services, ServicesDep
from grvtmm.api.state import TelegramConfig
from grvtmm.core.events import ConfigChanged, EngineMode
from grvtmm.strategy.params import GoalConfig, StrategyConfig

router = APIRouter(prefix="/api/config", tags=["config"])

_STOPPED = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})
EXCHANGE_SECRETS = ("grvt.api_key", "grvt.api_secret", "grvt.trading_account_id")
TELEGRAM_TOKEN = "telegram.bot_token"


def _running(services: Services) -> bool:
    return services.node.engine.mode not in _STOPPED


def _unprocessable(exc: ValidationError) -> HTTPException:
    detail = [
        {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return HTTPException(422, detail)


async def _apply(services: Services, config: StrategyConfig) -> None:
    if _running(services) and config.symbol != services.config.strategy.symbol:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the symbol cannot change while the engine is running"
        )
    services.config.set_strategy(config)
    if config.symbol != services.node.engine.instrument.symbol:
        # Stored for the next start; this process keeps its instrument, and starting is
        # blocked (status notice) until a restart, so nothing trades with mismatched settings.
        return
    now = services.clock.now_ns()
    await services.node.submit(ConfigChanged(ts_ns=now, local_ns=now, config=config))
    await services.node.drain()


@router.get("/strategy")
def get_strategy(_: AuthDep, services: ServicesDep) -> StrategyConfig:
    return services.config.strategy


@router.get("/strategy/schema")
def strategy_schema(_: AuthDep) -> dict[str, Any]:
    """Every parameter with its bounds and a one-line meaning (for forms)."""
    return StrategyConfig.model_json_schema()


@router.put("/strategy")
async def put_strategy(
    changes: dict[str, Any], _: AuthDep, services: ServicesDep
) -> StrategyConfig:
    """Change any subset of the parameters; 422 names the offending field; the symbol cannot
    change while running (409). A new symbol set while stopped is stored and applies at the
    next process start; until then starting is refused and the status says why."""
    try:
        config = services.config.merged_strategy(changes)
    except ValidationError as exc:
        raise _unprocessable(exc) from None
    await _apply(services, config)
    return config


@router.get("/goal")
def get_goal(_: AuthDep, services: ServicesDep) -> GoalConfig:
    """The legacy goal view of the current strategy."""
    return services.config.goal()


@router.put("/goal")
async def put_goal(goal: GoalConfig, _: AuthDep, services: ServicesDep) -> StrategyConfig:
    """Legacy: principal, target hourly volume and risk profile, mapped onto the strategy."""
    try:
        config = goal.to_strategy(services.config.strategy)
    except ValidationError as exc:
        raise _unprocessable(exc) from None
    if _running(services) and config.symbol != services.config.strategy.symbol:
        raise HTTPException(status.HTTP_409_CONFLICT, "the symbol cannot change while running")
    services.config.principal_usdt = goal.principal_usdt
    await _apply(services, services.config.set_goal(goal))
    return services.config.strategy


class ExchangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = Field(None, max_length=512)
    api_secret: SecretStr | None = Field(None, max_length=512)
    trading_account_id: str | None = Field(None, max_length=64, pattern=r"^[0-9]+$")
    env: Literal["prod", "testnet"] | None = None


def _secrets_status(services: Services) -> dict[str, Any]:
    box = services.secrets
    known = box.status() if box is not None else {}
    names = (*EXCHANGE_SECRETS, TELEGRAM_TOKEN)
    return {
        "secrets": {n: {"set": n in known, "updated_at_ns": known.get(n)} for n in names},
        "storage": "encrypted" if box is not None else "unavailable",
    }


@router.put("/exchange")
def put_exchange(body: ExchangeBody, _: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Store GRVT credentials encrypted (write-only; never echoed). 409 while running."""
    if _running(services):
        raise HTTPException(status.HTTP_409_CONFLICT, "stop the engine before changing keys")
    box = services.secrets
    if box is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "secret storage unavailable")
    if body.api_key is not None:
        box.set("grvt.api_key", body.api_key.get_secret_value())
    if body.api_secret is not None:
        box.set("grvt.api_secret", body.api_secret.get_secret_value())
    if body.trading_account_id is not None:
        box.set("grvt.trading_account_id", body.trading_account_id)
    if body.env is not None:
        box.set("grvt.env", body.env)
    return _secrets_status(services)


@router.get("/secrets/status")
def secrets_status(_: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Which secrets are set and when — never their values."""
    return _secrets_status(services)


class TelegramBody(TelegramConfig):
    bot_token: SecretStr | None = Field(None, max_length=256, description="write-only")


@router.get("/telegram")
def get_telegram(_: AuthDep, services: ServicesDep) -> dict[str, Any]:
    body = services.config.telegram.model_dump()
    known = services.secrets.status() if services.secrets is not None else {}
    body["bot_token_set"] = TELEGRAM_TOKEN in known
    return body


@router.put("/telegram")
async def put_telegram(body: TelegramBody, _: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Update Telegram settings; the bot token is stored encrypted and never returned."""
    if body.bot_token is not None:
        if services.secrets is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "secret storage unavailable")
        services.secrets.set(TELEGRAM_TOKEN, body.bot_token.get_secret_value())
    services.config.set_telegram(TelegramConfig(**body.model_dump(exclude={"bot_token"})))
    return get_telegram("", services)
