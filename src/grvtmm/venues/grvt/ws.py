"""GRVT `/ws/full` JSON-RPC stream client: subscriptions, sequence checks, reconnects.

Each subscription (stream + primary selector) is tracked separately. After a (re)subscribe,
feed frames are dropped until the exchange acknowledges it; the first frame after the ack is
the subscription's snapshot. Afterwards every frame must continue the sequence by one
(`prev_sequence_number` or `sequence_number − 1`); a repeated number is a duplicate and is
dropped; a jump or a decrease is a gap and the selector is re-subscribed (reference/grvt-api.md
§4.2). Sequence numbers are per connection, so a reconnect starts every subscription afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from grvtmm.core.clock import Clock
from grvtmm.venues.grvt.errors import VenueError, from_body
from grvtmm.venues.grvt.limits import RetryPolicy

log = logging.getLogger(__name__)
# The websockets library logs handshake headers (the session cookie among them) at DEBUG on
# the logger it is given; this one never emits DEBUG, whatever the root level is.
_protocol_log = logging.getLogger(f"{__name__}.protocol")
_protocol_log.setLevel(logging.INFO)

Key = tuple[str, str]
"""(stream, primary selector) — e.g. ("v1.book.d", "BNB_USDT_Perp")."""


class Verdict(enum.Enum):
    FIRST = "first"  # the subscription's first frame (a snapshot for book.d)
    NEXT = "next"
    DUPLICATE = "duplicate"
    GAP = "gap"
    STALE = "stale"  # frame of a subscription that is being replaced


# The members as module constants: `Verdict.NEXT` is a class attribute look-up through the enum
# metaclass (≈ 40 ns on CPython 3.11), and every received feed frame needs a few of them.
FIRST: Final = Verdict.FIRST
NEXT: Final = Verdict.NEXT
DUPLICATE: Final = Verdict.DUPLICATE
GAP: Final = Verdict.GAP
STALE: Final = Verdict.STALE


def primary(selector: str) -> str:
    """`BNB_USDT_Perp@100` → `BNB_USDT_Perp` (GRVT echoes only the primary part in feeds)."""
    return selector.split("@", 1)[0]


class SequenceTracker:
    """Per-subscription sequence continuity (pure; one instance per connection).

    GRVT numbers snapshots 0 and the deltas after them from the subscription's
    `first_sequence_number`; a snapshot may also carry a running number, and then the deltas
    simply continue from it.
    """

    __slots__ = ("_acked", "_first", "_last")

    def __init__(self) -> None:
        self._last: dict[Key, int | None] = {}
        self._acked: dict[Key, bool] = {}
        self._first: dict[Key, int | None] = {}

    def expect(self, key: Key) -> None:
        """A subscribe was sent: ignore frames until `acked`, then take the next as first."""
        self._last[key] = None
        self._acked[key] = False
        self._first[key] = None

    def acked(self, key: Key, first_sequence: int | None = None) -> None:
        """The subscribe was acknowledged; deltas after a 0 snapshot start at `first_sequence`."""
        self._acked[key] = True
        self._first[key] = first_sequence

    def check(self, key: Key, seq: int, prev: object = None) -> Verdict:
        """Judge frame `seq`; `prev` (the frame's prev_sequence_number, int or decimal string)
        is only read when `seq` does not simply follow."""
        if not self._acked.get(key, True):
            return STALE
        last = self._last.get(key)
        if last is None or seq == 0:
            self._last[key] = seq
            return FIRST
        if last == 0:
            first = self._first.get(key)
            if first is not None and seq != first:
                return STALE if seq < first else GAP
            self._last[key] = seq
            return NEXT
        if seq == last:
            return DUPLICATE
        if seq == last + 1 or (seq > last and _as_int(prev) == last):
            self._last[key] = seq
            return NEXT
        return GAP


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class _BadFrame(Exception):
    """A received frame could not be used: the connection is replaced."""


FrameHandler = Callable[[dict[str, Any], Verdict, int], None]
RawHandler = Callable[[str | bytes, int], bool]
StateHandler = Callable[[bool, str], None]
ErrorHandler = Callable[[Key, VenueError], None]
HeaderSource = Callable[[], Awaitable[dict[str, str]]]


@dataclass(slots=True)
class StreamStats:
    connects: int = 0
    disconnects: int = 0
    resubscribes: int = 0
    gaps: int = 0
    duplicates: int = 0
    stale: int = 0
    rpc_errors: int = 0
    bad_frames: int = 0
    frames: int = 0
    last_frame_ns: dict[Key, int] = field(default_factory=dict)


class JsonRpcStream:
    """One `/ws/full` connection that keeps its subscriptions alive across reconnects."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        clock: Clock,
        rng: random.Random,
        on_frame: FrameHandler,
        on_state: StateHandler,
        on_error: ErrorHandler | None = None,
        headers: HeaderSource | None = None,
        on_auth_failure: Callable[[], Awaitable[None]] | None = None,
        backoff: RetryPolicy | None = None,
        open_timeout_s: float = 10.0,
        ping_interval_s: float | None = 20.0,
        on_raw: RawHandler | None = None,
    ) -> None:
        """`on_raw` sees every received message first, with its receive time, and returns True
        when it has handled it (a feed that decodes some frames itself, faster, applying the
        sequence rules through `key_of` and `judge`); every other message is decoded and
        dispatched here, so malformed frames are counted and handled the same either way."""
        self.url = url
        self.name = name
        self._clock = clock
        self._rng = rng
        self._on_frame = on_frame
        self._on_raw = on_raw
        self._on_state = on_state
        self._on_error = on_error
        self._headers = headers
        self._on_auth_failure = on_auth_failure
        self._backoff = backoff or RetryPolicy(max_attempts=0, base_delay_s=0.1, max_delay_s=5.0)
        self._open_timeout_s = open_timeout_s
        self._ping_interval_s = ping_interval_s
        self._subs: dict[Key, str] = {}
        self._pending: dict[int, tuple[str, Key]] = {}
        self._ids = itertools.count(1)
        self._tracker = SequenceTracker()
        self._keys: dict[tuple[object, object], Key] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._ws: ClientConnection | None = None
        self.stats = StreamStats()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # ---- subscriptions --------------------------------------------------------------------
    async def subscribe(self, stream: str, selector: str) -> None:
        """Add a subscription (sent now if connected, and again after every reconnect)."""
        key = (stream, primary(selector))
        self._subs[key] = selector
        if self._ws is not None:
            await self._send_subscribe(self._ws, key)

    async def resubscribe(self, key: Key) -> None:
        """Drop and re-open one subscription so that it starts again from a snapshot."""
        ws = self._ws
        selector = self._subs.get(key)
        if ws is None or selector is None:
            return
        self._tracker.expect(key)
        await self._resend(key)

    async def _resend(self, key: Key) -> None:
        ws = self._ws
        selector = self._subs.get(key)
        if ws is None or selector is None:
            return
        self.stats.resubscribes += 1
        await self._send(ws, "unsubscribe", key, {"stream": key[0], "selectors": [selector]})
        await self._send(ws, "subscribe", key, {"stream": key[0], "selectors": [selector]})

    async def reconnect(self) -> None:
        """Close the connection; `run` opens a new one and re-subscribes everything."""
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _send_subscribe(self, ws: ClientConnection, key: Key) -> None:
        self._tracker.expect(key)
        await self._send(ws, "subscribe", key, {"stream": key[0], "selectors": [self._subs[key]]})

    async def _send(
        self, ws: ClientConnection, method: str, key: Key, params: dict[str, Any]
    ) -> None:
        request_id = next(self._ids)
        self._pending[request_id] = (method, key)
        frame = {"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}
        await ws.send(orjson.dumps(frame).decode())

    # ---- connection loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, subscribe and read until cancelled; reconnect with backoff on failures."""
        attempt = 0
        while True:
            try:
                headers = await self._headers() if self._headers is not None else {}
                async with websockets.connect(
                    self.url,
                    additional_headers=headers,
                    open_timeout=self._open_timeout_s,
                    ping_interval=self._ping_interval_s,
                    max_size=2**24,
                    logger=_protocol_log,
                ) as ws:
                    attempt = 0
                    await self._session(ws)
                detail = "closed by peer"
            except asyncio.CancelledError:
                raise
            except websockets.InvalidStatus as exc:
                detail = f"handshake refused: http {exc.response.status_code}"
                if exc.response.status_code in (401, 403) and self._on_auth_failure:
                    with contextlib.suppress(VenueError):
                        await self._on_auth_failure()
            except (OSError, websockets.WebSocketException, TimeoutError, VenueError) as exc:
                detail = f"{type(exc).__name__}"
            except _BadFrame as exc:
                detail = str(exc)
            except Exception:  # a bug must cost a reconnect, never the stream itself
                log.exception("grvt.ws.session_failed", extra={"stream": self.name})
                detail = "internal error"
            self._ws = None
            self.stats.disconnects += 1
            self._on_state(False, detail)
            attempt += 1
            await asyncio.sleep(self._backoff.delay_s(attempt, self._rng))

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._tracker = SequenceTracker()
        self._pending.clear()
        self.stats.connects += 1
        self._on_state(True, "connected")
        for key in list(self._subs):
            await self._send_subscribe(ws, key)
        async for raw in ws:
            try:
                self._receive(raw)
            except orjson.JSONDecodeError:
                # not JSON (a proxy's error page, a truncated frame): whatever it carried is
                # lost, so start every subscription again from a fresh connection
                self.stats.bad_frames += 1
                log.warning("grvt.ws.bad_frame", extra={"stream": self.name, "size": len(raw)})
                raise _BadFrame("unreadable frame") from None
            except Exception:
                self.stats.bad_frames += 1
                log.exception("grvt.ws.frame_failed", extra={"stream": self.name})
                raise _BadFrame("frame handling failed") from None

    # ---- frames -------------------------------------------------------------------------------
    def _receive(self, raw: str | bytes) -> None:
        """One received message, stamped with its receive time."""
        now = self._clock.now_ns()
        on_raw = self._on_raw
        if on_raw is not None and on_raw(raw, now):
            return
        self._dispatch(orjson.loads(raw), now)

    def _dispatch(self, msg: Any, now: int) -> None:
        if not isinstance(msg, dict):
            return
        if "feed" in msg:
            self._feed(msg, now)
        elif "id" in msg and ("result" in msg or "error" in msg):
            self._rpc_answer(msg)

    def _feed(self, msg: dict[str, Any], now: int) -> None:
        names = (msg.get("stream"), msg.get("selector"))
        key = self.key_of(names[0], names[1])
        try:
            seq = int(msg.get("sequence_number") or 0)
        except (TypeError, ValueError):
            seq = 0
        verdict = self.judge(key, seq, msg.get("prev_sequence_number"), now)
        if verdict is not STALE and verdict is not DUPLICATE:
            self._on_frame(msg, verdict, now)

    def key_of(self, stream: object, selector: object) -> Key:
        """The subscription key of a frame's `stream` and `selector` fields (cached)."""
        names = (stream, selector)
        key = self._keys.get(names)
        if key is None:
            key = self._keys[names] = (str(stream or ""), primary(str(selector or "")))
        return key

    def judge(self, key: Key, seq: int, prev: object, now: int) -> Verdict:
        """Sequence verdict for one feed frame, with its bookkeeping: statistics, and on a gap
        dropping the subscription's frames until it has been subscribed again."""
        stats = self.stats
        stats.frames += 1
        verdict = self._tracker.check(key, seq, prev)
        if verdict is STALE:
            stats.stale += 1
            return verdict
        stats.last_frame_ns[key] = now
        if verdict is DUPLICATE:
            stats.duplicates += 1
        elif verdict is GAP:
            stats.gaps += 1
            log.warning("grvt.ws.gap", extra={"stream": key[0], "selector": key[1], "seq": seq})
            self.restart(key)
        return verdict

    def restart(self, key: Key) -> None:
        """Drop the subscription's frames from now on and subscribe it again (in the
        background), so that it starts over from a snapshot."""
        self._tracker.expect(key)
        task = asyncio.get_running_loop().create_task(self._resend(key))
        self._background.add(task)  # held until done: the loop keeps only weak refs
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    def _rpc_answer(self, msg: dict[str, Any]) -> None:
        pending = self._pending.pop(msg["id"], None) if isinstance(msg["id"], int) else None
        err = from_body(msg)
        if pending is None:
            return
        method, key = pending
        if err is not None:
            self.stats.rpc_errors += 1
            log.warning("grvt.ws.rpc_error", extra={"method": method, "reason": err.reason})
            if self._on_error is not None:
                self._on_error(key, err)
            return
        if method == "subscribe":
            self._tracker.acked(key, _first_sequence(msg.get("result")))


def _first_sequence(result: object) -> int | None:
    """The (single) `first_sequence_number` of a subscribe result, if it names one."""
    if not isinstance(result, dict):
        return None
    firsts = result.get("first_sequence_number")
    if isinstance(firsts, list) and len(firsts) == 1:
        try:
            return int(firsts[0])
        except (TypeError, ValueError):
            return None
    return None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("grvt.ws.resubscribe_failed", extra={"error": repr(task.exception())})
