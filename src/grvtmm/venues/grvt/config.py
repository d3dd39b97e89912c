"""Settings of the GRVT venue: environment, credentials, host overrides and timing policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from grvtmm.core.clock import NS_PER_S
from grvtmm.venues.grvt.http import Endpoints, Secret
from grvtmm.venues.grvt.limits import DEFAULT_BUDGETS
from grvtmm.venues.grvt.signing import chain_id_for


@dataclass(frozen=True, slots=True)
class GrvtConfig:
    """GRVT connection settings. `api_secret` is the API key's signing private key (hex).

    Credentials are excluded from repr; the empty URL overrides mean GRVT's own hosts for `env`.
    """

    env: Literal["prod", "testnet"] = "testnet"
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    trading_account_id: str = ""
    edge_url: str = ""
    trades_url: str = ""
    market_data_url: str = ""
    trades_ws_url: str = ""
    market_data_ws_url: str = ""
    # order lifetimes (signature expiration) and cancels
    quote_ttl_s: float = 900.0
    flatten_ttl_s: float = 60.0
    cancel_ttl_ms: int = 1_000
    # dead-man switch: countdown on the exchange, refreshed every heartbeat
    cancel_on_disconnect: bool = True
    cod_countdown_ms: int = 15_000
    cod_heartbeat_s: float = 5.0
    # polling
    account_poll_s: float = 5.0
    rest_poll_s: float = 2.0
    private_quiet_s: float = 10.0
    book_silence_s: float = 10.0
    instruments_refresh_s: float = 3600.0
    # streams
    book_rate_ms: int = 50
    mini_rate_ms: int = 0
    trade_limit: int = 50
    # account
    leverage: int | None = None
    maker_fee_rate: Decimal = Decimal("0.00027")
    taker_fee_rate: Decimal = Decimal("0.00055")
    http_timeout_s: float = 5.0
    # client-side budgets: order actions (create / cancel) per second and their burst
    order_rate_per_s: float = 10.0
    order_burst: float = 10.0

    def endpoints(self) -> Endpoints:
        return Endpoints.for_env(
            self.env,
            edge_url=self.edge_url,
            trades_url=self.trades_url,
            market_data_url=self.market_data_url,
            trades_ws_url=self.trades_ws_url,
            market_data_ws_url=self.market_data_ws_url,
        )

    def budgets(self) -> dict[str, tuple[float, float]]:
        """Token-bucket budgets per endpoint group, with the configured order budget."""
        return {**DEFAULT_BUDGETS, "order": (self.order_rate_per_s, self.order_burst)}

    @property
    def chain_id(self) -> int:
        return chain_id_for(self.env)

    def key(self) -> Secret:
        return Secret(self.api_key)

    def signing_key(self) -> Secret:
        return Secret(self.api_secret)

    def ttl_ns(self, flatten: bool) -> int:
        return int((self.flatten_ttl_s if flatten else self.quote_ttl_s) * NS_PER_S)
