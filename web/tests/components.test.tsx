import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { buildUrl } from '../src/api/client';
import type { SecretsStatus, Status } from '../src/api/types';
import { actionEnabled, Controls, FlattenPanel } from '../src/components/Controls';
import { Header } from '../src/components/Header';
import { KeysPanel } from '../src/components/KeysPanel';
import { StrategyPanel } from '../src/components/StrategyPanel';
import { TelegramPanel } from '../src/components/TelegramPanel';
import { I18nProvider } from '../src/i18n';
import { installFakeServer } from './fakeServer';

afterEach(() => {
  cleanup();
  localStorage.clear();
});

function status(mode: string, engineMode: string): Status {
  return {
    mode,
    version: '0.1.0',
    notices: [],
    engine: {
      mode: engineMode,
      symbol: 'BNB_USDT_Perp',
      position: 0,
      mid: 600,
      equity: 200,
      free_margin: 150,
      session_pnl: 0,
      inventory_notional: 0,
      open_orders: [],
      target: null,
      breakers: [],
      flatten: { phase: '', attempts: 0 },
      connected: true,
      book_ok: true,
      last_market_ns: null,
    },
  } as unknown as Status;
}

const noFlatten = { active: false, phase: '', attempt: 0, positionLots: 0, startLots: 0, done: null };
const wrap = (node: React.ReactNode) => render(<I18nProvider>{node}</I18nProvider>);

describe('api client', () => {
  it('fills path parameters, writes ns integers without exponents, drops empty query values', () => {
    expect(buildUrl('/api/engine/{action}', { action: 'stop' })).toBe('/api/engine/stop');
    expect(buildUrl('/api/monitor/series', undefined, { start_ns: 1795472495000000000, max_points: 500, end_ns: null })).toBe(
      '/api/monitor/series?start_ns=1795472495000000000&max_points=500',
    );
    expect(() => buildUrl('/api/engine/{action}')).toThrow(/action/);
  });
});

describe('controls', () => {
  it('enables only the actions the engine lifecycle allows', () => {
    expect(actionEnabled('start', 'stopped')).toBe(true);
    expect(actionEnabled('start', 'running')).toBe(false);
    expect(actionEnabled('pause', 'running')).toBe(true);
    expect(actionEnabled('resume', 'paused')).toBe(true);
    expect(actionEnabled('stop', 'flattening')).toBe(false);
    expect(actionEnabled('halt', 'flattening')).toBe(true);
    expect(actionEnabled('halt', 'halted')).toBe(false);
    expect(actionEnabled('stop', undefined)).toBe(false);
  });

  it('stop asks first; "cancel" sends nothing, "yes" posts with the CSRF header', async () => {
    const requests = installFakeServer({ 'POST /api/engine/stop': () => ({ json: status('demo', 'flattening') }) });
    let latest: Status | null = null;
    wrap(<Controls status={status('demo', 'running')} flatten={noFlatten} lotSize={null} onStatus={(s) => (latest = s)} />);
    fireEvent.click(screen.getByTestId('ctl-stop'));
    expect(screen.getByTestId('confirm-dialog')).toBeTruthy();
    fireEvent.click(screen.getByTestId('confirm-no'));
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
    expect(requests).toEqual([]);
    fireEvent.click(screen.getByTestId('ctl-stop'));
    fireEvent.click(screen.getByTestId('confirm-yes'));
    await waitFor(() => expect(latest).not.toBeNull());
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'POST', url: '/api/engine/stop', headers: { 'x-grvtmm-csrf': '1' } });
  });

  it('halt asks first too', async () => {
    const requests = installFakeServer({ 'POST /api/engine/halt': () => ({ json: status('demo', 'halting') }) });
    wrap(<Controls status={status('demo', 'paused')} flatten={noFlatten} lotSize={null} onStatus={() => undefined} />);
    fireEvent.click(screen.getByTestId('ctl-halt'));
    expect(screen.getByTestId('confirm-dialog').textContent).toMatch(/Halt the engine\?/);
    expect(requests).toEqual([]);
    fireEvent.click(screen.getByTestId('confirm-yes'));
    await waitFor(() => expect(requests.map((r) => r.url)).toEqual(['/api/engine/halt']));
  });

  it('shows a refused action next to the controls', async () => {
    installFakeServer({ 'POST /api/engine/start': () => ({ status: 409, json: { detail: 'live mode needs GRVT keys' } }) });
    wrap(<Controls status={status('live', 'stopped')} flatten={noFlatten} lotSize={null} onStatus={() => undefined} />);
    fireEvent.click(screen.getByTestId('ctl-start'));
    expect((await screen.findByTestId('control-error')).textContent).toBe('Start failed: live mode needs GRVT keys');
  });

  it('pause needs no confirmation', async () => {
    const requests = installFakeServer({ 'POST /api/engine/pause': () => ({ json: status('demo', 'paused') }) });
    wrap(<Controls status={status('demo', 'running')} flatten={noFlatten} lotSize={null} onStatus={() => undefined} />);
    fireEvent.click(screen.getByTestId('ctl-pause'));
    await waitFor(() => expect(requests).toHaveLength(1));
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
  });

  it('flatten progress, then flat or dust', () => {
    const { rerender } = wrap(<FlattenPanel flatten={{ active: true, phase: 'closing', attempt: 2, positionLots: -50, startLots: 200, done: null }} lotSize={0.01} />);
    expect(screen.getByTestId('flatten').getAttribute('data-state')).toBe('active');
    expect(screen.getByTestId('flatten').textContent).toMatch(/closing position, attempt 2, position -0\.5/);
    rerender(
      <I18nProvider>
        <FlattenPanel flatten={{ ...noFlatten, done: { dust: true, positionLots: 3, attempts: 4 } }} lotSize={0.01} />
      </I18nProvider>,
    );
    expect(screen.getByTestId('flatten').textContent).toMatch(/dust: 0\.03 left/);
  });
});

describe('header', () => {
  it('live mode is unmistakable; demo is not', () => {
    const { rerender } = wrap(<Header status={status('live', 'running')} conn="connected" lastFrameMs={null} onLogout={() => undefined} />);
    expect(screen.getByTestId('live-warning').textContent).toMatch(/LIVE TRADING/);
    expect(screen.getByTestId('trading-mode').className).toMatch(/chip-mode-live/);
    rerender(
      <I18nProvider>
        <Header status={status('demo', 'running')} conn="reconnecting" lastFrameMs={null} onLogout={() => undefined} />
      </I18nProvider>,
    );
    expect(screen.queryByTestId('live-warning')).toBeNull();
    expect(screen.getByTestId('conn-state').getAttribute('data-state')).toBe('reconnecting');
  });

  it('switches to 中文 and remembers it', () => {
    wrap(<Header status={status('demo', 'stopped')} conn="connected" lastFrameMs={null} onLogout={() => undefined} />);
    fireEvent.click(screen.getByTestId('lang-zh'));
    expect(screen.getByTestId('trading-mode').textContent).toBe('演示');
    expect(localStorage.getItem('grvtmm.lang')).toBe('zh');
  });
});

const schema = {
  properties: {
    symbol: { type: 'string', description: 'GRVT perpetual' },
    gamma: { type: 'number', description: 'risk aversion: larger = wider, more skew' },
    sigma: { type: 'number', description: 'volatility prior' },
  },
};

describe('strategy panel', () => {
  it('shows each meaning, sends only changes and puts a 422 next to its field', async () => {
    const requests = installFakeServer({
      'GET /api/config/strategy/schema': () => ({ json: schema }),
      'GET /api/config/strategy': () => ({ json: { symbol: 'BNB_USDT_Perp', gamma: 0.1, sigma: 3 } }),
      'PUT /api/config/strategy': () => ({ status: 422, json: { detail: [{ loc: ['body', 'gamma'], msg: 'Input should be greater than 0', type: 'greater_than' }] } }),
    });
    wrap(<StrategyPanel engineMode="running" />);
    const gamma = (await screen.findByTestId('param-gamma')) as HTMLInputElement;
    expect(screen.getByTestId('field-gamma').textContent).toContain('risk aversion: larger = wider, more skew');
    expect((screen.getByTestId('param-symbol') as HTMLInputElement).disabled).toBe(true);
    fireEvent.change(gamma, { target: { value: '-1' } });
    fireEvent.click(screen.getByTestId('strategy-save'));
    const error = await screen.findByTestId('error-gamma');
    expect(error.textContent).toContain('Input should be greater than 0');
    expect(screen.getByTestId('field-gamma').contains(error)).toBe(true);
    const put = requests.find((r) => r.method === 'PUT');
    expect(put?.body).toEqual({ gamma: -1 });
    expect(put?.headers['x-grvtmm-csrf']).toBe('1');
  });

  it('refuses a non-number before asking the server', async () => {
    const requests = installFakeServer({
      'GET /api/config/strategy/schema': () => ({ json: schema }),
      'GET /api/config/strategy': () => ({ json: { symbol: 'BNB_USDT_Perp', gamma: 0.1, sigma: 3 } }),
    });
    wrap(<StrategyPanel engineMode="stopped" />);
    fireEvent.change(await screen.findByTestId('param-sigma'), { target: { value: 'abc' } });
    fireEvent.click(screen.getByTestId('strategy-save'));
    expect((await screen.findByTestId('error-sigma')).textContent).toBe('Enter a number.');
    expect(requests.filter((r) => r.method === 'PUT')).toEqual([]);
    expect((screen.getByTestId('param-symbol') as HTMLInputElement).disabled).toBe(false);
  });
});

describe('keys panel', () => {
  const secrets = (set: boolean): SecretsStatus => ({
    secrets: Object.fromEntries(['grvt.api_key', 'grvt.api_secret', 'grvt.trading_account_id', 'telegram.bot_token'].map((n) => [n, { set, updated_at_ns: set ? 1e18 : null }])),
    storage: 'encrypted',
  });

  it('sends the typed keys once, clears the inputs and never renders a value', async () => {
    const requests = installFakeServer({ 'PUT /api/config/exchange': () => ({ json: secrets(true) }) });
    let shown: SecretsStatus = secrets(false);
    const { container } = wrap(<KeysPanel engineMode="stopped" secrets={shown} onSecrets={(s) => (shown = s)} />);
    fireEvent.change(screen.getByTestId('key-api_key'), { target: { value: 'k-123456789' } });
    fireEvent.change(screen.getByTestId('key-api_secret'), { target: { value: 's-987654321' } });
    fireEvent.click(screen.getByTestId('keys-save'));
    await screen.findByTestId('keys-message');
    expect(requests[0]?.body).toEqual({ api_key: 'k-123456789', api_secret: 's-987654321' });
    expect((screen.getByTestId('key-api_key') as HTMLInputElement).value).toBe('');
    expect(container.innerHTML).not.toContain('k-123456789');
    expect(shown.secrets['grvt.api_key']?.set).toBe(true);
  });

  it('is locked while the engine runs', () => {
    wrap(<KeysPanel engineMode="running" secrets={secrets(false)} onSecrets={() => undefined} />);
    expect(screen.getByTestId('keys-locked')).toBeTruthy();
    expect((screen.getByTestId('keys-save') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('telegram panel', () => {
  const settings = { chat_id: null, heartbeat_minutes: 60, language: 'en', large_fill_notional: 1000, events: {}, disconnect_alert_s: 30, bot_token_set: false };

  it('shows the error text when the test endpoint is missing', async () => {
    installFakeServer({ 'GET /api/config/telegram': () => ({ json: settings }) });
    wrap(<TelegramPanel onSecretsChanged={() => undefined} />);
    fireEvent.click(await screen.findByTestId('tg-test'));
    expect((await screen.findByTestId('tg-test-result')).textContent).toMatch(/404 Not Found/);
  });

  it('shows why Telegram refused the test message', async () => {
    installFakeServer({
      'GET /api/config/telegram': () => ({ json: settings }),
      'POST /api/alerts/telegram/test': () => ({ json: { ok: false, error: 'chat not found' } }),
    });
    wrap(<TelegramPanel onSecretsChanged={() => undefined} />);
    fireEvent.click(await screen.findByTestId('tg-test'));
    expect((await screen.findByTestId('tg-test-result')).textContent).toBe('Test failed: chat not found');
  });

  it('saves explicit per-event levels and a write-only token', async () => {
    const requests = installFakeServer({
      'GET /api/config/telegram': () => ({ json: { ...settings, events: { fill: 'off' } } }),
      'PUT /api/config/telegram': (body) => ({ json: { ...(body as object), bot_token: undefined, bot_token_set: true } }),
    });
    let changed = 0;
    wrap(<TelegramPanel onSecretsChanged={() => (changed += 1)} />);
    await waitFor(() => expect(screen.getByTestId('tg-event-fill').querySelector('label.active')?.textContent).toBe('off'));
    fireEvent.change(screen.getByTestId('tg-token'), { target: { value: '123:abc' } });
    fireEvent.change(screen.getByTestId('tg-disconnect'), { target: { value: '90' } });
    fireEvent.click(screen.getByTestId('tg-save'));
    await waitFor(() => expect(screen.getByTestId('tg-token-state').textContent).toMatch(/stored/));
    const body = requests.find((r) => r.method === 'PUT')?.body as Record<string, unknown>;
    expect(body.bot_token).toBe('123:abc');
    expect(body.disconnect_alert_s).toBe(90);
    expect(body.events).toEqual({ startup: 'on', stop: 'on', mode: 'on', fill: 'off', venue: 'on', warning: 'silent', heartbeat: 'silent' });
    expect((screen.getByTestId('tg-token') as HTMLInputElement).value).toBe('');
    expect(changed).toBe(1);
  });

  it('checks numbers before sending', async () => {
    const requests = installFakeServer({ 'GET /api/config/telegram': () => ({ json: settings }) });
    wrap(<TelegramPanel onSecretsChanged={() => undefined} />);
    await waitFor(() => expect((screen.getByTestId('tg-heartbeat') as HTMLInputElement).value).toBe('60'));
    fireEvent.change(screen.getByTestId('tg-heartbeat'), { target: { value: '1.5' } });
    fireEvent.click(screen.getByTestId('tg-save'));
    expect((await screen.findByTestId('tg-error-heartbeat_minutes')).textContent).toBe('Enter a whole number.');
    expect(requests.filter((r) => r.method === 'PUT')).toEqual([]);
  });
});
