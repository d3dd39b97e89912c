import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Status, VenueDiagnostics } from '../src/api/types';
import { Cards } from '../src/components/Cards';
import { I18nProvider } from '../src/i18n';

afterEach(() => {
  cleanup();
  localStorage.clear();
});

function status(mode: string, venue: VenueDiagnostics | null | undefined): Status {
  return {
    mode,
    version: '0.1.0',
    notices: [],
    engine: { mode: 'running', symbol: 'BNB_USDT_Perp', position: 0, breakers: [], open_orders: [] },
    ...(venue === undefined ? {} : { venue }),
  } as unknown as Status;
}

const stream = (over: Partial<Record<string, number>> = {}) => ({
  connects: 1, disconnects: 0, resubscribes: 0, gaps: 0, duplicates: 0, stale: 0, rpc_errors: 0, bad_frames: 0, frames: 100, ...over,
});

const live: VenueDiagnostics = {
  http: {
    requests: 1234, retries: 3, rate_limited: 2, server_errors: 0, timeouts: 0, disconnects: 0,
    logins: 1, relogins: 1, failures: 0, codes: { '1006': 2 },
  },
  streams: { market: stream({ connects: 3, disconnects: 2, gaps: 1, resubscribes: 4 }), private: stream() },
  book_ok: false,
  duplicate_fills: 0,
};

const renderCards = (s: Status) => render(<I18nProvider><Cards status={s} summary={null} /></I18nProvider>);
const row = (id: string) => screen.getByTestId(`venue-${id}`);

describe('venue connection card', () => {
  it('shows the REST and stream counters, flagging retries, rate limits and the ticker fallback', () => {
    renderCards(status('live', live));
    expect(screen.getByTestId('card-venue').textContent).toContain('Venue connection');
    expect(row('requests').textContent).toContain('1,234');
    expect(row('retries').textContent).toContain('3');
    expect(row('retries').className).toBe('venue-warn');
    expect(row('rate-limited').textContent).toContain('2');
    expect(row('rate-limited').className).toBe('venue-warn');
    expect(row('relogins').textContent).toContain('1');
    expect(row('failures').className).toBe('venue-plain');
    expect(row('codes').textContent).toContain('1006×2');
    expect(row('stream-market').textContent).toContain('2 drops · 1 gaps · 4 resubscribes');
    expect(row('stream-market').className).toBe('venue-warn');
    expect(row('stream-private').textContent).toContain('0 drops · 0 gaps · 0 resubscribes');
    expect(row('stream-private').className).toBe('venue-plain');
    expect(row('book').textContent).toContain('ticker only');
    expect(row('book').className).toBe('venue-bad');
    expect(row('duplicate-fills').textContent).toContain('0');
    expect(screen.queryByTestId('venue-parse-errors')).toBeNull();
    expect(screen.queryByTestId('venue-unreadable-fills')).toBeNull();
  });

  it('live: skipped fill-history records are shown as a warning', () => {
    renderCards(status('live', { ...live, unreadable_fills: 3 }));
    expect(row('unreadable-fills').textContent).toContain('3');
    expect(row('unreadable-fills').className).toBe('venue-warn');
  });

  it('paper mode: the public market only (no private stream, no error codes yet)', () => {
    const paper: VenueDiagnostics = {
      http: { ...live.http!, retries: 0, rate_limited: 0, relogins: 0, codes: {} },
      streams: { market: stream() },
      book_ok: true,
      parse_errors: 5,
    };
    renderCards(status('paper', paper));
    expect(row('book').textContent).toContain('streaming');
    expect(row('book').className).toBe('venue-ok');
    expect(row('retries').className).toBe('venue-plain');
    expect(screen.queryByTestId('venue-stream-private')).toBeNull();
    expect(screen.queryByTestId('venue-codes')).toBeNull();
    expect(row('parse-errors').textContent).toContain('5');
  });

  it('demo: a venue without counters shows no venue section', () => {
    renderCards(status('demo', null));
    expect(screen.queryByTestId('card-venue')).toBeNull();
    expect(screen.getByTestId('card-breakers')).toBeTruthy();
    cleanup();
    renderCards(status('demo', undefined));
    expect(screen.queryByTestId('card-venue')).toBeNull();
  });

  it('labels follow the language', () => {
    localStorage.setItem('grvtmm.lang', 'zh');
    renderCards(status('live', live));
    expect(screen.getByTestId('card-venue').textContent).toContain('交易所连接');
    expect(row('stream-market').textContent).toContain('断开 2');
  });
});
