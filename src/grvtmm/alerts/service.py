"""`TelegramAlerts`: the node's alert sink and the operator's Telegram remote control.

`publish` runs `AlertRules` on each item (O(1), no I/O) and puts the resulting alert in a bounded
outbox; the service's own tasks deliver it (paced, bursts coalesced into one message, retried),
poll the chat for commands and send the heartbeat. A slow or failing Telegram therefore never
delays the engine: at worst alerts wait, and beyond `capacity` the oldest non-critical ones are
dropped and counted.

Commands are taken from the configured chat only; anything else is ignored and logged without
its content. Updates that were waiting before the service started are skipped unread, so an old
"/halt confirm" can never fire after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from grvtmm.alerts.commands import CONFIRM_WINDOW_NS, CONTROLS, READS, CommandDesk
from grvtmm.alerts.heartbeat import Heartbeat, pnl_rows, status_rows
from grvtmm.alerts.notifier import Alert, AlertRules, AlertSettings, Level
from grvtmm.alerts.poller import UpdatePoller
from grvtmm.alerts.telegram import (
    DEFAULT_API_BASE_URL,
    BotApi,
    TelegramError,
    TelegramLimits,
    check_token,
)
from grvtmm.alerts.templates import TITLES, render_batch, render_card, text
from grvtmm.core import events as ev
from grvtmm.core.clock import Clock
from grvtmm.core.sinks import Published
from grvtmm.core.types import Instrument

log = logging.getLogger(__name__)

_REQUESTS: dict[str, Callable[..., ev.Event]] = {
    "pause": ev.PauseRequested,
    "resume": ev.ResumeRequested,
    "stop": ev.StopRequested,
    "halt": ev.HaltRequested,
}
_BATCH_MAX = 64
"""Alerts considered for one coalesced message (the text limit usually binds first)."""


class Control(Protocol):
    """Where operator requests go (the node)."""

    async def submit(self, event: ev.Event) -> None: ...


SummaryFn = Callable[[], Mapping[str, Any]]


class TelegramAlerts:
    """Sink + `Notifier` delivering alerts to one Telegram chat and taking its commands."""

    name = "telegram"

    def __init__(
        self,
        instrument: Instrument,
        clock: Clock,
        *,
        control: Control,
        summary: SummaryFn,
        settings: AlertSettings | None = None,
        token: str | None = None,
        api_base_url: str = DEFAULT_API_BASE_URL,
        limits: TelegramLimits | None = None,
        capacity: int = 256,
        confirm_window_ns: int = CONFIRM_WINDOW_NS,
    ) -> None:
        self.instrument = instrument
        self.clock = clock
        self.control = control
        self.summary = summary
        self.api_base_url = api_base_url
        self.limits = limits or TelegramLimits()
        self.capacity = capacity
        self.rules = AlertRules(instrument, settings or AlertSettings())
        self.desk = CommandDesk(confirm_window_ns)
        self.heartbeat = Heartbeat()
        self.sent_messages = 0
        self.sent_alerts = 0
        self.dropped_full = 0
        self.dropped_failed = 0
        self.failed_messages = 0
        self.poller = UpdatePoller(self.limits, lambda: self.rules.settings.chat_id, self._execute)
        self.errors = 0
        self.last_error = ""
        self.token_problem = "bot token not set"
        self._alerts: deque[Alert] = deque()
        self._replies: deque[str] = deque(maxlen=32)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._reconfigured = asyncio.Event()
        self._api: BotApi | None = None
        self._token_digest = ""
        self._stale: list[BotApi] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._set_token(token)

    def __repr__(self) -> str:
        return f"TelegramAlerts(configured={self.enabled}, base_url={self.api_base_url!r})"

    # ---- configuration ----------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """A well-formed token and a chat id are set."""
        return self._api is not None and bool(self.rules.settings.chat_id)

    @property
    def problem(self) -> str:
        """Why nothing can be sent, or ""."""
        if self._api is None:
            return self.token_problem
        return "" if self.rules.settings.chat_id else "chat id not set"

    def _set_token(self, token: str | None) -> bool:
        """Use `token`; True when it differs from the current one."""
        token = (token or "").strip()
        digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
        if digest == self._token_digest:
            return False
        self._token_digest = digest
        if self._api is not None:
            self._stale.append(self._api)
        self._api = None
        self.token_problem = check_token(token) or ""
        if not self.token_problem:
            self._api = BotApi(token, self.api_base_url, self.limits)
        return True

    def configure(self, settings: AlertSettings, token: str | None) -> None:
        """Apply new settings and token (the operator changed them); restarts polling if the
        chat or the token changed."""
        old_chat = self.rules.settings.chat_id
        self.rules.settings = settings
        changed = self._set_token(token) or settings.chat_id != old_chat
        self._reconfigured.set()
        if not self.enabled:
            self._alerts.clear()
            self._replies.clear()
        if changed and self._loop is not None:
            self._restart_poller()
            self._close_stale()

    # ---- Sink / Notifier ----------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Alerts lost: outbox full, or their message given up after the retry bound."""
        return self.dropped_full + self.dropped_failed

    def publish(self, item: Published) -> None:
        """Classify one event, notice or command; queue the alert it calls for (never blocks)."""
        try:
            alert = self.rules.classify(item)
        except Exception:
            self.errors += 1
            log.exception("telegram.rules_failed", extra={"item": type(item).__name__})
            return
        if alert is not None:
            self.notify(alert)

    def notify(self, alert: Alert) -> None:
        """Queue `alert`; when full, the oldest non-critical alert makes room."""
        if not self.enabled:
            return
        alerts = self._alerts
        if len(alerts) >= self.capacity:
            self.dropped_full += 1
            victim = next((a for a in alerts if a.level is not Level.CRITICAL), None)
            if victim is not None:
                alerts.remove(victim)
            elif alert.level is not Level.CRITICAL:
                return
            else:
                alerts.popleft()
        alerts.append(alert)
        self._idle.clear()
        self._wake.set()

    def store_failure(self, detail: str) -> None:
        """Hook for the store writer's failure callback; callable from any thread."""
        loop = self._loop
        if loop is not None and not _running_on(loop):
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
                loop.call_soon_threadsafe(self._store_failure, detail)
            return
        self._store_failure(detail)

    def _store_failure(self, detail: str) -> None:
        alert = self.rules.store_failure(detail, self.clock.now_ns())
        if alert is not None:
            self.notify(alert)

    def send_heartbeat(self) -> None:
        """Queue the heartbeat summary now (the heartbeat task calls this every interval)."""
        if self.enabled:
            alert = self.heartbeat.build(self._summary(), self.rules, self.clock.now_ns())
            if alert is not None:
                self.notify(alert)

    def status(self) -> dict[str, Any]:
        """Delivery counters and state for the API status and the dashboard."""
        api = self._api
        return {
            "configured": self.enabled,
            "problem": self.problem,
            "queued": len(self._alerts),
            "sent_messages": self.sent_messages,
            "sent_alerts": self.sent_alerts,
            "dropped": self.dropped,
            "failed_messages": self.failed_messages,
            "retries": api.retries if api is not None else 0,
            "suppressed_repeats": self.rules.suppressed,
            "poll_conflict": self.poller.conflict,
            "poll_conflicts": self.poller.conflicts,
            "commands": self.poller.messages,
            "rejected_commands": self.poller.rejected,
            "last_error": self.last_error,
            "poll_error": self.poller.last_error,
        }

    async def send_test(self) -> str | None:
        """Send the test message now; None when Telegram took it, otherwise why not."""
        api, chat = self._api, self.rules.settings.chat_id
        if api is None or not chat:
            return self.problem
        lang = self.rules.settings.language
        head = f"✅ {TITLES[lang]['test']}"
        now = self.clock.now_ns()
        body = render_card(lang, head, self.instrument.symbol, self.rules.mode, now, [])
        body = f"{body}\n{text(lang, 'test')}"
        try:
            async with asyncio.timeout(self.limits.test_timeout_s):
                await api.send_message(chat, body, max_attempts=2)
        except TelegramError as exc:
            return exc.describe()
        except TimeoutError:
            return f"no answer from Telegram within {self.limits.test_timeout_s:g} s"
        return None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start delivery, the heartbeat and (when configured) command polling on this loop."""
        self._loop = asyncio.get_running_loop()
        self._spawn("send", self._send_loop())
        self._spawn("heartbeat", self._heartbeat_loop())
        self._restart_poller()
        self._close_stale()

    async def close(self, flush_timeout_s: float = 5.0) -> None:
        """Stop taking commands, deliver what is queued (bounded), then stop every task."""
        poll = self._tasks.pop("poll", None)
        if poll is not None:
            poll.cancel()
        if self.enabled and "send" in self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout_s):
                    await self._idle.wait()
        tasks = list(self._tasks.values())
        if poll is not None:
            tasks.append(poll)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._api is not None:
            self._stale.append(self._api)
            self._api = None
            self._token_digest = ""
            self.token_problem = "alerts stopped"
        for api in self._stale:
            await api.aclose()
        self._stale.clear()
        if self._closing:
            await asyncio.wait(self._closing)

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        old = self._tasks.get(name)
        if old is not None and not old.done():
            work.close()
            return
        self._tasks[name] = asyncio.get_running_loop().create_task(work, name=f"telegram.{name}")

    def _restart_poller(self) -> None:
        old = self._tasks.pop("poll", None)
        if old is not None:
            old.cancel()
        if self.enabled and self._api is not None:
            self._spawn("poll", self.poller.run(self._api))

    def _close_stale(self) -> None:
        stale, self._stale = self._stale, []
        for api in stale:
            task = asyncio.get_running_loop().create_task(api.aclose(), name="telegram.aclose")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # ---- delivery -----------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            api, chat = self._api, self.rules.settings.chat_id
            if api is None or not chat or not (self._alerts or self._replies):
                self._wake.clear()
                self._idle.set()
                await self._wake.wait()
                continue
            await api.wait_turn()  # alerts arriving meanwhile join this message
            body, silent, count = self._next_message()
            try:
                await api.send_message(chat, body, silent=silent)
            except TelegramError as exc:
                self.failed_messages += 1
                self.dropped_failed += count
                self._note_error("telegram.send_failed", exc)
            except Exception:
                self.errors += 1
                self.dropped_failed += count
                log.exception("telegram.send_crashed")
            else:
                self.sent_messages += 1
                self.sent_alerts += count

    def _next_message(self) -> tuple[str, bool, int]:
        """(text, silent, alerts in it): a pending reply alone, else the queued alerts merged."""
        if self._replies:
            return self._replies.popleft(), False, 0
        batch = list(itertools.islice(self._alerts, _BATCH_MAX))
        body, used = render_batch(batch, self.rules.settings.language)
        for _ in range(used):
            self._alerts.popleft()
        return body, all(a.silent for a in batch[:used]), used

    async def _heartbeat_loop(self) -> None:
        while True:
            self._reconfigured.clear()
            interval_s = self.rules.settings.heartbeat_s
            if interval_s <= 0:
                await self._reconfigured.wait()
                continue
            try:
                async with asyncio.timeout(interval_s):
                    await self._reconfigured.wait()  # a new interval starts a new period
            except TimeoutError:
                self.send_heartbeat()

    def _note_error(self, event: str, exc: TelegramError) -> None:
        self.last_error = exc.describe()
        log.warning(event, extra={"error": self.last_error})

    def _summary(self) -> Mapping[str, Any]:
        try:
            return self.summary()
        except Exception:
            self.errors += 1
            log.exception("telegram.summary_failed")
            return {}

    # ---- commands -----------------------------------------------------------------------------
    async def _execute(self, message: str) -> None:
        lang = self.rules.settings.language
        now = self.clock.now_ns()
        decision = self.desk.handle(message, now, lang)
        if decision is None:
            return
        action = decision.action
        reply = decision.reply
        if action in READS:
            reply = self._read(action, now)
        elif action in CONTROLS:
            await self.control.submit(_REQUESTS[action](ts_ns=now, local_ns=now, reason="telegram"))
            log.info("telegram.command", extra={"action": action})
            reply = text(lang, f"requested_{action}")
        if reply and self.enabled:
            self._replies.append(reply)
            self._idle.clear()
            self._wake.set()

    def _read(self, action: str, now_ns: int) -> str:
        lang = self.rules.settings.language
        summary = self._summary()
        rows = status_rows(summary) if action == "status" else pnl_rows(summary)
        mode = str(summary.get("mode") or self.rules.mode)
        head = f"📊 {TITLES[lang][action]}"
        return render_card(lang, head, self.instrument.symbol, mode, now_ns, rows)


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
