from __future__ import annotations

import hashlib
import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from grvtmm.api.auth import (
    LoginLimiter,
    PasswordError,
    PasswordFile,
    SessionStore,
    end_sessions,
    password_fingerprint,
    sessions_path,
)
from grvtmm.core.clock import NS_PER_S, SimClock


def test_password_is_stored_as_argon2_hash_with_private_mode(tmp_path: Path) -> None:
    pw = PasswordFile(tmp_path / "admin_password.argon2")
    assert not pw.is_set and not pw.verify("anything-long")
    pw.set("correct horse battery")
    text = pw.path.read_text()
    assert text.startswith("$argon2") and "correct horse" not in text
    assert stat.S_IMODE(pw.path.stat().st_mode) == 0o600
    assert pw.verify("correct horse battery")
    assert not pw.verify("correct horse batterY")


def test_short_password_refused(tmp_path: Path) -> None:
    with pytest.raises(PasswordError, match="at least"):
        PasswordFile(tmp_path / "p").set("short")


def test_world_writable_hash_file_is_refused(tmp_path: Path) -> None:
    pw = PasswordFile(tmp_path / "p")
    pw.set("long enough password")
    pw.path.chmod(0o666)
    with pytest.raises(PasswordError, match="permissions"):
        pw.verify("long enough password")


def test_sessions_expire_slide_and_revoke() -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, ttl_s=60)
    token = sessions.issue()
    assert len(token) == 64 and sessions.check(token)
    clock.advance(59 * NS_PER_S)
    assert sessions.check(token)  # use slides the expiry
    clock.advance(59 * NS_PER_S)
    assert sessions.check(token)
    clock.advance(61 * NS_PER_S)
    assert not sessions.check(token)
    other = sessions.issue()
    sessions.revoke(other)
    assert not sessions.check(other)
    assert not sessions.check("forged")


def test_login_limiter_slows_brute_force_and_recovers() -> None:
    clock = SimClock(0)
    limiter = LoginLimiter(clock, attempts=3, window_s=60)
    for _ in range(3):
        assert limiter.retry_after_s("1.2.3.4") == 0
        limiter.failed("1.2.3.4")
    wait = limiter.retry_after_s("1.2.3.4")
    assert 1 <= wait <= 61
    assert limiter.retry_after_s("5.6.7.8") == 0  # other clients unaffected
    clock.advance(61 * NS_PER_S)
    assert limiter.retry_after_s("1.2.3.4") == 0


S = NS_PER_S


@pytest.fixture
def passwords(tmp_path: Path) -> PasswordFile:
    pw = PasswordFile(tmp_path / "admin_password.argon2")
    pw.set("operator password one")
    return pw


def stored(passwords: PasswordFile) -> list[dict[str, Any]]:
    data = json.loads(sessions_path(passwords).read_text())
    records: list[dict[str, Any]] = data["sessions"]
    return records


def test_sessions_survive_a_restart_stored_only_as_digests_with_private_mode(
    passwords: PasswordFile,
) -> None:
    clock = SimClock(1_000 * S)
    token = SessionStore(clock, passwords=passwords).issue()
    path = sessions_path(passwords)
    assert path.parent == passwords.path.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert token not in text
    [record] = stored(passwords)
    assert record["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert record["created_ns"] == record["last_seen_ns"] == 1_000 * S
    assert record["expires_ns"] > record["created_ns"]
    assert record["password_fingerprint"] == password_fingerprint(passwords.path.read_text())
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []

    restarted = SessionStore(clock, passwords=passwords)
    assert restarted.check(token)
    assert not restarted.check("forged")


def test_idle_expiry_across_restarts_counts_the_persisted_last_use(
    passwords: PasswordFile,
) -> None:
    clock = SimClock(0)
    first = SessionStore(clock, ttl_s=60, passwords=passwords)
    token = first.issue()
    clock.advance(30 * S)
    assert first.check(token)  # last use at 30 s is written (more than ttl/10 after login)
    clock.advance(55 * S)
    assert SessionStore(clock, ttl_s=60, passwords=passwords).check(token)  # 85 s: idle since 30 s
    clock.advance(61 * S)
    later = SessionStore(clock, ttl_s=60, passwords=passwords)
    assert not later.check(token)
    assert stored(passwords) == []  # expired sessions are pruned from the file


def test_absolute_expiry_ends_even_a_busy_session(passwords: PasswordFile) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, ttl_s=60, max_age_s=100, passwords=passwords)
    token = sessions.issue()
    for _ in range(3):
        clock.advance(30 * S)
        assert sessions.check(token)
    clock.advance(10 * S)
    assert not sessions.check(token)
    assert not SessionStore(clock, ttl_s=60, max_age_s=100, passwords=passwords).check(token)


def test_session_count_is_bounded_least_recently_used_goes_first(
    passwords: PasswordFile,
) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, max_sessions=3, passwords=passwords)
    tokens = []
    for _ in range(3):
        tokens.append(sessions.issue())
        clock.advance(S)
    assert sessions.check(tokens[0])  # now the most recently used
    fourth = sessions.issue()
    assert [sessions.check(t) for t in tokens] == [True, False, True]
    assert sessions.check(fourth)
    assert len(stored(passwords)) == 3


def test_expired_sessions_are_pruned_when_the_file_is_written(passwords: PasswordFile) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, ttl_s=60, passwords=passwords)
    old = sessions.issue()
    clock.advance(61 * S)
    new = sessions.issue()
    assert [r["token_sha256"] for r in stored(passwords)] == [SessionStore._key(new)]
    assert not sessions.check(old)


def test_logout_is_persisted(passwords: PasswordFile) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, passwords=passwords)
    kept, gone = sessions.issue(), sessions.issue()
    sessions.revoke(gone)
    restarted = SessionStore(clock, passwords=passwords)
    assert restarted.check(kept) and not restarted.check(gone)
    restarted.revoke_all()
    assert not SessionStore(clock, passwords=passwords).check(kept)


def test_password_change_by_another_process_ends_sessions_of_a_running_store(
    passwords: PasswordFile,
) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, passwords=passwords)
    a, b = sessions.issue(), sessions.issue()
    assert sessions.check(a)
    PasswordFile(passwords.path).set("operator password two")  # e.g. `grvt-mm set-password`
    assert not sessions.check(a)
    assert not sessions.check(b)
    assert stored(passwords) == []
    fresh = sessions.issue()
    assert sessions.check(fresh)


def test_password_changed_while_stopped_ends_sessions_at_next_start(
    passwords: PasswordFile,
) -> None:
    clock = SimClock(0)
    token = SessionStore(clock, passwords=passwords).issue()
    PasswordFile(passwords.path).set("operator password two")
    assert len(stored(passwords)) == 1
    restarted = SessionStore(clock, passwords=passwords)
    assert len(restarted) == 0 and stored(passwords) == []
    assert not restarted.check(token)


def test_end_sessions_removes_the_file(passwords: PasswordFile) -> None:
    clock = SimClock(0)
    sessions = SessionStore(clock, passwords=passwords)
    token = sessions.issue()
    sessions.issue()
    assert end_sessions(passwords) == 2
    assert not sessions_path(passwords).exists()
    assert end_sessions(passwords) == 0
    assert not SessionStore(clock, passwords=passwords).check(token)


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"version": 99, "sessions": []}',
        b'{"version": 1, "sessions": {"a": 1}}',
    ],
)
def test_corrupt_sessions_file_starts_empty_with_a_warning(
    passwords: PasswordFile, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    sessions_path(passwords).write_bytes(content)
    sessions_path(passwords).chmod(0o600)
    clock = SimClock(0)
    with caplog.at_level(logging.WARNING, logger="grvtmm.api.auth"):
        sessions = SessionStore(clock, passwords=passwords)
    assert len(sessions) == 0
    assert [r.message for r in caplog.records] == ["auth.sessions_file_unreadable"]
    token = sessions.issue()  # and the file is usable again
    assert SessionStore(clock, passwords=passwords).check(token)


def test_malformed_entries_are_skipped_and_the_rest_kept(
    passwords: PasswordFile, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimClock(0)
    token = SessionStore(clock, passwords=passwords).issue()
    data = json.loads(sessions_path(passwords).read_text())
    good = data["sessions"][0]
    data["sessions"] += [
        {**good, "token_sha256": "short"},
        {**good, "token_sha256": "Z" * 64},
        {**good, "created_ns": "0"},
        {**good, "expires_ns": True},
        {k: v for k, v in good.items() if k != "password_fingerprint"},
        "not a record",
    ]
    sessions_path(passwords).write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="grvtmm.api.auth"):
        restarted = SessionStore(clock, passwords=passwords)
    assert len(restarted) == 1 and restarted.check(token)
    assert [r.message for r in caplog.records] == ["auth.sessions_file_entries_skipped"]
    assert len(stored(passwords)) == 1  # rewritten without them


def test_sessions_file_writable_by_others_is_ignored(
    passwords: PasswordFile, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimClock(0)
    token = SessionStore(clock, passwords=passwords).issue()
    sessions_path(passwords).chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="grvtmm.api.auth"):
        restarted = SessionStore(clock, passwords=passwords)
    assert not restarted.check(token)
    assert [r.message for r in caplog.records] == ["auth.sessions_file_unsafe"]
    restarted.issue()
    assert stat.S_IMODE(sessions_path(passwords).stat().st_mode) == 0o600


def test_a_failed_write_keeps_serving_from_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data dir should be")
    clock = SimClock(0)
    with caplog.at_level(logging.WARNING, logger="grvtmm.api.auth"):
        sessions = SessionStore(clock, path=blocked / "operator_sessions.json")
        token = sessions.issue()
    assert sessions.check(token)
    assert "auth.sessions_not_saved" in [r.message for r in caplog.records]
