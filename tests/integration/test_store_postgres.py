"""The store on a real PostgreSQL server: migrations produce the models' schema, and the same
repository and writer cases as on SQLite pass.

A throwaway server is started on a private unix socket (no TCP port) in a temporary directory
from the Debian package `postgresql` binaries (/usr/lib/postgresql/*/bin). initdb refuses to run
as root, so under root the cluster is created and run as the `postgres` system user the package
adds. The module skips, with the reason, only when the binaries are not installed.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine

from grvtmm.store import Store

CASES_PATH = Path(__file__).resolve().parents[1] / "unit" / "store" / "store_cases.py"
INSTALL_HINT = "apt-get install -y postgresql"


def _load_cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("store_cases_pg", CASES_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.parent.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout first)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PgServer:
    bindir: Path
    root: Path
    user: pwd.struct_passwd | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sock"

    def run(self, *args: str) -> None:
        """Run a server binary (as the unprivileged user when we are root)."""
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
            **kwargs,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-k {self.sockets} -c listen_addresses='' -F"
        log = str(self.root / "server.log")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.sockets}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=str(self.sockets), user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _private_root() -> tuple[Path, pwd.struct_passwd | None]:
    """A short directory (unix socket paths are limited to ~100 bytes) the server user owns."""
    root = Path(tempfile.mkdtemp(prefix="grvtmm-pg-"))
    if os.geteuid() != 0:
        return root, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        shutil.rmtree(root)
        pytest.skip(
            "POSTGRESQL TESTS NOT RUN: running as root and there is no `postgres` user to run "
            f"the server as (the Debian package creates it: {INSTALL_HINT})"
        )
    os.chown(root, user.pw_uid, user.pw_gid)
    return root, user


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "POSTGRESQL TESTS NOT RUN: PostgreSQL server binaries not found under "
            f"/usr/lib/postgresql/*/bin or on PATH — install them with `{INSTALL_HINT}`"
        )
    root, user = _private_root()
    pg = PgServer(bindir, root, user)
    (root / "sock").mkdir()
    if user is not None:
        os.chown(root / "sock", user.pw_uid, user.pw_gid)
    try:
        pg.start()
        yield pg
    finally:
        if (pg.data / "postmaster.pid").exists():
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


_names = count()


@pytest.fixture
def database(server: PgServer) -> str:
    return server.create_database(f"grvtmm_{os.getpid()}_{next(_names)}")


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    s = cases.make_store(database)
    yield s
    s.close()


def test_migration_builds_the_models_schema_on_postgres(store: Store, server: PgServer) -> None:
    created = create_engine(server.create_database(f"grvtmm_created_{os.getpid()}"))
    try:
        cases.check_schema_matches_models(store.engine, created)
    finally:
        created.dispose()


@pytest.mark.parametrize("case", cases.ALL_CASES, ids=lambda c: c.__name__.removeprefix("check_"))
def test_repository_case_on_postgres(store: Store, case: Callable[[Store], None]) -> None:
    case(store)


def test_restart_keeps_history_on_postgres(database: str) -> None:
    first = cases.make_store(database)
    cases.run(first, [cases.start(cases.T0), cases.place(1, cases.T0 + 1)])
    cases.run(first, [cases.fill(1, "pg-1", cases.T0 + 2)])
    first.close()
    again = cases.make_store(database)
    cases.run(again, [cases.fill(1, "pg-1", cases.T0 + 2)])  # redelivered after the restart
    assert again.fill_count() == 1
    assert again.order(cases.cid(1)) is not None
    assert again.current_session() is not None
    again.close()
