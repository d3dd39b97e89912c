"""The renderer of docs/reliability.md's chaos table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.report import END, START, main, render_table, splice


def _row(ident: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": ident,
        "fault": "f",
        "criterion": "c",
        "outcome": "pass",
        "lost_fills": 0,
        "orphan_orders": 0,
        "recover_s": 0.1234,
        "fills": 3,
        "notes": {"final_mode": "stopped", "retries": 2},
    }
    base.update(kw)
    return base


def test_table_orders_rows_escapes_pipes_and_shows_failures() -> None:
    rows = [
        _row("telegram_down"),
        _row("ws_drop", fault="a | b", outcome="FAIL: boom", recover_s=None),
    ]
    lines = render_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| `ws_drop` | a \\| b | c | FAIL: boom | 0 | 0 | — | 3 | stopped")
    assert "| **pass** |" in lines[3] and "| 0.12 |" in lines[3] and "retries: 2" in lines[3]


def test_main_replaces_only_the_marked_table(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"rows": [_row("ws_drop")]}))
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{START}\nold table\n{END}\nafter\n")
    assert main([str(results), str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{END}\nafter\n")
    assert "old table" not in text and "`ws_drop`" in text
    with pytest.raises(ValueError, match="markers"):
        splice("no markers", "t")
