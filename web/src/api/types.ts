/**
 * Shapes of the responses the server publishes as free-form objects in its OpenAPI schema
 * (status, monitor summary, series, orders, fills, stream messages). Typed request bodies and
 * configs come from the generated `schema.d.ts`.
 */
import type { components } from './schema';

export type StrategyConfig = components['schemas']['StrategyConfig'];
export type ExchangeBody = components['schemas']['ExchangeBody'];
export type TelegramBody = components['schemas']['TelegramBody'];

export type TradingMode = 'demo' | 'paper' | 'live' | (string & {});
export type EngineMode =
  | 'idle'
  | 'reconciling'
  | 'running'
  | 'paused'
  | 'stopping'
  | 'halting'
  | 'flattening'
  | 'stopped'
  | 'halted';

export interface OpenOrder {
  client_order_id: string;
  side: 'buy' | 'sell';
  price: string;
  size: string;
  filled: string;
  status: string;
  reason: string;
  created_ns: number;
  reduce_only: boolean;
}

export interface BreakerView {
  name: string;
  value: number;
  limit: number;
  tripped: boolean;
}

export interface EngineView {
  mode: EngineMode;
  symbol: string;
  position: number;
  mid: number | null;
  equity: number | null;
  free_margin: number | null;
  session_pnl: number | null;
  inventory_notional: number;
  open_orders: OpenOrder[];
  target: { bid: string | null; ask: string | null; reason: string; one_sided: string } | null;
  breakers: BreakerView[];
  flatten: { phase: string; attempts: number };
  connected: boolean;
  book_ok: boolean;
  last_market_ns: number | null;
}

/** REST client counters since the venue was built (`codes`: failed answers by GRVT code). */
export interface HttpCounters {
  requests: number;
  retries: number;
  rate_limited: number;
  server_errors: number;
  timeouts: number;
  disconnects: number;
  logins: number;
  relogins: number;
  failures: number;
  codes: Record<string, number>;
}

/** One WebSocket stream's counters since the venue was built. */
export interface StreamCounters {
  connects: number;
  disconnects: number;
  resubscribes: number;
  gaps: number;
  duplicates: number;
  stale: number;
  rpc_errors: number;
  bad_frames: number;
  frames: number;
}

/** The venue connection's counters; `streams` by name (`market`, `private`). */
export interface VenueDiagnostics {
  http?: HttpCounters;
  streams: Record<string, StreamCounters>;
  book_ok: boolean | null;
  duplicate_fills?: number;
  parse_errors?: number;
  unreadable_fills?: number;
  rest_tickers?: number;
  rest_ticker_failures?: number;
}

export interface Status {
  mode: TradingMode;
  version: string;
  engine: EngineView;
  notices: string[];
  start_blocker?: string;
  symbol?: string;
  /** null (or absent) when the venue keeps no counters (demo). */
  venue?: VenueDiagnostics | null;
}

export interface BreakerSummary {
  tripped: boolean;
  value: number | null;
  limit: number | null;
  trips: number;
}

export interface FlattenSummary {
  active: boolean;
  phase: string;
  attempt: number;
  position_lots: number;
  detail: string;
  ts_ns: number | null;
  last_done: { dust: boolean; position_lots: number; attempts: number } | null;
}

export interface Summary {
  mode: EngineMode;
  session: { id: number; start_ns: number; end_ns: number | null; start_reason: string } | null;
  runtime_s: number;
  equity: number | null;
  free_margin: number | null;
  mid: number | null;
  position: number;
  position_lots: number;
  inventory_notional: number;
  fills: number;
  maker_fills: number;
  taker_fills: number;
  session_volume: number;
  pnl_total: number;
  pnl_today?: number;
  fees: number;
  rebates: number;
  fee_costs: number;
  wear_per_10k: number | null;
  rejects?: number;
  fills_last_min?: number;
  cancels_last_min?: number;
  breakers: Record<string, BreakerSummary>;
  flatten: FlattenSummary;
}

export interface Series {
  interval_ns: number;
  bucket_ns: number;
  downsampled: boolean;
  ts_ns: number[];
  equity: (number | null)[];
  position: (number | null)[];
  inventory_notional: (number | null)[];
  mid: (number | null)[];
  bid: (number | null)[];
  ask: (number | null)[];
  volume?: (number | null)[];
  pnl?: (number | null)[];
}

export interface FillItem {
  trade_id: string;
  client_order_id: string;
  side: 'buy' | 'sell';
  price: string;
  size: string;
  fee: string;
  fee_side: string;
  is_maker: boolean;
  ts_ns: number;
  symbol?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface SecretsStatus {
  secrets: Record<string, { set: boolean; updated_at_ns: number | null }>;
  storage: string;
}

export interface TelegramSettings {
  chat_id: string | null;
  heartbeat_minutes: number;
  language: 'en' | 'zh';
  large_fill_notional: number;
  events: Record<string, 'on' | 'silent' | 'off'>;
  disconnect_alert_s?: number;
  bot_token_set: boolean;
}

/** The JSON Schema of `StrategyConfig` as served by /api/config/strategy/schema. */
export interface JsonSchemaProperty {
  type?: string;
  enum?: string[];
  anyOf?: JsonSchemaProperty[];
  description?: string;
  title?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

export interface StrategySchema {
  properties: Record<string, JsonSchemaProperty>;
  description?: string;
}

export interface StreamFrame {
  status: Status;
  summary: Summary;
}

export type StreamMessage =
  | { type: 'hello'; mode?: string; version?: string; symbol?: string }
  | { type: 'snapshot'; data: StreamFrame }
  | { type: 'tick'; data: StreamFrame }
  | { type: 'event'; kind: string; data: Record<string, unknown> }
  | { type: 'resync'; reason?: string }
  | { type: 'subscribed'; types: string[] };
