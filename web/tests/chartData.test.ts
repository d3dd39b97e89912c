import { describe, expect, it } from 'vitest';
import type { Series, Status } from '../src/api/types';
import { appendPoint, framePoints, fromSeries, MAX_POINTS, nearestTime, placeMarks, type Point } from '../src/chartData';

describe('chart data', () => {
  it('turns API series into per-second points with gaps for missing values', () => {
    const series = {
      ts_ns: [1_000e9, 1_001e9, 1_001.5e9, 1_003e9],
      mid: [100, 101, 102, null],
      bid: [99, null, 101, 100],
      ask: [101, 102, 103, 104],
      equity: [200, 201, 202, 203],
      inventory_notional: [0, 10, 20, 30],
      position: [0, 0, 0, 0],
    } as unknown as Series;
    const data = fromSeries(series);
    expect(data.mid).toEqual([{ time: 1000, value: 100 }, { time: 1001, value: 102 }, { time: 1003 }]);
    expect(data.bid[1]).toEqual({ time: 1001, value: 101 });
    expect(data.equity.map((p) => p.time)).toEqual([1000, 1001, 1003]);
  });

  it('appends newer points, replaces the same second, ignores older ones, stays bounded', () => {
    const line: Point[] = [{ time: 10, value: 1 }];
    expect(appendPoint(line, { time: 11, value: 2 })).toBe('appended');
    expect(appendPoint(line, { time: 11, value: 3 })).toBe('replaced');
    expect(appendPoint(line, { time: 9, value: 4 })).toBe('ignored');
    expect(line).toEqual([{ time: 10, value: 1 }, { time: 11, value: 3 }]);
    const long: Point[] = [];
    for (let i = 0; i < MAX_POINTS + 10; i += 1) appendPoint(long, { time: i, value: i });
    expect(long).toHaveLength(MAX_POINTS);
    expect(long[0]?.time).toBe(10);
  });

  it('reads a stream frame: mid, our quotes, equity and inventory', () => {
    const status = { engine: { mid: 600.5, target: { bid: '600.45', ask: null }, equity: 200, inventory_notional: 12 } } as unknown as Status;
    const points = framePoints(5, status, null);
    expect(points).toEqual({
      mid: { time: 5, value: 600.5 },
      bid: { time: 5, value: 600.45 },
      ask: { time: 5 },
      equity: { time: 5, value: 200 },
      inventory: { time: 5, value: 12 },
    });
  });

  it('finds the nearest time', () => {
    const times = [10, 20, 30];
    expect(nearestTime(times, 14)).toBe(10);
    expect(nearestTime(times, 16)).toBe(20);
    expect(nearestTime(times, 99)).toBe(30);
    expect(nearestTime(times, -5)).toBe(10);
    expect(nearestTime([], 3)).toBeNull();
  });

  it('places fill marks on chart times, one per time and side with a count', () => {
    const times = [100, 101, 102];
    const marks = [
      { id: 'a', side: 'buy' as const, timeNs: 101.2e9 },
      { id: 'b', side: 'buy' as const, timeNs: 100.9e9 },
      { id: 'b', side: 'buy' as const, timeNs: 100.9e9 },
      { id: 'c', side: 'sell' as const, timeNs: 101e9 },
      { id: 'old', side: 'sell' as const, timeNs: 50e9 },
    ];
    expect(placeMarks(times, marks)).toEqual([
      { side: 'buy', time: 101, count: 2 },
      { side: 'sell', time: 101, count: 1 },
    ]);
    expect(placeMarks([], marks)).toEqual([]);
  });
});
