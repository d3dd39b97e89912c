"""Secrets: Fernet at rest, a 0600 key file, clear errors, and values that never leak."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from store_cases import T0

from grvtmm.core.clock import SimClock
from grvtmm.store import SecretBox, SecretDecryptError, SecretKeyError, Store, resolve_key
from grvtmm.store.secrets import KEY_FILE_NAME

API_SECRET = "0xdeadbeef-super-secret-value-7f3a"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'grvtmm.db'}")
    yield s
    s.close()


def _database_bytes(directory: Path) -> bytes:
    # the database, its WAL and shared-memory files: wherever SQLite may have put the row
    return b"".join(p.read_bytes() for p in sorted(directory.glob("grvtmm.db*")))


def test_values_are_encrypted_at_rest_and_round_trip(store: Store, tmp_path: Path) -> None:
    box = SecretBox(store, Fernet.generate_key(), clock=SimClock(T0))
    box.set("grvt.api_secret", API_SECRET)
    box.set("telegram.bot_token", "123:abc")
    assert box.get("grvt.api_secret") == API_SECRET
    assert box.get("telegram.bot_token") == "123:abc"
    assert box.get("grvt.api_key") is None
    raw = _database_bytes(tmp_path)
    assert b"grvt.api_secret" in raw  # the row is there ...
    assert API_SECRET.encode() not in raw  # ... but not the value
    assert API_SECRET not in (store.secret_ciphertext("grvt.api_secret") or "")


def test_status_and_repr_show_names_and_times_only(store: Store) -> None:
    box = SecretBox(store, Fernet.generate_key(), clock=SimClock(T0))
    box.set("grvt.api_secret", API_SECRET)
    assert box.status() == {"grvt.api_secret": T0}
    assert API_SECRET not in repr(box) and "grvt.api_secret" in repr(box)
    assert API_SECRET not in repr(store)


def test_overwrite_and_delete(store: Store) -> None:
    box = SecretBox(store, Fernet.generate_key())
    box.set("grvt.api_key", "one")
    box.set("grvt.api_key", "two")
    assert box.get("grvt.api_key") == "two"
    assert box.delete("grvt.api_key")
    assert box.get("grvt.api_key") is None
    assert box.status() == {}


def test_wrong_key_is_a_clear_error_that_does_not_reveal_the_value(store: Store) -> None:
    SecretBox(store, Fernet.generate_key()).set("grvt.api_secret", API_SECRET)
    other = SecretBox(store, Fernet.generate_key())
    with pytest.raises(SecretDecryptError, match="cannot be decrypted") as caught:
        other.get("grvt.api_secret")
    assert API_SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert other.undecryptable() == ["grvt.api_secret"]


def test_a_ciphertext_moved_to_another_name_is_refused(store: Store) -> None:
    box = SecretBox(store, Fernet.generate_key())
    box.set("telegram.bot_token", "123:abc")
    token = store.secret_ciphertext("telegram.bot_token")
    assert token is not None
    store.put_secret_ciphertext("grvt.api_secret", token, T0)
    with pytest.raises(SecretDecryptError, match="another name"):
        box.get("grvt.api_secret")


def test_bad_values_and_names_are_refused_without_echo(store: Store) -> None:
    box = SecretBox(store, Fernet.generate_key())
    with pytest.raises(TypeError) as caught:
        box.set("grvt.api_secret", 12345)  # type: ignore[arg-type]
    assert "12345" not in str(caught.value)
    with pytest.raises(ValueError, match="names"):
        box.set("", "x")


def test_key_file_is_created_0600_on_first_start_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = resolve_key(None, data_dir)
    path = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_key(None, data_dir) == key
    Fernet(key)  # a valid Fernet key


def test_key_file_is_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        resolve_key(None, tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    resolve_key(None, tmp_path)
    path = tmp_path / KEY_FILE_NAME
    path.chmod(mode)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        resolve_key(None, tmp_path)


def test_symlinked_or_garbage_key_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.key"
    target.write_bytes(Fernet.generate_key())
    target.chmod(0o600)
    (tmp_path / KEY_FILE_NAME).symlink_to(target)
    with pytest.raises(SecretKeyError, match="cannot open"):
        resolve_key(None, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / KEY_FILE_NAME).write_bytes(b"not a key")
    (other / KEY_FILE_NAME).chmod(0o600)
    with pytest.raises(SecretKeyError, match="not a valid key"):
        resolve_key(None, other)


def test_env_key_wins_over_the_key_file_and_must_be_valid(tmp_path: Path) -> None:
    env_key = Fernet.generate_key().decode()
    assert resolve_key(env_key + "\n", tmp_path) == env_key.encode()
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(SecretKeyError, match="GRVTMM_SECRET_KEY") as caught:
        resolve_key("correct horse battery staple", tmp_path)
    assert "correct horse" not in str(caught.value)


def test_box_with_an_invalid_key_is_refused(store: Store) -> None:
    with pytest.raises(SecretKeyError):
        SecretBox(store, b"short")
