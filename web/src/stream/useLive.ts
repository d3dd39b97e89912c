/** React state fed by the live stream: latest status and summary, connection state, events. */
import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { Status, Summary } from '../api/types';
import { StreamClient, streamUrl } from './client';
import type { ConnState } from './machine';

export interface FlattenView {
  active: boolean;
  phase: string;
  attempt: number;
  positionLots: number;
  /** |position| in lots when this flatten began, for the progress bar */
  startLots: number;
  done: { dust: boolean; positionLots: number; attempts: number } | null;
}

export interface FillMark {
  tradeId: string;
  side: 'buy' | 'sell';
  timeNs: number;
}

export interface Live {
  conn: ConnState;
  status: Status | null;
  summary: Summary | null;
  lastFrameMs: number | null;
  flatten: FlattenView;
  /** fills seen on the stream this page load (for chart markers), oldest first */
  fillMarks: FillMark[];
  /** increments on each fill event, to refresh tables */
  fillSeq: number;
  /** increments on every tick, for charts */
  frameSeq: number;
  /** base units per lot, learned from the summary (position / position_lots) */
  lotSize: number | null;
}

const NO_FLATTEN: FlattenView = {
  active: false,
  phase: '',
  attempt: 0,
  positionLots: 0,
  startLots: 0,
  done: null,
};

const MAX_MARKS = 500;

function num(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) ? n : 0;
}

/** Fold a flatten event into the view. */
export function foldFlatten(view: FlattenView, kind: string, data: Record<string, unknown>): FlattenView {
  if (kind === 'flatten_progress') {
    const positionLots = num(data.position_lots);
    const startLots = view.active ? Math.max(view.startLots, Math.abs(positionLots)) : Math.abs(positionLots);
    return {
      active: true,
      phase: String(data.phase ?? ''),
      attempt: num(data.attempt),
      positionLots,
      startLots,
      done: null,
    };
  }
  if (kind === 'flatten_done') {
    const positionLots = num(data.position_lots);
    return {
      ...view,
      active: false,
      positionLots,
      done: { dust: Boolean(data.dust), positionLots, attempts: num(data.attempts) },
    };
  }
  return view;
}

/** The flatten view implied by a summary (used on (re)connect, when events were missed). */
export function flattenFromSummary(view: FlattenView, summary: Summary): FlattenView {
  const f = summary.flatten;
  if (!f) return view;
  if (f.active) {
    const lots = Math.abs(f.position_lots);
    return {
      active: true,
      phase: f.phase,
      attempt: f.attempt,
      positionLots: f.position_lots,
      startLots: view.active ? Math.max(view.startLots, lots) : lots,
      done: null,
    };
  }
  if (view.active && f.last_done) {
    const d = f.last_done;
    return { ...view, active: false, positionLots: d.position_lots, done: { dust: d.dust, positionLots: d.position_lots, attempts: d.attempts } };
  }
  return view;
}

/** Base units per lot when the summary holds a position, else null. */
export function lotSizeOf(summary: Summary): number | null {
  if (!summary.position_lots || !Number.isFinite(summary.position)) return null;
  const lot = Math.abs(summary.position / summary.position_lots);
  // the ratio of a decimal size to integer lots: round away float noise (steps are decimal)
  return lot > 0 ? Number(lot.toPrecision(8)) : null;
}

export function useLive(enabled: boolean, onAuthLost: () => void): Live {
  const [live, setLive] = useState<Live>({
    conn: 'disconnected',
    status: null,
    summary: null,
    lastFrameMs: null,
    flatten: NO_FLATTEN,
    fillMarks: [],
    fillSeq: 0,
    frameSeq: 0,
    lotSize: null,
  });
  const authLost = useRef(onAuthLost);
  authLost.current = onAuthLost;

  useEffect(() => {
    if (!enabled) return undefined;
    const client = new StreamClient(
      streamUrl(window.location),
      {
        onState: (conn) => setLive((s) => ({ ...s, conn })),
        onFrame: (frame) =>
          setLive((s) => ({
            ...s,
            status: frame.status,
            summary: frame.summary,
            lastFrameMs: Date.now(),
            flatten: flattenFromSummary(s.flatten, frame.summary),
            frameSeq: s.frameSeq + 1,
            lotSize: lotSizeOf(frame.summary) ?? s.lotSize,
          })),
        onEvent: (kind, data) =>
          setLive((s) => {
            if (kind === 'fill') {
              const mark: FillMark = {
                tradeId: String(data.trade_id ?? ''),
                side: data.side === 'sell' ? 'sell' : 'buy',
                timeNs: num(data.local_ns ?? data.ts_ns),
              };
              return { ...s, fillMarks: [...s.fillMarks, mark].slice(-MAX_MARKS), fillSeq: s.fillSeq + 1 };
            }
            if (kind === 'mode' && s.status && typeof data.new === 'string') {
              const engine = { ...s.status.engine, mode: data.new as Status['engine']['mode'] };
              // a new start ends the previous flatten's report
              const flatten = data.new === 'reconciling' && !s.flatten.active ? NO_FLATTEN : s.flatten;
              return { ...s, flatten, status: { ...s.status, engine } };
            }
            const flatten = foldFlatten(s.flatten, kind, data);
            return flatten === s.flatten ? s : { ...s, flatten };
          }),
        onAuthLost: () => authLost.current(),
      },
      {
        makeSocket: (url) => new WebSocket(url),
        sessionValid: async () => {
          try {
            await endpoints.status();
            return true;
          } catch (error) {
            if (error instanceof ApiError && error.status === 401) return false;
            throw error;
          }
        },
      },
    );
    client.open();
    return () => client.close();
  }, [enabled]);

  return live;
}
