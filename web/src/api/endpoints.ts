/** The calls the dashboard makes, typed by the generated schema plus `types.ts`. */
import { api } from './client';
import type {
  ExchangeBody,
  FillItem,
  OpenOrder,
  Page,
  SecretsStatus,
  Series,
  Status,
  StrategyConfig,
  StrategySchema,
  Summary,
  TelegramBody,
  TelegramSettings,
} from './types';

export type ControlAction = 'start' | 'pause' | 'resume' | 'stop' | 'halt';

export const endpoints = {
  login: (password: string) => api.post('/api/auth/login', { body: { password } }),
  logout: () => api.post('/api/auth/logout'),
  status: async () => (await api.get('/api/status')) as unknown as Status,
  summary: async () => (await api.get('/api/monitor/summary')) as unknown as Summary,
  series: async (startNs: number | null, maxPoints: number) =>
    (await api.get('/api/monitor/series', {
      query: { start_ns: startNs, max_points: maxPoints },
    })) as unknown as Series,
  fills: async (limit: number, offset: number) =>
    (await api.get('/api/monitor/fills', { query: { limit, offset } })) as unknown as Page<FillItem>,
  orders: async (limit: number, offset: number) =>
    (await api.get('/api/monitor/orders', { query: { limit, offset } })) as unknown as Page<
      OpenOrder
    > & { open: OpenOrder[] },
  control: async (action: ControlAction) =>
    (await api.post('/api/engine/{action}', {
      path: { action },
      body: { reason: 'operator (dashboard)' },
    })) as unknown as Status,
  strategy: () => api.get('/api/config/strategy'),
  strategySchema: async () =>
    (await api.get('/api/config/strategy/schema')) as unknown as StrategySchema,
  putStrategy: (changes: Partial<StrategyConfig>) =>
    api.put('/api/config/strategy', { body: changes as Record<string, unknown> }),
  secretsStatus: async () =>
    (await api.get('/api/config/secrets/status')) as unknown as SecretsStatus,
  putExchange: async (body: ExchangeBody) =>
    (await api.put('/api/config/exchange', { body })) as unknown as SecretsStatus,
  telegram: async () => (await api.get('/api/config/telegram')) as unknown as TelegramSettings,
  putTelegram: async (body: TelegramBody) =>
    (await api.put('/api/config/telegram', { body })) as unknown as TelegramSettings,
  /** 200 with `ok: false` and `error` when Telegram refused or is not configured */
  telegramTest: () => api.post('/api/alerts/telegram/test'),
};
