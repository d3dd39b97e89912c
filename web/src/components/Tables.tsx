/** Open orders (live from the engine) and recent fills (paged from the store, latest first). */
import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { FillItem, OpenOrder, Page } from '../api/types';
import { fmtAge, fmtDecimal, fmtTimeNs } from '../format';
import { useI18n } from '../i18n';

export const FILLS_PAGE_SIZE = 10;
const RELOAD_EVERY_MS = 1_000;

export function OpenOrders(props: { orders: OpenOrder[]; nowNs: number }) {
  const { t } = useI18n();
  const rows = [...props.orders].sort((a, b) => Number(b.price) - Number(a.price));
  return (
    <section className="panel" aria-label={t('orders.title')}>
      <div className="panel-head">
        <h2>{t('orders.title')}</h2>
        <span className="count" data-testid="orders-count">{rows.length}</span>
      </div>
      <div className="table-wrap">
        <table data-testid="orders-table">
          <thead>
            <tr>
              <th>{t('col.side')}</th>
              <th className="num">{t('col.price')}</th>
              <th className="num">{t('col.size')}</th>
              <th className="num">{t('col.filled')}</th>
              <th>{t('col.reason')}</th>
              <th className="num">{t('col.age')}</th>
              <th>{t('col.flags')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">{t('orders.empty')}</td>
              </tr>
            )}
            {rows.map((o) => (
              <tr key={o.client_order_id} className={`side-${o.side}`}>
                <td className={`side side-${o.side}`}>{t(o.side === 'buy' ? 'side.buy' : 'side.sell')}</td>
                <td className="num">{fmtDecimal(o.price)}</td>
                <td className="num">{fmtDecimal(o.size)}</td>
                <td className="num">{fmtDecimal(o.filled)}</td>
                <td>{o.reason || '—'}</td>
                <td className="num">{fmtAge((props.nowNs - o.created_ns) / 1e6)}</td>
                <td>{o.reduce_only ? t('flag.reduceOnly') : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function feeSideKey(fill: FillItem): 'fee.rebate' | 'fee.cost' {
  if (fill.fee_side === 'rebate') return 'fee.rebate';
  if (fill.fee_side === 'cost') return 'fee.cost';
  return Number(fill.fee) < 0 ? 'fee.rebate' : 'fee.cost';
}

export function RecentFills(props: { fillSeq: number }) {
  const { t } = useI18n();
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<FillItem> | null>(null);
  const [error, setError] = useState<string | null>(null);
  // on the first page, follow new fills: at most one reload per second however fast they come
  const [tick, setTick] = useState(0);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    if (offset !== 0 || props.fillSeq === 0 || pending.current !== null) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      setTick((n) => n + 1);
    }, RELOAD_EVERY_MS);
  }, [props.fillSeq, offset]);
  useEffect(
    () => () => {
      if (pending.current !== null) clearTimeout(pending.current);
    },
    [],
  );

  useEffect(() => {
    let cancelled = false;
    endpoints
      .fills(FILLS_PAGE_SIZE, offset)
      .then((p) => {
        if (!cancelled) {
          setPage(p);
          setError(null);
        }
      })
      .catch((e: unknown) => {
        // unreachable server: keep the last page; the header shows the connection state
        if (!cancelled && e instanceof ApiError) setError(e.message);
      });
    return () => {
      cancelled = true;
    };
  }, [offset, tick]);

  const items = page?.items ?? [];
  const total = page?.total ?? 0;
  return (
    <section className="panel" aria-label={t('fills.title')}>
      <div className="panel-head">
        <h2>{t('fills.title')}</h2>
        <span className="count" data-testid="fills-total">{total}</span>
      </div>
      {error && <div className="inline-error">{t('common.error', { error })}</div>}
      <div className="table-wrap">
        <table data-testid="fills-table">
          <thead>
            <tr>
              <th>{t('col.time')}</th>
              <th>{t('col.side')}</th>
              <th className="num">{t('col.price')}</th>
              <th className="num">{t('col.size')}</th>
              <th className="num">{t('col.fee')}</th>
              <th>{t('col.feeSide')}</th>
              <th>{t('col.liquidity')}</th>
            </tr>
          </thead>
          <tbody>
            {items.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">{t('fills.empty')}</td>
              </tr>
            )}
            {items.map((f) => (
              <tr key={f.trade_id}>
                <td>{fmtTimeNs(f.ts_ns)}</td>
                <td className={`side side-${f.side}`}>{t(f.side === 'buy' ? 'side.buy' : 'side.sell')}</td>
                <td className="num">{fmtDecimal(f.price)}</td>
                <td className="num">{fmtDecimal(f.size)}</td>
                <td className="num">{fmtDecimal(f.fee)}</td>
                <td className={`fee-${feeSideKey(f) === 'fee.rebate' ? 'rebate' : 'cost'}`}>{t(feeSideKey(f))}</td>
                <td>{t(f.is_maker ? 'liq.maker' : 'liq.taker')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="pager">
        <button type="button" className="btn btn-ghost" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - FILLS_PAGE_SIZE))} data-testid="fills-newer">
          {t('page.prev')}
        </button>
        <span>{total > 0 ? t('page.of', { from: offset + 1, to: Math.min(total, offset + items.length), total }) : ''}</span>
        <button type="button" className="btn btn-ghost" disabled={offset + FILLS_PAGE_SIZE >= total} onClick={() => setOffset(offset + FILLS_PAGE_SIZE)} data-testid="fills-older">
          {t('page.next')}
        </button>
      </div>
    </section>
  );
}
