import { describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_TIMING, type Effect, INITIAL, type Input, type Machine, step } from '../src/stream/machine';

function run(inputs: Input[], from: Machine = INITIAL): { machine: Machine; effects: Effect[][] } {
  let machine = from;
  const effects: Effect[][] = [];
  for (const input of inputs) {
    const [next, out] = step(machine, input);
    machine = next;
    effects.push(out);
  }
  return { machine, effects };
}

const types = (effects: Effect[]) => effects.map((e) => e.type);

describe('connection state machine', () => {
  it('connects, subscribes on open and is connected on the first message', () => {
    const { machine, effects } = run([{ type: 'open' }, { type: 'socket_open' }, { type: 'message' }]);
    expect(machine).toEqual({ state: 'connected', attempt: 0 });
    expect(types(effects[0]!)).toEqual(['connect']);
    expect(types(effects[1]!)).toContain('subscribe');
    expect(effects[2]).toEqual([{ type: 'watch', ms: DEFAULT_TIMING.staleAfterMs }]);
  });

  it('goes stale on silence, recovers on a message, reconnects when silence continues', () => {
    const connected = run([{ type: 'open' }, { type: 'socket_open' }, { type: 'message' }]).machine;
    const stale = run([{ type: 'silence' }], connected);
    expect(stale.machine.state).toBe('stale');
    expect(run([{ type: 'message' }], stale.machine).machine.state).toBe('connected');
    const dead = run([{ type: 'silence' }], stale.machine);
    expect(dead.machine).toEqual({ state: 'reconnecting', attempt: 1 });
    expect(types(dead.effects[0]!)).toEqual(['teardown', 'check_auth', 'schedule_retry']);
  });

  it('a dropped socket means reconnecting with growing, capped backoff, never disconnected', () => {
    let machine = run([{ type: 'open' }, { type: 'socket_open' }, { type: 'message' }]).machine;
    const delays: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const [next, effects] = step(machine, { type: 'socket_closed' });
      expect(next.state).toBe('reconnecting');
      const retry = effects.find((e) => e.type === 'schedule_retry');
      delays.push(retry && retry.type === 'schedule_retry' ? retry.ms : -1);
      const [retried, connect] = step(next, { type: 'retry' });
      expect(types(connect)).toContain('connect');
      machine = retried;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  });

  it('resubscribes on every new socket and resets the backoff after a message', () => {
    const dropped = run([{ type: 'open' }, { type: 'socket_open' }, { type: 'message' }, { type: 'socket_closed' }, { type: 'retry' }, { type: 'socket_open' }, { type: 'message' }]);
    expect(types(dropped.effects[5]!)).toContain('subscribe');
    expect(dropped.machine).toEqual({ state: 'connected', attempt: 0 });
  });

  it('an invalid session or an explicit close ends in disconnected and tears down', () => {
    const reconnecting = run([{ type: 'open' }, { type: 'socket_closed' }]).machine;
    expect(reconnecting.state).toBe('reconnecting');
    const [auth, authEffects] = step(reconnecting, { type: 'auth_failed' });
    expect(auth.state).toBe('disconnected');
    expect(types(authEffects)).toEqual(['teardown']);
    const [closed] = step(run([{ type: 'open' }]).machine, { type: 'close' });
    expect(closed.state).toBe('disconnected');
  });

  it('ignores late inputs once disconnected and retries only while reconnecting', () => {
    for (const input of [{ type: 'socket_open' }, { type: 'message' }, { type: 'socket_closed' }, { type: 'retry' }, { type: 'silence' }] as Input[]) {
      expect(step(INITIAL, input)).toEqual([INITIAL, []]);
    }
    const connected = run([{ type: 'open' }, { type: 'socket_open' }, { type: 'message' }]).machine;
    expect(step(connected, { type: 'retry' })).toEqual([connected, []]);
  });

  it('backoff grows from the base and stops at the cap', () => {
    expect(backoffMs(1)).toBe(DEFAULT_TIMING.retryBaseMs);
    expect(backoffMs(2)).toBe(2 * DEFAULT_TIMING.retryBaseMs);
    expect(backoffMs(100)).toBe(DEFAULT_TIMING.retryMaxMs);
  });
});
