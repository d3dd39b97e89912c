/** Pure data shaping for the charts: API series and stream frames to time-ordered points. */
import type { Series, Status, Summary } from './api/types';

/** A chart point: `time` in whole epoch seconds; `value` absent = gap. */
export interface Point {
  time: number;
  value?: number;
}

export interface ChartData {
  mid: Point[];
  bid: Point[];
  ask: Point[];
  equity: Point[];
  inventory: Point[];
}

export const EMPTY_CHART_DATA: ChartData = { mid: [], bid: [], ask: [], equity: [], inventory: [] };

/** The most points kept per line before the oldest are dropped. */
export const MAX_POINTS = 5_000;

function point(time: number, value: number | null | undefined): Point {
  return typeof value === 'number' && Number.isFinite(value) ? { time, value } : { time };
}

/** API series → chart lines (one point per distinct second, the later one wins). */
export function fromSeries(series: Series): ChartData {
  const out: ChartData = { mid: [], bid: [], ask: [], equity: [], inventory: [] };
  series.ts_ns.forEach((ts, i) => {
    const time = Math.floor(ts / 1e9);
    appendPoint(out.mid, point(time, series.mid[i]));
    appendPoint(out.bid, point(time, series.bid[i]));
    appendPoint(out.ask, point(time, series.ask[i]));
    appendPoint(out.equity, point(time, series.equity[i]));
    appendPoint(out.inventory, point(time, series.inventory_notional[i]));
  });
  return out;
}

/**
 * Add `p` at the end of `line` when it is newer, replace the last point when it has the same
 * second, ignore it when older. Returns what happened so the chart can mirror it.
 */
export function appendPoint(line: Point[], p: Point): 'appended' | 'replaced' | 'ignored' {
  const last = line[line.length - 1];
  if (last && p.time < last.time) return 'ignored';
  if (last && p.time === last.time) {
    line[line.length - 1] = p;
    return 'replaced';
  }
  line.push(p);
  if (line.length > MAX_POINTS) line.splice(0, line.length - MAX_POINTS);
  return 'appended';
}

function priceOf(text: string | null | undefined): number | null {
  if (text === null || text === undefined || text === '') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** One stream frame as a point per line, at epoch second `time`. */
export function framePoints(time: number, status: Status, summary: Summary | null): Record<keyof ChartData, Point> {
  const engine = status.engine;
  return {
    mid: point(time, engine.mid),
    bid: point(time, priceOf(engine.target?.bid)),
    ask: point(time, priceOf(engine.target?.ask)),
    equity: point(time, summary?.equity ?? engine.equity),
    inventory: point(time, summary?.inventory_notional ?? engine.inventory_notional),
  };
}

/** The time in `times` (ascending) nearest to `t`, or null when `times` is empty. */
export function nearestTime(times: readonly number[], t: number): number | null {
  if (times.length === 0) return null;
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((times[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  const after = times[lo] as number;
  const before = lo > 0 ? (times[lo - 1] as number) : after;
  return Math.abs(t - before) <= Math.abs(after - t) ? before : after;
}

export interface Mark {
  id: string;
  side: 'buy' | 'sell';
  timeNs: number;
}

export interface PlacedMark {
  side: 'buy' | 'sell';
  time: number;
  /** fills of this side at this time */
  count: number;
}

/** Fill marks snapped to existing chart times (lines need a point under each marker), one per
 * time and side with the number of fills, time ordered; repeated trade ids count once and
 * marks outside the chart's time span are left out. */
export function placeMarks(times: readonly number[], marks: readonly Mark[]): PlacedMark[] {
  if (times.length === 0) return [];
  const first = times[0] as number;
  const last = times[times.length - 1] as number;
  const seen = new Set<string>();
  const grouped = new Map<string, PlacedMark>();
  for (const mark of marks) {
    if (seen.has(mark.id)) continue;
    seen.add(mark.id);
    const t = mark.timeNs / 1e9;
    if (t < first - 1 || t > last + 2) continue;
    const time = nearestTime(times, t) as number;
    const key = `${time}:${mark.side}`;
    const existing = grouped.get(key);
    if (existing) existing.count += 1;
    else grouped.set(key, { side: mark.side, time, count: 1 });
  }
  return [...grouped.values()].sort((a, b) => a.time - b.time || (a.side < b.side ? -1 : 1));
}
