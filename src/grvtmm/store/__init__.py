"""Persistence: typed models, Alembic migrations, the repository, the background writer (a
sink) and encrypted secrets."""

from grvtmm.store.migrations import upgrade_to_head
from grvtmm.store.records import Page, StoreError
from grvtmm.store.repository import Store
from grvtmm.store.secrets import SecretBox, SecretDecryptError, SecretKeyError, resolve_key
from grvtmm.store.writer import StoreWriter, WriterSettings

__all__ = [
    "Page",
    "SecretBox",
    "SecretDecryptError",
    "SecretKeyError",
    "Store",
    "StoreError",
    "StoreWriter",
    "WriterSettings",
    "resolve_key",
    "upgrade_to_head",
]
