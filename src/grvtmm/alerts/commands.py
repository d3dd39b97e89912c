"""Operator commands from the chat: /status, /pnl, /pause, /resume, /stop, /halt.

/stop and /halt change the engine irreversibly (everything is cancelled and the position
flattened), so they only ask first; the request is carried out when the operator answers
`/stop confirm` (`/halt confirm`) or replies `confirm` within the confirmation window.
/start (which Telegram sends when a chat opens the bot) and /help show the command list; the
engine itself is started from the dashboard or the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from grvtmm.alerts.templates import text
from grvtmm.core.clock import NS_PER_S

CONFIRM_WINDOW_NS = 60 * NS_PER_S
CONFIRM_WORDS = frozenset({"confirm", "yes", "确认", "是"})
READS = frozenset({"status", "pnl"})
"""Commands answered from the monitor summary."""
CONTROLS = frozenset({"pause", "resume", "stop", "halt"})
"""Commands that become an engine request."""
_GUARDED = frozenset({"stop", "halt"})


@dataclass(frozen=True, slots=True)
class Decision:
    """What a message asks for: an `action` (a read or a control), a fixed `reply`, or both."""

    action: str = ""
    reply: str = ""


class CommandDesk:
    """Parses one chat's messages and keeps its pending confirmation."""

    def __init__(self, confirm_window_ns: int = CONFIRM_WINDOW_NS) -> None:
        self.confirm_window_ns = confirm_window_ns
        self.pending: tuple[str, int] | None = None
        """(guarded action awaiting confirmation, deadline in ns)."""

    def handle(self, message: str, now_ns: int, language: str) -> Decision | None:
        """The decision for `message` received at `now_ns`; None for text that is no command."""
        words = message.strip().split()
        if not words:
            return None
        head = words[0].lower()
        arg = words[1].lower() if len(words) > 1 else ""
        if not head.startswith("/"):
            if head in CONFIRM_WORDS and len(words) == 1:
                return self._confirm(now_ns, language)
            return None
        command = head[1:].split("@", 1)[0]  # "/stop@MyBot" in group chats
        if command in READS or command in CONTROLS - _GUARDED:
            return Decision(action=command)
        if command in _GUARDED:
            if arg in CONFIRM_WORDS and self._pending_for(command, now_ns):
                self.pending = None
                return Decision(action=command)
            self.pending = (command, now_ns + self.confirm_window_ns)
            return Decision(reply=text(language, f"confirm_{command}", window_s=self._window_s))
        if command == "confirm":
            return self._confirm(now_ns, language)
        if command in ("help", "start"):
            return Decision(reply=text(language, "help"))
        return Decision(reply=text(language, "unknown", help=text(language, "help")))

    @property
    def _window_s(self) -> int:
        return self.confirm_window_ns // NS_PER_S

    def _pending_for(self, command: str | None, now_ns: int) -> bool:
        """A confirmation for `command` (None: any) is awaited and not yet expired."""
        pending = self.pending
        if pending is None or now_ns > pending[1]:
            return False
        return command is None or pending[0] == command

    def _confirm(self, now_ns: int, language: str) -> Decision:
        if not self._pending_for(None, now_ns):
            self.pending = None
            return Decision(reply=text(language, "nothing_to_confirm", window_s=self._window_s))
        assert self.pending is not None
        action = self.pending[0]
        self.pending = None
        return Decision(action=action)
