import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamFrame } from '../src/api/types';
import { StreamClient, streamUrl } from '../src/stream/client';
import type { ConnState } from '../src/stream/machine';

class FakeSocket {
  sent: unknown[] = [];
  closed = false;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.closed = true;
  }
  // server side
  accept() {
    this.onopen?.();
  }
  push(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.onclose?.();
  }
}

const frame = { status: { mode: 'demo' }, summary: { fills: 3 } } as unknown as StreamFrame;

function harness(sessionValid: () => Promise<boolean> = async () => true) {
  const sockets: FakeSocket[] = [];
  const states: ConnState[] = [];
  const frames: string[] = [];
  const events: string[] = [];
  let authLost = 0;
  const client = new StreamClient(
    'ws://dash/ws/stream',
    {
      onState: (s) => states.push(s),
      onFrame: (_f, kind) => frames.push(kind),
      onEvent: (kind) => events.push(kind),
      onAuthLost: () => {
        authLost += 1;
      },
    },
    {
      makeSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket as unknown as WebSocket;
      },
      sessionValid,
    },
  );
  return { client, sockets, states, frames, events, authLost: () => authLost };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('stream client', () => {
  it('builds ws/wss URLs from the page location', () => {
    expect(streamUrl({ protocol: 'https:', host: 'mm.example:8443' })).toBe('wss://mm.example:8443/ws/stream');
    expect(streamUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/ws/stream');
  });

  it('subscribes, delivers frames and events, and is connected after hello', () => {
    const h = harness();
    h.client.open();
    const socket = h.sockets[0]!;
    socket.accept();
    expect(socket.sent).toEqual([{ type: 'subscribe', types: ['tick', 'event'] }]);
    socket.push({ type: 'hello', mode: 'demo' });
    socket.push({ type: 'snapshot', data: frame });
    socket.push({ type: 'tick', data: frame });
    socket.push({ type: 'event', kind: 'fill', data: {} });
    socket.push({ type: 'resync', reason: 'slow' });
    socket.push({ type: 'snapshot', data: frame });
    expect(h.states).toEqual(['connecting', 'connected']);
    expect(h.frames).toEqual(['snapshot', 'tick', 'snapshot']);
    expect(h.events).toEqual(['fill']);
  });

  it('reconnects after a drop with a new socket and subscribes again', async () => {
    const h = harness();
    h.client.open();
    h.sockets[0]!.accept();
    h.sockets[0]!.push({ type: 'hello' });
    h.sockets[0]!.drop();
    expect(h.states.at(-1)).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(499);
    expect(h.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets).toHaveLength(2);
    const second = h.sockets[1]!;
    second.accept();
    second.push({ type: 'hello' });
    expect(second.sent).toEqual([{ type: 'subscribe', types: ['tick', 'event'] }]);
    expect(h.states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    // events from the dead socket are ignored
    h.sockets[0]!.push({ type: 'event', kind: 'late', data: {} });
    expect(h.events).toEqual([]);
  });

  it('marks a silent stream stale, then replaces the socket', async () => {
    const h = harness();
    h.client.open();
    h.sockets[0]!.accept();
    h.sockets[0]!.push({ type: 'hello' });
    await vi.advanceTimersByTimeAsync(4_000);
    expect(h.states.at(-1)).toBe('stale');
    await vi.advanceTimersByTimeAsync(8_000);
    expect(h.states.at(-1)).toBe('reconnecting');
    expect(h.sockets[0]!.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(h.sockets).toHaveLength(2);
  });

  it('stops retrying and reports when the session is no longer valid', async () => {
    const h = harness(async () => false);
    h.client.open();
    h.sockets[0]!.drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.states.at(-1)).toBe('disconnected');
    expect(h.authLost()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
  });

  it('keeps retrying while the server is unreachable', async () => {
    const h = harness(async () => {
      throw new TypeError('network down');
    });
    h.client.open();
    for (let i = 0; i < 4; i += 1) {
      h.sockets.at(-1)!.drop();
      await vi.advanceTimersByTimeAsync(8_000);
    }
    expect(h.sockets.length).toBe(5);
    expect(h.states.at(-1)).toBe('reconnecting');
    expect(h.authLost()).toBe(0);
  });

  it('close() tears down and stays disconnected', async () => {
    const h = harness();
    h.client.open();
    h.client.close();
    expect(h.sockets[0]!.closed).toBe(true);
    expect(h.client.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
  });
});
