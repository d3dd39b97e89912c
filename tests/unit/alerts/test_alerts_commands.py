"""Chat commands: reads and controls, and the confirmation /stop and /halt require."""

from __future__ import annotations

import pytest

from grvtmm.alerts.commands import CommandDesk, Decision
from grvtmm.core.clock import NS_PER_S

T0 = 1_000 * NS_PER_S


def decide(desk: CommandDesk, message: str, t: int = T0, language: str = "en") -> Decision:
    decision = desk.handle(message, t, language)
    assert decision is not None
    return decision


@pytest.mark.parametrize("command", ["status", "pnl", "pause", "resume"])
def test_reads_and_reversible_controls_act_at_once(command: str) -> None:
    assert decide(CommandDesk(), f"/{command}").action == command
    assert decide(CommandDesk(), f"/{command.upper()}@GrvtMmBot").action == command


@pytest.mark.parametrize("command", ["stop", "halt"])
def test_stop_and_halt_ask_first_then_act_on_confirmation(command: str) -> None:
    desk = CommandDesk()
    ask = decide(desk, f"/{command}")
    assert ask.action == ""
    assert f"/{command} confirm" in ask.reply and "60 s" in ask.reply
    done = decide(desk, f"/{command} confirm", T0 + 59 * NS_PER_S)
    assert done.action == command
    again = decide(desk, f"/{command} confirm", T0 + 60 * NS_PER_S)
    assert again.action == ""  # the confirmation was used up: it asks again


def test_a_plain_reply_confirms_the_pending_request() -> None:
    desk = CommandDesk()
    decide(desk, "/halt")
    assert decide(desk, "确认", T0 + NS_PER_S).action == "halt"
    assert decide(desk, "confirm", T0 + 2 * NS_PER_S).action == ""  # nothing pending any more


def test_confirmation_expires_after_the_window() -> None:
    desk = CommandDesk()
    decide(desk, "/stop")
    late = decide(desk, "/stop confirm", T0 + 61 * NS_PER_S)
    assert late.action == "" and "confirm" in late.reply  # asked again, not executed
    assert decide(desk, "yes", T0 + 200 * NS_PER_S).action == ""


def test_confirming_a_different_command_does_not_act() -> None:
    desk = CommandDesk()
    decide(desk, "/stop")
    assert decide(desk, "/halt confirm", T0 + NS_PER_S).action == ""
    assert decide(desk, "/halt confirm", T0 + 2 * NS_PER_S).action == "halt"


def test_help_unknown_and_chatter() -> None:
    desk = CommandDesk()
    assert "/status" in decide(desk, "/start").reply  # Telegram's opening message: no engine start
    assert "/pnl" in decide(desk, "/help", language="zh").reply
    unknown = decide(desk, "/flatten")
    assert unknown.action == "" and "/halt" in unknown.reply
    assert desk.handle("hello there", T0, "en") is None
    assert desk.handle("   ", T0, "en") is None
    assert "/stop confirm" in decide(CommandDesk(), "/stop", language="zh").reply
