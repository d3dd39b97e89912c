/**
 * The `/ws/stream` driver: runs the effects of the connection machine with a real WebSocket and
 * timers, resubscribes on every (re)connect and hands frames and events to the dashboard.
 * Authentication rides on the session cookie sent with the upgrade request.
 */
import type { StreamFrame, StreamMessage } from '../api/types';
import { DEFAULT_TIMING, INITIAL, type ConnState, type Effect, type Input, type Machine, step, type Timing } from './machine';

export const SUBSCRIBED_TYPES = ['tick', 'event'] as const;

export interface StreamHandlers {
  onState(state: ConnState): void;
  onFrame(frame: StreamFrame, kind: 'snapshot' | 'tick'): void;
  onEvent(kind: string, data: Record<string, unknown>): void;
  /** The session is no longer valid (the server answered 401): show the login page. */
  onAuthLost(): void;
}

export interface StreamDeps {
  makeSocket(url: string): WebSocket;
  /** true when the session is still accepted (HTTP probe), false on 401 */
  sessionValid(): Promise<boolean>;
  timing?: Timing;
}

export function streamUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/stream`;
}

export class StreamClient {
  private machine: Machine = INITIAL;
  private socket: WebSocket | null = null;
  private watchTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly timing: Timing;

  constructor(
    private readonly url: string,
    private readonly handlers: StreamHandlers,
    private readonly deps: StreamDeps,
  ) {
    this.timing = deps.timing ?? DEFAULT_TIMING;
  }

  get state(): ConnState {
    return this.machine.state;
  }

  open(): void {
    this.dispatch({ type: 'open' });
  }

  close(): void {
    this.dispatch({ type: 'close' });
  }

  private dispatch(input: Input): void {
    const before = this.machine.state;
    const [next, effects] = step(this.machine, input, this.timing);
    this.machine = next;
    for (const effect of effects) this.run(effect);
    if (next.state !== before) this.handlers.onState(next.state);
  }

  private run(effect: Effect): void {
    switch (effect.type) {
      case 'connect':
        this.connect();
        break;
      case 'subscribe':
        this.socket?.send(JSON.stringify({ type: 'subscribe', types: SUBSCRIBED_TYPES }));
        break;
      case 'teardown':
        this.teardown();
        break;
      case 'watch':
        this.clearWatch();
        this.watchTimer = setTimeout(() => this.dispatch({ type: 'silence' }), effect.ms);
        break;
      case 'schedule_retry':
        this.clearWatch();
        if (this.retryTimer !== null) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.dispatch({ type: 'retry' });
        }, effect.ms);
        break;
      case 'check_auth':
        void this.checkAuth();
        break;
    }
  }

  private async checkAuth(): Promise<void> {
    let valid = true;
    try {
      valid = await this.deps.sessionValid();
    } catch {
      valid = true; // server unreachable: keep retrying, the session may still be good
    }
    if (!valid && this.machine.state !== 'disconnected') {
      this.dispatch({ type: 'auth_failed' });
      this.handlers.onAuthLost();
    }
  }

  private connect(): void {
    this.dropSocket();
    let socket: WebSocket;
    try {
      socket = this.deps.makeSocket(this.url);
    } catch {
      this.dispatch({ type: 'socket_closed' });
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.dispatch({ type: 'socket_open' });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket === socket) this.receive(event.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.dispatch({ type: 'socket_closed' });
    };
    // an error is always followed by close; the state machine handles it there
    socket.onerror = () => undefined;
  }

  private receive(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let message: StreamMessage;
    try {
      message = JSON.parse(raw) as StreamMessage;
    } catch {
      return;
    }
    this.dispatch({ type: 'message' });
    switch (message.type) {
      case 'snapshot':
      case 'tick':
        this.handlers.onFrame(message.data, message.type);
        break;
      case 'event':
        this.handlers.onEvent(message.kind, message.data);
        break;
      default:
        // hello, subscribed and resync carry no figures; a fresh snapshot follows a resync
        break;
    }
  }

  private clearWatch(): void {
    if (this.watchTimer !== null) clearTimeout(this.watchTimer);
    this.watchTimer = null;
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  private teardown(): void {
    this.clearWatch();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dropSocket();
  }
}
