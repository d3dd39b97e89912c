from __future__ import annotations

import stat
from pathlib import Path

import pytest

from grvtmm.api.auth import LoginLimiter, PasswordError, PasswordFile, SessionStore
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
