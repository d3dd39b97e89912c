"""The Bot API client against the fake Bot API on loopback: pacing, retries, give-up, errors."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator

import anyio
import pytest

from fakes.telegram_server import CHAT_ID, TOKEN, FakeTelegramServer
from grvtmm.alerts.telegram import BotApi, TelegramError, TelegramLimits
from grvtmm.core.clock import NS_PER_S

pytestmark = pytest.mark.anyio

FAST = TelegramLimits(min_interval_s=0.0, base_backoff_s=0.01, max_backoff_s=0.05, max_attempts=3)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def test_send_message_reaches_the_chat(server: FakeTelegramServer) -> None:
    api = BotApi(TOKEN, server.base_url, FAST)
    with anyio.fail_after(10):
        await api.send_message(CHAT_ID, "hello", silent=True)
    await api.aclose()
    [message] = server.messages
    assert (message.chat_id, message.text, message.silent) == (CHAT_ID, "hello", True)


async def test_messages_are_paced_per_interval(server: FakeTelegramServer) -> None:
    api = BotApi(TOKEN, server.base_url, TelegramLimits(min_interval_s=0.2))
    with anyio.fail_after(10):
        for i in range(3):
            await api.send_message(CHAT_ID, f"m{i}")
    await api.aclose()
    times = [m.received_ns for m in server.messages]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2
    assert all(gap >= 0.19 * NS_PER_S for gap in gaps)


async def test_groups_get_the_slower_group_pace(server: FakeTelegramServer) -> None:
    limits = TelegramLimits(min_interval_s=0.0, group_min_interval_s=0.6)
    api = BotApi(TOKEN, server.base_url, limits)
    with anyio.fail_after(10):
        await api.send_message(CHAT_ID, "private 1")
        await api.send_message(CHAT_ID, "private 2")
        await api.send_message("-100200300", "group 1")
        await api.send_message("-100200300", "group 2")
    await api.aclose()
    t = [m.received_ns for m in server.messages]
    assert t[3] - t[2] >= 0.59 * NS_PER_S
    assert t[1] - t[0] < 0.59 * NS_PER_S  # private chats keep their own (here: no) pace


async def test_429_waits_for_retry_after_before_the_next_attempt(
    server: FakeTelegramServer,
) -> None:
    server.fail_sends(429, retry_after=1)
    api = BotApi(TOKEN, server.base_url, FAST)
    with anyio.fail_after(10):
        await api.send_message(CHAT_ID, "after the limit")
    await api.aclose()
    first, second = server.send_attempts_ns
    assert second - first >= 0.99 * NS_PER_S  # FAST's own backoff would be 10 ms
    assert server.texts() == ["after the limit"]
    assert api.retries == 1


async def test_server_errors_are_retried_with_backoff(server: FakeTelegramServer) -> None:
    server.fail_sends(502, count=2)
    api = BotApi(TOKEN, server.base_url, FAST)
    with anyio.fail_after(10):
        await api.send_message(CHAT_ID, "third time lucky")
    await api.aclose()
    assert len(server.send_attempts_ns) == 3
    assert server.texts() == ["third time lucky"]


async def test_gives_up_after_the_attempt_bound(server: FakeTelegramServer) -> None:
    server.fail_sends(500, count=10)
    api = BotApi(TOKEN, server.base_url, FAST)
    with anyio.fail_after(10), pytest.raises(TelegramError) as caught:
        await api.send_message(CHAT_ID, "lost")
    await api.aclose()
    assert caught.value.status == 500
    assert len(server.send_attempts_ns) == FAST.max_attempts
    assert server.messages == []


async def test_permanent_errors_are_not_retried(server: FakeTelegramServer) -> None:
    api = BotApi(TOKEN, server.base_url, FAST)
    with anyio.fail_after(10), pytest.raises(TelegramError) as caught:
        await api.send_message(CHAT_ID, "   ")  # empty text: 400
    await api.aclose()
    assert caught.value.status == 400 and not caught.value.retryable
    assert len(server.send_attempts_ns) == 1


async def test_wrong_token_is_unauthorized_and_the_error_never_shows_a_token(
    server: FakeTelegramServer,
) -> None:
    other = "987654321:ZZZ-another_secret_value_987654321"
    api = BotApi(other, server.base_url, FAST)
    with anyio.fail_after(10), pytest.raises(TelegramError) as caught:
        await api.send_message(CHAT_ID, "x")
    await api.aclose()
    assert caught.value.status == 401
    assert server.unauthorized == 1
    for text in (str(caught.value), caught.value.describe(), repr(caught.value), repr(api)):
        assert other not in text and "another_secret" not in text


async def test_unreachable_api_is_a_retryable_error_without_the_token() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    api = BotApi(TOKEN, f"http://127.0.0.1:{port}", FAST)
    with anyio.fail_after(10), pytest.raises(TelegramError) as caught:
        await api.send_message(CHAT_ID, "x")
    await api.aclose()
    assert caught.value.status == 0 and caught.value.retryable
    assert caught.value.describe().startswith("cannot reach Telegram")
    assert TOKEN not in caught.value.describe()


def test_malformed_tokens_are_refused_without_repeating_them() -> None:
    for bad in ("", "not-a-token-but-secret-ish", "123:short", "123456:has/slash_and_more_chars_x"):
        with pytest.raises(ValueError) as caught:
            BotApi(bad, "http://127.0.0.1:9")
        assert bad == "" or bad not in str(caught.value)


async def test_get_updates_returns_new_messages_and_the_offset_confirms_them(
    server: FakeTelegramServer,
) -> None:
    api = BotApi(TOKEN, server.base_url, FAST)
    first = server.push_message(CHAT_ID, "/status")
    server.push_message(CHAT_ID, "/pnl")
    with anyio.fail_after(10):
        updates = await api.get_updates(None, 0)
        assert [u["message"]["text"] for u in updates] == ["/status", "/pnl"]
        assert await api.get_updates(first + 2, 0) == []
        latest = await api.get_updates(-1, 0)
    await api.aclose()
    assert latest == []
