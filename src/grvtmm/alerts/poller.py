"""Long polling of `getUpdates` for one chat's commands.

Updates waiting when polling starts are skipped unread (an old "/halt confirm" must never fire
after a restart). Messages from any other chat are ignored and logged without their content.
A 409 answer means a second consumer of the token (another process, or a webhook): it is
reported once (log + `conflict` flag) and polling backs off instead of fighting over updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from grvtmm.alerts.telegram import BotApi, TelegramConflict, TelegramError, TelegramLimits

log = logging.getLogger(__name__)


class UpdatePoller:
    """Feeds the configured chat's text messages to `on_text`; counts what it ignores."""

    def __init__(
        self,
        limits: TelegramLimits,
        chat_id: Callable[[], str],
        on_text: Callable[[str], Awaitable[None]],
    ) -> None:
        self.limits = limits
        self.chat_id = chat_id
        self.on_text = on_text
        self.conflict = False
        self.conflicts = 0
        self.messages = 0
        self.rejected = 0
        self.errors = 0
        self.last_error = ""

    async def run(self, api: BotApi) -> None:
        """Poll until cancelled."""
        limits = self.limits
        offset: int | None = -1  # first call: only the newest waiting update, which is dropped
        conflict_wait_s = limits.conflict_backoff_s
        failures = 0
        while True:
            try:
                updates = await api.get_updates(
                    offset, 0 if offset == -1 else limits.poll_timeout_s
                )
            except TelegramConflict as exc:
                self._on_conflict(exc)
                await asyncio.sleep(conflict_wait_s)
                conflict_wait_s = min(conflict_wait_s * 2, limits.max_conflict_backoff_s)
                continue
            except TelegramError as exc:
                failures += 1
                if failures == 1:  # once per outage; the recovery is silent
                    self.last_error = exc.describe()
                    log.warning("telegram.poll_failed", extra={"error": self.last_error})
                await asyncio.sleep(limits.backoff_s(failures))
                continue
            conflict_wait_s = limits.conflict_backoff_s
            failures = 0
            self._resolved()
            skipping = offset == -1
            offset = next_offset(updates, None if skipping else offset)
            if not skipping:
                for update in updates:
                    await self._dispatch(update)

    def _on_conflict(self, exc: TelegramConflict) -> None:
        self.conflicts += 1
        if not self.conflict:
            self.conflict = True
            log.warning(
                "telegram.poll_conflict",
                extra={
                    "detail": "another process polls this bot token (HTTP 409): commands may go "
                    "to it; polling backs off until it stops",
                    "answer": exc.description,
                },
            )

    def _resolved(self) -> None:
        if self.conflict:
            self.conflict = False
            log.info("telegram.poll_conflict_resolved")

    async def _dispatch(self, update: Mapping[str, Any]) -> None:
        message = update.get("message")
        if not isinstance(message, dict):
            return
        chat = message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if chat_id is None or str(chat_id) != self.chat_id():
            self.rejected += 1
            count = self.rejected
            if count & (count - 1) == 0:  # 1st, 2nd, 4th, 8th ...: a spammer cannot flood logs
                log.warning(
                    "telegram.foreign_chat_ignored", extra={"chat_id": chat_id, "count": count}
                )
            return
        body = message.get("text")
        if not isinstance(body, str):
            return
        self.messages += 1
        try:
            await self.on_text(body)
        except Exception:
            self.errors += 1
            log.exception("telegram.command_failed")


def next_offset(updates: list[dict[str, Any]], current: int | None) -> int | None:
    """The offset confirming every update in `updates` (`current` when there are none)."""
    ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
    return max(ids) + 1 if ids else current
