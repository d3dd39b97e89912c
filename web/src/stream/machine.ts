/**
 * Connection state of the live stream as a pure transition function: inputs in, next state and
 * effects out (the socket driver performs the effects). States:
 *   connecting   first connection attempt, nothing received yet
 *   connected    messages arrive (ticks come every second)
 *   stale        connected, but nothing arrived for `staleAfterMs`
 *   reconnecting the socket closed or went silent; retrying with capped exponential backoff
 *   disconnected not trying: never opened, closed on purpose, or the session is no longer valid
 * A dropped socket is a state, never an error banner: the dashboard keeps the last figures.
 */

export type ConnState = 'connecting' | 'connected' | 'stale' | 'reconnecting' | 'disconnected';

export interface Machine {
  state: ConnState;
  /** failed attempts since the last good message (drives the backoff) */
  attempt: number;
}

export type Input =
  | { type: 'open' }
  | { type: 'socket_open' }
  | { type: 'message' }
  | { type: 'socket_closed' }
  | { type: 'silence' }
  | { type: 'retry' }
  | { type: 'auth_failed' }
  | { type: 'close' };

export type Effect =
  | { type: 'connect' }
  | { type: 'subscribe' }
  | { type: 'teardown' }
  | { type: 'watch'; ms: number }
  | { type: 'schedule_retry'; ms: number }
  | { type: 'check_auth' };

export interface Timing {
  staleAfterMs: number;
  deadAfterMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_TIMING: Timing = {
  staleAfterMs: 4_000,
  deadAfterMs: 8_000,
  retryBaseMs: 500,
  retryMaxMs: 8_000,
};

export const INITIAL: Machine = { state: 'disconnected', attempt: 0 };

/** Delay before retry number `attempt` (1-based): base · 2^(attempt−1), capped. */
export function backoffMs(attempt: number, timing: Timing = DEFAULT_TIMING): number {
  const exp = Math.max(0, attempt - 1);
  return Math.min(timing.retryMaxMs, timing.retryBaseMs * 2 ** Math.min(exp, 20));
}

function lost(machine: Machine, timing: Timing, alsoTeardown: boolean): [Machine, Effect[]] {
  const attempt = machine.attempt + 1;
  const effects: Effect[] = alsoTeardown ? [{ type: 'teardown' }] : [];
  effects.push({ type: 'check_auth' }, { type: 'schedule_retry', ms: backoffMs(attempt, timing) });
  return [{ state: 'reconnecting', attempt }, effects];
}

/** The next state and the effects to run for `input` (unknown combinations change nothing). */
export function step(
  machine: Machine,
  input: Input,
  timing: Timing = DEFAULT_TIMING,
): [Machine, Effect[]] {
  const { state } = machine;
  switch (input.type) {
    case 'open':
      if (state !== 'disconnected') return [machine, []];
      return [{ state: 'connecting', attempt: 0 }, [{ type: 'connect' }]];
    case 'socket_open':
      if (state === 'disconnected') return [machine, []];
      // resubscribe on every new socket: the server forgets a client's subscription with it
      return [machine, [{ type: 'subscribe' }, { type: 'watch', ms: timing.staleAfterMs }]];
    case 'message':
      if (state === 'disconnected') return [machine, []];
      return [{ state: 'connected', attempt: 0 }, [{ type: 'watch', ms: timing.staleAfterMs }]];
    case 'silence':
      if (state === 'connected') {
        return [{ ...machine, state: 'stale' }, [{ type: 'watch', ms: timing.deadAfterMs }]];
      }
      if (state === 'stale' || state === 'connecting' || state === 'reconnecting') {
        return lost(machine, timing, true);
      }
      return [machine, []];
    case 'socket_closed':
      if (state === 'disconnected') return [machine, []];
      return lost(machine, timing, false);
    case 'retry':
      if (state !== 'reconnecting') return [machine, []];
      return [machine, [{ type: 'connect' }, { type: 'watch', ms: timing.deadAfterMs }]];
    case 'auth_failed':
    case 'close':
      if (state === 'disconnected') return [machine, []];
      return [{ state: 'disconnected', attempt: 0 }, [{ type: 'teardown' }]];
  }
}
