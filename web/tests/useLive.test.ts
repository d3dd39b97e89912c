import { describe, expect, it } from 'vitest';
import type { Summary } from '../src/api/types';
import { type FlattenView, flattenFromSummary, foldFlatten, lotSizeOf } from '../src/stream/useLive';

const idle: FlattenView = { active: false, phase: '', attempt: 0, positionLots: 0, startLots: 0, done: null };

describe('flatten view from stream events', () => {
  it('tracks progress from the largest position seen and ends flat or on dust', () => {
    let view = foldFlatten(idle, 'flatten_progress', { phase: 'cancelling', attempt: 0, position_lots: -264 });
    expect(view).toMatchObject({ active: true, startLots: 264, positionLots: -264 });
    view = foldFlatten(view, 'flatten_progress', { phase: 'closing', attempt: 1, position_lots: -100 });
    expect(view).toMatchObject({ active: true, phase: 'closing', attempt: 1, startLots: 264, positionLots: -100 });
    const flat = foldFlatten(view, 'flatten_done', { dust: false, position_lots: 0, attempts: 2 });
    expect(flat).toMatchObject({ active: false, done: { dust: false, positionLots: 0, attempts: 2 } });
    const dust = foldFlatten(view, 'flatten_done', { dust: true, position_lots: '3', attempts: 5 });
    expect(dust.done).toEqual({ dust: true, positionLots: 3, attempts: 5 });
    expect(foldFlatten(view, 'fill', {})).toBe(view);
  });

  it('catches up from the summary after a reconnect', () => {
    const summary = (flatten: Summary['flatten']) => ({ flatten }) as Summary;
    const active = flattenFromSummary(idle, summary({ active: true, phase: 'backoff', attempt: 3, position_lots: 40, detail: '', ts_ns: 1, last_done: null }));
    expect(active).toMatchObject({ active: true, phase: 'backoff', startLots: 40 });
    const done = flattenFromSummary(active, summary({ active: false, phase: '', attempt: 0, position_lots: 0, detail: '', ts_ns: 2, last_done: { dust: false, position_lots: 0, attempts: 4 } }));
    expect(done).toMatchObject({ active: false, done: { dust: false, attempts: 4 } });
    // an old result does not reappear when no flatten was being watched
    expect(flattenFromSummary(idle, summary({ active: false, phase: '', attempt: 0, position_lots: 0, detail: '', ts_ns: 2, last_done: { dust: true, position_lots: 1, attempts: 1 } }))).toBe(idle);
  });

  it('learns the lot size from the summary', () => {
    expect(lotSizeOf({ position: -1.32, position_lots: -132 } as Summary)).toBe(0.01);
    expect(lotSizeOf({ position: 0, position_lots: 0 } as Summary)).toBeNull();
  });
});
