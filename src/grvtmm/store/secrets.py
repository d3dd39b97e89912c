"""Secrets encrypted at rest (Fernet), decrypted only inside the process.

The key comes from the caller (the value of `GRVTMM_SECRET_KEY`) or from a key file in the data
directory, created with mode 0600 on first start; a key file that others can read is refused.
Values never appear in reprs, logs or exception messages.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

from grvtmm.core.clock import Clock, LiveClock
from grvtmm.store.repository import Store

log = logging.getLogger(__name__)

KEY_FILE_NAME: Final = "secret.key"
_SEPARATOR: Final = "\x00"


class SecretKeyError(RuntimeError):
    """The encryption key is missing, malformed or stored insecurely."""


class SecretDecryptError(RuntimeError):
    """A stored secret cannot be decrypted with the configured key."""


def _fernet(key: bytes | str, source: str) -> Fernet:
    try:
        return Fernet(key.strip())
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{source} is not a valid key (expected 32 url-safe base64-encoded bytes, "
            'e.g. from `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`)'
        ) from None


def read_key_file(path: Path) -> bytes:
    """Read a key file, refusing one that is not a regular file or is group/world accessible."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise SecretKeyError(f"cannot open key file {path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretKeyError(f"key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise SecretKeyError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise SecretKeyError(f"key file {path} is owned by another user")
        return handle.read()


def create_key_file(path: Path) -> bytes:
    """Create a new key file with mode 0600 (fails if it already exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # independent of the umask
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("secrets.key_file_created", extra={"path": str(path)})
    return key


def resolve_key(env_key: str | None, data_dir: Path) -> bytes:
    """The key to use: `env_key` (the value of GRVTMM_SECRET_KEY) when given, otherwise the
    data directory's key file, created on first start."""
    if env_key:
        _fernet(env_key, "GRVTMM_SECRET_KEY")
        return env_key.strip().encode()
    path = data_dir / KEY_FILE_NAME
    exists = path.exists() or path.is_symlink()
    key = read_key_file(path) if exists else create_key_file(path)
    _fernet(key, f"key file {path}")
    return key.strip()


class SecretBox:
    """Named secrets, Fernet-encrypted in the store's `secrets` table."""

    __slots__ = ("_clock", "_fernet", "_store")

    def __init__(self, store: Store, key: bytes | str, clock: Clock | None = None) -> None:
        self._store = store
        self._fernet = _fernet(key, "the secret key")
        self._clock: Clock = clock or LiveClock()

    def __repr__(self) -> str:
        return f"SecretBox(names={sorted(self._store.secret_times())})"

    def set(self, name: str, value: str) -> None:
        """Encrypt and store `value` under `name` (replacing any previous value)."""
        _check_name(name)
        if not isinstance(value, str):
            raise TypeError("secret values must be str")
        # the name is sealed with the value so a ciphertext cannot be moved to another name
        token = self._fernet.encrypt(f"{name}{_SEPARATOR}{value}".encode())
        self._store.put_secret_ciphertext(name, token.decode("ascii"), self._clock.now_ns())
        log.info("secrets.set", extra={"secret": name})

    def get(self, name: str) -> str | None:
        """The decrypted value, or None when unset; SecretDecryptError on a wrong key."""
        token = self._store.secret_ciphertext(name)
        if token is None:
            return None
        try:
            plain = self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise SecretDecryptError(
                f"secret {name!r} cannot be decrypted with the configured key "
                "(was GRVTMM_SECRET_KEY or the key file changed?); set it again"
            ) from None
        sealed_name, sep, value = plain.partition(_SEPARATOR)
        if not sep or sealed_name != name:
            raise SecretDecryptError(f"secret {name!r} was stored under another name")
        return value

    def delete(self, name: str) -> bool:
        removed = self._store.delete_secret(name)
        if removed:
            log.info("secrets.deleted", extra={"secret": name})
        return removed

    def status(self) -> dict[str, int | None]:
        """Names of the stored secrets and when each was set (ns) — never values."""
        return dict(self._store.secret_times())

    def undecryptable(self) -> list[str]:
        """Names whose ciphertext the current key cannot open (check at startup)."""
        bad = []
        for name in sorted(self._store.secret_times()):
            try:
                self.get(name)
            except SecretDecryptError:
                bad.append(name)
        return bad


def _check_name(name: str) -> None:
    if not name or len(name) > 128 or not name.isprintable():
        raise ValueError("secret names must be 1..128 printable characters")
