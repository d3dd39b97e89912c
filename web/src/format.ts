/** Number, money, time and duration formatting for cards and tables (locale-independent). */

export const DASH = '—';

function finite(x: number | null | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** `1234.5` → `1,234.50`; `digits` decimals; null/NaN → dash. */
export function fmtNumber(x: number | null | undefined, digits = 2): string {
  if (!finite(x)) return DASH;
  const fixed = Math.abs(x).toFixed(digits);
  const [whole = '0', frac] = fixed.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const negative = x < 0 && Number(fixed) !== 0;
  return `${negative ? '-' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`;
}

/** Like `fmtNumber` with an explicit `+` on positive values (PnL, deltas). */
export function fmtSigned(x: number | null | undefined, digits = 2): string {
  if (!finite(x)) return DASH;
  const text = fmtNumber(x, digits);
  return x > 0 && Number(Math.abs(x).toFixed(digits)) !== 0 ? `+${text}` : text;
}

/** Money in USDT: 2 decimals, 4 below one cent so rebates on small fills stay visible. */
export function fmtUsd(x: number | null | undefined, signed = false): string {
  if (!finite(x)) return DASH;
  const digits = x !== 0 && Math.abs(x) < 0.01 ? 4 : 2;
  return signed ? fmtSigned(x, digits) : fmtNumber(x, digits);
}

/** A ratio as percent: `0.0123` → `1.23%`. */
export function fmtPct(x: number | null | undefined, digits = 2): string {
  if (!finite(x)) return DASH;
  return `${fmtNumber(x * 100, digits)}%`;
}

/** Seconds as `1d 02:03:04`, `02:03:04` or `03:04`. */
export function fmtDuration(seconds: number | null | undefined): string {
  if (!finite(seconds) || seconds < 0) return DASH;
  const total = Math.floor(seconds);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const secs = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = hours > 0 || days > 0 ? `${pad(hours)}:${pad(minutes)}:${pad(secs)}` : `${pad(minutes)}:${pad(secs)}`;
  return days > 0 ? `${days}d ${clock}` : clock;
}

/** A short age: `850ms`, `12s`, `3m 04s`, `2h 05m`. */
export function fmtAge(ms: number | null | undefined): string {
  if (!finite(ms) || ms < 0) return DASH;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** Local wall time `HH:MM:SS` of an epoch timestamp in ns. */
export function fmtTimeNs(ns: number | string | null | undefined): string {
  const value = typeof ns === 'string' ? Number(ns) : ns;
  if (!finite(value) || value <= 0) return DASH;
  const date = new Date(value / 1e6);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Local date and time `YYYY-MM-DD HH:MM` of an epoch timestamp in ns. */
export function fmtDateTimeNs(ns: number | null | undefined): string {
  if (!finite(ns) || ns <= 0) return DASH;
  const date = new Date(ns / 1e6);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Decimal strings from the API shown as they are (exact), dash when missing. */
export function fmtDecimal(text: string | null | undefined): string {
  return text === null || text === undefined || text === '' ? DASH : text;
}

/** A base-unit position with up to 6 decimals and no trailing zeros: `-1.32`. */
export function fmtSize(x: number | null | undefined): string {
  if (!finite(x)) return DASH;
  const text = x.toFixed(6).replace(/\.?0+$/, '');
  return text === '-0' ? '0' : text;
}

/** Sign class for coloring: `pos`, `neg` or `zero`. */
export function signClass(x: number | null | undefined): 'pos' | 'neg' | 'zero' {
  if (!finite(x) || x === 0) return 'zero';
  return x > 0 ? 'pos' : 'neg';
}
