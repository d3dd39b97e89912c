"""Operator authentication: one argon2-hashed password, session tokens for the browser (HttpOnly
SameSite=Strict cookie) and scripts (bearer), login rate limiting, and a CSRF header on
cookie-authenticated state changes. Tokens never appear in URLs or logs, and on disk only as
SHA-256 digests: sessions survive a restart and end when the password changes."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import stat
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


SESSIONS_FILE_NAME = "operator_sessions.json"
SESSIONS_FILE_VERSION = 1


def password_fingerprint(argon2_hash: str) -> str:
    """SHA-256 of a stored argon2 hash: it changes whenever the password is set again (every
    hash has a fresh salt) and reveals nothing the hash itself does not."""
    return hashlib.sha256(argon2_hash.strip().encode()).hexdigest()


def sessions_path(passwords: PasswordFile) -> Path:
    """Where the sessions of the operator whose password hash is `passwords` are kept."""
    return passwords.path.with_name(SESSIONS_FILE_NAME)


def end_sessions(passwords: PasswordFile) -> int:
    """End every stored session of `passwords`' operator (after a password change) and return
    how many were stored. A server running meanwhile refuses them too: their password
    fingerprint no longer matches the hash on disk."""
    path = sessions_path(passwords)
    try:
        count = len(_read_records(path))
    except (OSError, ValueError):
        count = 0
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return count


def _read_records(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("version") != SESSIONS_FILE_VERSION:
        raise ValueError("not a sessions file of a known version")
    records = data.get("sessions")
    if not isinstance(records, list):
        raise ValueError("sessions is not a list")
    return [record for record in records if isinstance(record, dict)]


@dataclass(slots=True)
class _Session:
    created_ns: int
    last_seen_ns: int
    expires_ns: int
    """Absolute expiry (login + max age); the idle expiry is `last_seen_ns` + ttl."""
    fingerprint: str
    """`password_fingerprint` of the password hash the session was issued under."""
    saved_seen_ns: int
    """`last_seen_ns` as last written to the sessions file."""


_DIGEST_LENGTH = 64


class SessionStore:
    """Opaque operator session tokens, kept only as SHA-256 digests.

    A session ends when it goes unused for `ttl_s` (idle expiry; every use slides it),
    `max_age_s` after login (absolute expiry), at logout, or when the operator password changes:
    each session carries a fingerprint of the password hash it was issued under, and one that no
    longer matches the hash on disk is refused and removed (also when another process, such as
    `grvt-mm set-password`, changed the password). At most `max_sessions` live at once; a login
    beyond that ends the least recently used session.

    Given `passwords` (or an explicit `path`), sessions survive a restart: they are kept in
    `operator_sessions.json` next to the password hash, mode 0600, replaced atomically, holding
    per session only the token's SHA-256 digest, created / last-seen / expiry times and the
    password fingerprint; expired sessions are pruned whenever it is written. Last-seen times are
    written at most every `persist_every_s` (or a tenth of the idle ttl if shorter), so a crash
    loses at most that much of a session's idle time. A corrupt or unreadable file, or one
    writable by group or others (it could smuggle in a session), is logged and ignored: the
    server starts with no sessions and the operator logs in again."""

    def __init__(
        self,
        clock: Clock,
        ttl_s: int = 12 * 3600,
        *,
        passwords: PasswordFile | None = None,
        path: Path | None = None,
        max_age_s: int = 7 * 24 * 3600,
        max_sessions: int = 64,
        persist_every_s: int = 60,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.clock = clock
        self.ttl_ns = ttl_s * NS_PER_S
        self.max_age_ns = max_age_s * NS_PER_S
        self.max_sessions = max_sessions
        self.persist_every_ns = min(persist_every_s * NS_PER_S, self.ttl_ns // 10)
        self.passwords = passwords
        if path is None and passwords is not None:
            path = sessions_path(passwords)
        self.path = path
        self._lock = threading.RLock()
        self._sessions: dict[str, _Session] = {}
        self._password_stat: tuple[int, int, int] | None = None
        self._fingerprint = ""
        if path is not None:
            self._load(path)

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._sessions)

    def issue(self) -> str:
        token = token_hex(32)
        now = self.clock.now_ns()
        with self._lock:
            fingerprint = self._current_fingerprint()
            self._prune(now, fingerprint)
            while len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen_ns)
                del self._sessions[oldest]
                log.info("auth.session_evicted", extra={"max_sessions": self.max_sessions})
            self._sessions[self._key(token)] = _Session(
                created_ns=now,
                last_seen_ns=now,
                expires_ns=now + self.max_age_ns,
                fingerprint=fingerprint or "",
                saved_seen_ns=now,
            )
            self._save()
        return token

    def check(self, token: str) -> bool:
        key = self._key(token)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return False
            fingerprint = self._current_fingerprint()
            if fingerprint is None:
                return False  # the password hash cannot be read: nobody gets in meanwhile
            now = self.clock.now_ns()
            if session.fingerprint != fingerprint or self._expired(session, now):
                self._prune(now, fingerprint)
                self._save()
                return False
            session.last_seen_ns = max(session.last_seen_ns, now)
            if session.last_seen_ns - session.saved_seen_ns >= self.persist_every_ns:
                self._save()
            return True

    def revoke(self, token: str) -> None:
        with self._lock:
            if self._sessions.pop(self._key(token), None) is not None:
                self._save()

    def revoke_all(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._save()

    def _expired(self, session: _Session, now: int) -> bool:
        return now >= session.last_seen_ns + self.ttl_ns or now >= session.expires_ns

    def _current_fingerprint(self) -> str | None:
        """Fingerprint of the password hash on disk now ("" when none is set or no password
        file is tracked; None when it cannot be read). Re-read only when the file changed."""
        if self.passwords is None:
            return ""
        path = self.passwords.path
        try:
            st = path.stat()
        except FileNotFoundError:
            self._password_stat = None
            self._fingerprint = ""
            return ""
        except OSError:
            return None
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        if identity != self._password_stat:
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                return None
            self._fingerprint = password_fingerprint(text) if text.strip() else ""
            self._password_stat = identity
        return self._fingerprint

    def _prune(self, now: int, fingerprint: str | None) -> None:
        """Drop expired sessions and, when the password is known, those issued under another."""
        stale = [
            key
            for key, session in self._sessions.items()
            if fingerprint is not None and session.fingerprint != fingerprint
        ]
        for key in stale:
            del self._sessions[key]
        if stale:
            log.warning("auth.sessions_ended_password_changed", extra={"sessions": len(stale)})
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]

    def _load(self, path: Path) -> None:
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IWGRP | stat.S_IWOTH):
                log.warning(
                    "auth.sessions_file_unsafe",
                    extra={"path": str(path), "detail": "writable by others; ignored (0600)"},
                )
                return
            records = _read_records(path)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning(
                "auth.sessions_file_unreadable",
                extra={"path": str(path), "error": type(exc).__name__},
            )
            return
        skipped = 0
        for record in records:
            session = _parse(record)
            if session is None:
                skipped += 1
                continue
            self._sessions[str(record["token_sha256"])] = session
        if skipped:
            log.warning(
                "auth.sessions_file_entries_skipped",
                extra={"path": str(path), "skipped": skipped},
            )
        before = len(self._sessions)
        self._prune(self.clock.now_ns(), self._current_fingerprint())
        excess = len(self._sessions) - self.max_sessions
        if excess > 0:
            by_use = sorted(self._sessions, key=lambda k: self._sessions[k].last_seen_ns)
            for key in by_use[:excess]:
                del self._sessions[key]
        if skipped or len(self._sessions) != before:
            self._save()

    def _save(self) -> None:
        """Replace the sessions file with the live sessions (no-op without a file)."""
        path = self.path
        if path is None:
            return
        self._prune(self.clock.now_ns(), self._current_fingerprint())
        records = [
            {
                "token_sha256": key,
                "created_ns": s.created_ns,
                "last_seen_ns": s.last_seen_ns,
                "expires_ns": s.expires_ns,
                "password_fingerprint": s.fingerprint,
            }
            for key, s in self._sessions.items()
        ]
        payload = json.dumps({"version": SESSIONS_FILE_VERSION, "sessions": records})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.warning(
                "auth.sessions_not_saved", extra={"path": str(path), "error": type(exc).__name__}
            )
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        for session in self._sessions.values():
            session.saved_seen_ns = session.last_seen_ns


def _parse(record: dict[str, Any]) -> _Session | None:
    """A stored session, or None when the record is malformed."""
    digest = record.get("token_sha256")
    fingerprint = record.get("password_fingerprint")
    created = record.get("created_ns")
    last_seen = record.get("last_seen_ns")
    expires = record.get("expires_ns")
    if not isinstance(digest, str) or len(digest) != _DIGEST_LENGTH:
        return None
    if any(c not in "0123456789abcdef" for c in digest) or not isinstance(fingerprint, str):
        return None
    if not (type(created) is int and type(last_seen) is int and type(expires) is int):
        return None
    return _Session(created, last_seen, expires, fingerprint, last_seen)


class LoginLimiter:
    """At most `attempts` failed logins per client within `window_s`, and at most
    `total_attempts` from all clients together; then refuse (that client, or everyone) until
    older failures age out. This slows brute force; a correct password still has to wait.

    A client is its IPv4 address or its IPv6 /64 network (one host can use a whole /64, so
    rotating addresses inside it gains no attempts). The overall cap holds when the client
    address cannot be trusted: behind a proxy that passes X-Forwarded-For on, whoever can reach
    the server directly can claim any address, and a spray of addresses gets no more guesses
    than `total_attempts` a window. Existing sessions are unaffected. Failures and lockouts are
    logged with the client, never with the password tried."""

    def __init__(
        self, clock: Clock, attempts: int = 5, window_s: int = 60, total_attempts: int = 30
    ) -> None:
        self.clock = clock
        self.attempts = attempts
        self.total_attempts = total_attempts
        self.window_ns = window_s * NS_PER_S
        self._failures: dict[str, deque[int]] = {}
        self._all: deque[int] = deque()

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
        wait = self._wait_s(self._all, self.total_attempts)
        window = self._failures.get(self.client_key(client))
        if window is not None:
            wait = max(wait, self._wait_s(window, self.attempts))
        return wait

    def _wait_s(self, window: deque[int], limit: int) -> int:
        self._expire(window)
        if len(window) < limit:
            return 0
        return max(1, int((window[0] + self.window_ns - self.clock.now_ns()) / NS_PER_S) + 1)

    def failed(self, client: str) -> None:
        key = self.client_key(client)
        window = self._failures.setdefault(key, deque())
        self._expire(window)
        now = self.clock.now_ns()
        window.append(now)
        self._expire(self._all)
        self._all.append(now)
        if len(self._all) >= self.total_attempts:
            log.warning("auth.login_locked_all", extra={"client": key, "failures": len(self._all)})
        elif len(window) >= self.attempts:
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
