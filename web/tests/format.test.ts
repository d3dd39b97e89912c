import { describe, expect, it } from 'vitest';
import { fmtAge, fmtDuration, fmtNumber, fmtPct, fmtSigned, fmtSize, fmtTimeNs, fmtUsd, signClass } from '../src/format';

describe('numbers', () => {
  it('groups thousands and rounds to the requested decimals', () => {
    expect(fmtNumber(1234567.891, 2)).toBe('1,234,567.89');
    expect(fmtNumber(-9876.5, 1)).toBe('-9,876.5');
    expect(fmtNumber(999.995, 2)).toBe('1,000.00');
    expect(fmtNumber(12, 0)).toBe('12');
  });

  it('never shows a negative zero', () => {
    expect(fmtNumber(-0.001, 2)).toBe('0.00');
    expect(fmtSigned(-0.001, 2)).toBe('0.00');
    expect(fmtSize(-0.0000001)).toBe('0');
  });

  it('dashes for missing or non-finite values', () => {
    for (const bad of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(fmtNumber(bad)).toBe('—');
      expect(fmtUsd(bad)).toBe('—');
      expect(fmtPct(bad)).toBe('—');
      expect(fmtDuration(bad)).toBe('—');
    }
  });

  it('signs positive PnL and keeps cents, with more digits below a cent', () => {
    expect(fmtUsd(1.5, true)).toBe('+1.50');
    expect(fmtUsd(-2.25, true)).toBe('-2.25');
    expect(fmtUsd(0.0042)).toBe('0.0042');
    expect(fmtUsd(0)).toBe('0.00');
  });

  it('percent of a ratio', () => {
    expect(fmtPct(0.1234)).toBe('12.34%');
    expect(fmtPct(0.05, 0)).toBe('5%');
  });

  it('sizes without trailing zeros', () => {
    expect(fmtSize(-1.32)).toBe('-1.32');
    expect(fmtSize(2)).toBe('2');
    expect(fmtSize(0.000123)).toBe('0.000123');
  });

  it('sign classes', () => {
    expect(signClass(3)).toBe('pos');
    expect(signClass(-3)).toBe('neg');
    expect(signClass(0)).toBe('zero');
    expect(signClass(null)).toBe('zero');
  });
});

describe('time', () => {
  it('durations as clock text with days', () => {
    expect(fmtDuration(5)).toBe('00:05');
    expect(fmtDuration(65)).toBe('01:05');
    expect(fmtDuration(3_723)).toBe('01:02:03');
    expect(fmtDuration(2 * 86_400 + 3_723.9)).toBe('2d 01:02:03');
    expect(fmtDuration(-1)).toBe('—');
  });

  it('short ages', () => {
    expect(fmtAge(850)).toBe('850ms');
    expect(fmtAge(12_400)).toBe('12s');
    expect(fmtAge(184_000)).toBe('3m 04s');
    expect(fmtAge(7_500_000)).toBe('2h 05m');
  });

  it('local wall time of ns timestamps (number or string)', () => {
    const date = new Date(2026, 10, 23, 9, 5, 7);
    const ns = date.getTime() * 1e6;
    expect(fmtTimeNs(ns)).toBe('09:05:07');
    expect(fmtTimeNs(String(ns))).toBe('09:05:07');
    expect(fmtTimeNs(0)).toBe('—');
  });
});
