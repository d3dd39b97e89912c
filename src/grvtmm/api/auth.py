"""Operator authentication: one argon2-hashed password, session tokens for the browser (HttpOnly
SameSite=Strict cookie) and scripts (bearer), login rate limiting, and a CSRF header on
cookie-authenticated state changes. Tokens never appear in URLs or logs."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from grvtmm.core.clock import NS_PER_S, Clock, token_hex

COOKIE_NAME = "grvtmm_session"
CSRF_HEADER = "x-grvtmm-csrf"
CSRF_VALUE = "1"
MIN_PASSWORD_LENGTH = 8

log = logging.getLogger(__name__)


class PasswordError(ValueError):
    """The password cannot be set (too short, or the hash file is unsafe)."""


class PasswordFile:
    """The operator password's argon2 hash in `<data_dir>/admin_password.argon2` (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = PasswordHasher()

    @property
    def is_set(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def set(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise PasswordError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        digest = self._hasher.hash(password)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(digest)
        os.replace(tmp, self.path)

    def verify(self, password: str) -> bool:
        if not self.is_set:
            return False
        mode = self.path.stat().st_mode
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PasswordError(f"{self.path} is writable by others; fix its permissions (0600)")
        try:
            return self._hasher.verify(self.path.read_text().strip(), password)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(slots=True)
class _Session:
    expires_ns: int


class SessionStore:
    """Opaque session tokens kept only as SHA-256 digests, with sliding expiry."""

    def __init__(self, clock: Clock, ttl_s: int = 12 * 3600) -> None:
        self.clock = clock
        self.ttl_ns = ttl_s * NS_PER_S
        self._sessions: dict[str, _Session] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self) -> str:
        token = token_hex(32)
        self._sessions[self._key(token)] = _Session(self.clock.now_ns() + self.ttl_ns)
        return token

    def check(self, token: str) -> bool:
        key = self._key(token)
        session = self._sessions.get(key)
        now = self.clock.now_ns()
        if session is None:
            return False
        if session.expires_ns <= now:
            del self._sessions[key]
            return False
        session.expires_ns = now + self.ttl_ns
        return True

    def revoke(self, token: str) -> None:
        self._sessions.pop(self._key(token), None)

    def revoke_all(self) -> None:
        self._sessions.clear()


class LoginLimiter:
    """At most `attempts` failed logins per client within `window_s`; then refuse until older
    failures age out (slows brute force; a correct password still has to wait).

    A client is its IPv4 address or its IPv6 /64 network (one host can use a whole /64, so
    rotating addresses inside it gains no attempts). Failures and lockouts are logged with the
    client, never with the password tried."""

    def __init__(self, clock: Clock, attempts: int = 5, window_s: int = 60) -> None:
        self.clock = clock
        self.attempts = attempts
        self.window_ns = window_s * NS_PER_S
        self._failures: dict[str, deque[int]] = {}

    @staticmethod
    def client_key(client: str) -> str:
        """The key failures are counted under: an IPv4 address, an IPv6 /64, or `client`."""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return client
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def retry_after_s(self, client: str) -> int:
        """Seconds until `client` may try again (0 = now)."""
        window = self._failures.get(self.client_key(client))
        if window is None:
            return 0
        self._expire(window)
        if len(window) < self.attempts:
            return 0
        return max(1, int((window[0] + self.window_ns - self.clock.now_ns()) / NS_PER_S) + 1)

    def failed(self, client: str) -> None:
        key = self.client_key(client)
        window = self._failures.setdefault(key, deque())
        self._expire(window)
        window.append(self.clock.now_ns())
        if len(window) >= self.attempts:
            log.warning("auth.login_locked", extra={"client": key, "failures": len(window)})
        else:
            log.info("auth.login_failed", extra={"client": key, "failures": len(window)})
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(self.client_key(client), None)

    def _expire(self, window: deque[int]) -> None:
        cutoff = self.clock.now_ns() - self.window_ns
        while window and window[0] <= cutoff:
            window.popleft()
