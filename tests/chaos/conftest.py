"""The chaos suite's results recorder: one row per scenario (fault, pass criterion, outcome, lost
fills, orphan orders, time to recover), written as JSON when the session ends.

The file goes to `$GRVTMM_CHAOS_RESULTS` if set, else `<tmp>/grvtmm-chaos/results.json`;
`python tests/chaos/report.py <file>` renders docs/reliability.md's table from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.chaos_kit import Row
from chaos.report import results_path

_ROWS: list[Row] = []
_WRITTEN: list[Path] = []
_OUTCOME = pytest.StashKey[str]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.failed):
        if report.passed:
            item.stash[_OUTCOME] = "pass"
        elif report.skipped:
            item.stash[_OUTCOME] = "skipped"
        else:
            exc = getattr(call.excinfo, "value", None)
            lines = str(exc or "").strip().splitlines()
            what = lines[0][:160] if lines else type(exc).__name__ if exc else "failed"
            item.stash[_OUTCOME] = f"FAIL: {what}"


@pytest.fixture
def chaos_row(request: pytest.FixtureRequest) -> Iterator[Row]:
    """The scenario's row; the test fills in the figures, the outcome comes from its result."""
    marker = request.node.get_closest_marker("chaos")
    if marker is None:
        raise pytest.UsageError("chaos tests declare @pytest.mark.chaos(id, fault, criterion)")
    ident, fault, criterion = marker.args
    row = Row(ident, fault, criterion)
    yield row
    row.outcome = request.node.stash.get(_OUTCOME, "FAIL: no result")
    _ROWS.append(row)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos(id, fault, criterion): a chaos scenario recorded in the results table"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _ROWS:
        return
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [row.as_json() for row in _ROWS]
    path.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    _WRITTEN.append(path)
    _ROWS.clear()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for path in _WRITTEN:
        terminalreporter.write_line(f"chaos results: {path}")
