/** Figure cards for the current session, plus the circuit breakers and the venue connection. */
import type { ReactNode } from 'react';
import type { Status, Summary, VenueDiagnostics } from '../api/types';
import { fmtDuration, fmtNumber, fmtPct, fmtSize, fmtUsd, signClass } from '../format';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';

function Card(props: { id: string; label: string; value: string; tone?: string; children?: ReactNode }) {
  return (
    <div className={`card card-${props.id}`} data-testid={`card-${props.id}`}>
      <div className="card-label">{props.label}</div>
      <div className={`card-value ${props.tone ?? ''}`} data-testid={`card-${props.id}-value`}>
        {props.value}
      </div>
      {props.children && <div className="card-detail">{props.children}</div>}
    </div>
  );
}

const BREAKER_KEYS = new Set(['drawdown', 'inventory', 'stale_data', 'reject_storm', 'error_storm', 'risk_unknown']);

function breakerValue(name: string, value: number | null, limit: number | null): string {
  if (name === 'drawdown' || name === 'inventory') return `${fmtPct(value, 1)} / ${fmtPct(limit, 0)}`;
  if (name === 'stale_data') return `${fmtNumber(value, 1)}s / ${fmtNumber(limit, 0)}s`;
  return `${fmtNumber(value, 0)} / ${fmtNumber(limit, 0)}`;
}

export function Breakers(props: { summary: Summary | null }) {
  const { t } = useI18n();
  const entries = Object.entries(props.summary?.breakers ?? {});
  return (
    <div className="card card-breakers" data-testid="card-breakers">
      <div className="card-label">{t('card.breakers')}</div>
      <ul className="breakers">
        {entries.map(([name, b]) => (
          <li key={name} className={b.tripped ? 'tripped' : 'ok'} data-testid={`breaker-${name}`}>
            <span className="breaker-name">{BREAKER_KEYS.has(name) ? t(`breaker.${name}` as MessageKey) : name}</span>
            <span className="breaker-value">{breakerValue(name, b.value, b.limit)}</span>
            <span className="breaker-state">{b.tripped ? t('breaker.tripped') : t('breaker.ok')}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function VenueRow(props: { id: string; label: string; value: string; tone?: 'ok' | 'warn' | 'bad' }) {
  return (
    <li className={`venue-${props.tone ?? 'plain'}`} data-testid={`venue-${props.id}`}>
      <span className="venue-name">{props.label}</span>
      <span className="venue-value">{props.value}</span>
    </li>
  );
}

const count = (n: number | undefined) => fmtNumber(n ?? 0, 0);
const warnIf = (n: number | undefined) => ((n ?? 0) > 0 ? 'warn' : undefined);

/** The venue connection's counters (retries, rate limits, stream drops and gaps); nothing when
 * the venue keeps none (demo). */
export function VenueCard(props: { venue: VenueDiagnostics | null | undefined }) {
  const { t } = useI18n();
  const v = props.venue;
  if (!v) return null;
  const h = v.http;
  const codes = Object.entries(h?.codes ?? {});
  return (
    <div className="card card-venue" data-testid="card-venue">
      <div className="card-label">{t('venue.title')}</div>
      <ul className="venue-counters">
        {v.book_ok !== null && (
          <VenueRow id="book" label={t('venue.book')} value={v.book_ok ? t('venue.bookOk') : t('venue.tickerOnly')} tone={v.book_ok ? 'ok' : 'bad'} />
        )}
        {Object.entries(v.streams).map(([name, s]) => (
          <VenueRow
            key={name}
            id={`stream-${name}`}
            label={name === 'market' || name === 'private' ? t(`venue.stream.${name}`) : name}
            value={t('venue.streamDetail', { drops: count(s.disconnects), gaps: count(s.gaps), resubs: count(s.resubscribes) })}
            tone={warnIf(s.disconnects + s.gaps)}
          />
        ))}
        {h && (
          <>
            <VenueRow id="requests" label={t('venue.requests')} value={count(h.requests)} />
            <VenueRow id="retries" label={t('venue.retries')} value={count(h.retries)} tone={warnIf(h.retries)} />
            <VenueRow id="rate-limited" label={t('venue.rateLimited')} value={count(h.rate_limited)} tone={warnIf(h.rate_limited)} />
            <VenueRow id="server-errors" label={t('venue.serverErrors')} value={count(h.server_errors)} tone={warnIf(h.server_errors)} />
            <VenueRow id="timeouts" label={t('venue.timeouts')} value={count(h.timeouts)} tone={warnIf(h.timeouts)} />
            <VenueRow id="relogins" label={t('venue.relogins')} value={count(h.relogins)} tone={warnIf(h.relogins)} />
            <VenueRow id="failures" label={t('venue.failures')} value={count(h.failures)} tone={(h.failures ?? 0) > 0 ? 'bad' : undefined} />
            {codes.length > 0 && (
              <VenueRow id="codes" label={t('venue.codes')} value={codes.map(([code, n]) => `${code}×${n}`).join(', ')} tone="warn" />
            )}
          </>
        )}
        {v.duplicate_fills !== undefined && (
          <VenueRow id="duplicate-fills" label={t('venue.duplicateFills')} value={count(v.duplicate_fills)} tone={warnIf(v.duplicate_fills)} />
        )}
        {v.parse_errors !== undefined && (
          <VenueRow id="parse-errors" label={t('venue.parseErrors')} value={count(v.parse_errors)} tone={warnIf(v.parse_errors)} />
        )}
        {v.unreadable_fills !== undefined && (
          <VenueRow id="unreadable-fills" label={t('venue.unreadableFills')} value={count(v.unreadable_fills)} tone={warnIf(v.unreadable_fills)} />
        )}
        {v.rest_tickers !== undefined && (
          <VenueRow id="rest-tickers" label={t('venue.restTickers')} value={count(v.rest_tickers)} tone={warnIf(v.rest_tickers)} />
        )}
        {v.rest_ticker_failures !== undefined && (
          <VenueRow id="rest-ticker-failures" label={t('venue.restTickerFailures')} value={count(v.rest_ticker_failures)} tone={warnIf(v.rest_ticker_failures)} />
        )}
      </ul>
    </div>
  );
}

export function Cards(props: { status: Status | null; summary: Summary | null }) {
  const { t } = useI18n();
  const s = props.summary;
  const e = props.status?.engine;
  const equity = s?.equity ?? e?.equity ?? null;
  const freeMargin = s?.free_margin ?? e?.free_margin ?? null;
  const position = s?.position ?? e?.position ?? null;
  const inventory = s?.inventory_notional ?? e?.inventory_notional ?? null;
  const usdt = t('card.unit.usdt');
  return (
    <section className="cards" aria-label="summary">
      <Card id="equity" label={t('card.equity')} value={fmtUsd(equity)}>
        {usdt}
      </Card>
      <Card id="free-margin" label={t('card.freeMargin')} value={fmtUsd(freeMargin)}>
        {usdt}
      </Card>
      <Card id="position" label={t('card.position')} value={fmtSize(position)} tone={signClass(position)}>
        {e?.symbol ?? ''}
      </Card>
      <Card id="inventory" label={t('card.inventory')} value={fmtUsd(inventory)}>
        {usdt}
      </Card>
      <Card id="runtime" label={t('card.runtime')} value={fmtDuration(s?.runtime_s)} />
      <Card id="fills" label={t('card.fills')} value={s ? fmtNumber(s.fills, 0) : '—'}>
        {s ? t('card.fillsDetail', { maker: s.maker_fills, taker: s.taker_fills }) : ''}
      </Card>
      <Card id="volume" label={t('card.volume')} value={fmtUsd(s?.session_volume)}>
        {usdt}
      </Card>
      <Card id="pnl" label={t('card.pnl')} value={fmtUsd(s?.pnl_total, true)} tone={signClass(s?.pnl_total)}>
        {s?.pnl_today !== undefined ? t('card.pnlToday', { value: fmtUsd(s.pnl_today, true) }) : usdt}
      </Card>
      <Card id="rebates" label={t('card.rebates')} value={fmtUsd(s?.rebates)} tone="pos">
        {s ? t('card.feesNet', { value: fmtUsd(s.fees, true) }) : ''}
      </Card>
      <Card id="costs" label={t('card.costs')} value={fmtUsd(s?.fee_costs)} tone={s && s.fee_costs > 0 ? 'neg' : ''}>
        {usdt}
      </Card>
      <Card id="wear" label={t('card.wear')} value={s?.wear_per_10k === null || s?.wear_per_10k === undefined ? '—' : fmtNumber(s.wear_per_10k, 2)} tone={signClass(s?.wear_per_10k === null || s?.wear_per_10k === undefined ? null : -s.wear_per_10k)}>
        {t('card.wearDetail')}
      </Card>
      <Breakers summary={s} />
      <VenueCard venue={props.status?.venue} />
    </section>
  );
}
