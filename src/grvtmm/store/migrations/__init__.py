"""Alembic migrations shipped inside the package; the configuration is built in code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from grvtmm.store.db import make_engine

SCRIPT_DIR = Path(__file__).resolve().parent
HEAD = "head"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for these migrations; `connection` is used as-is when given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_engine(engine: Engine, revision: str = HEAD) -> None:
    """Bring the database behind `engine` up to `revision` (the latest by default)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def upgrade_to_head(url: str) -> None:
    """Bring the database at SQLAlchemy `url` up to the latest schema."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
