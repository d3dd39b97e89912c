"""Render the chaos results (JSON written by the chaos suite) as the table in
docs/reliability.md, replacing what stands between the table markers.

    GRVTMM_CHAOS_RESULTS=/tmp/chaos.json .venv/bin/pytest -q tests/chaos -p no:cacheprovider
    .venv/bin/python tests/chaos/report.py /tmp/chaos.json docs/reliability.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

START = "<!-- chaos-table:start -->"
END = "<!-- chaos-table:end -->"
ORDER = (
    "ws_drop",
    "ws_outage_stop",
    "ws_outage_halt",
    "sequence_gap",
    "duplicate_frames",
    "book_stream_refused",
    "malformed_frames",
    "rate_limit_storm",
    "server_error_burst",
    "error_after_execution",
    "slow_responses",
    "post_only_rejects",
    "post_only_storm",
    "invalid_order_rejects",
    "invalid_order_storm",
    "cookie_expiry",
    "cookie_expiry_login_fails",
    "cookie_short_lifetime",
    "cancel_on_disconnect",
    "kill_9",
    "flatten_transient_rejects",
    "flatten_until_dust",
    "sqlite_locked",
    "telegram_down",
)


def results_path() -> Path:
    """`$GRVTMM_CHAOS_RESULTS`, else `<tmp>/grvtmm-chaos/results.json`."""
    env = os.environ.get("GRVTMM_CHAOS_RESULTS")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / "grvtmm-chaos" / "results.json"


def _cell(value: object) -> str:
    text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _notes(notes: dict[str, Any]) -> str:
    skip = {"final_mode"}
    parts = []
    for key, value in notes.items():
        if key in skip:
            continue
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)


def _rank(row: dict[str, Any]) -> tuple[int, str]:
    ident = str(row.get("id", ""))
    return (ORDER.index(ident) if ident in ORDER else len(ORDER), ident)


def render_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table, one line per scenario in the suite's fixed order."""
    head = (
        "| Scenario | Fault injected | Pass criterion | Outcome | Lost fills | Orphan orders "
        "| Time to recover (s) | Fills during run | End mode | Observed |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in sorted(rows, key=_rank):
        recover = row.get("recover_s")
        lines.append(
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    f"`{row.get('id')}`",
                    row.get("fault"),
                    row.get("criterion"),
                    "**pass**" if row.get("outcome") == "pass" else row.get("outcome"),
                    row.get("lost_fills"),
                    row.get("orphan_orders"),
                    None if recover is None else f"{recover:.2f}",
                    row.get("fills"),
                    (row.get("notes") or {}).get("final_mode"),
                    _notes(row.get("notes") or {}),
                )
            )
            + " |"
        )
    return "\n".join(lines)


def splice(doc: str, table: str) -> str:
    """`doc` with the text between the markers replaced by `table`."""
    try:
        before, rest = doc.split(START, 1)
        _, after = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the document lacks the markers {START} ... {END}") from None
    return f"{before}{START}\n{table}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=None)
    parser.add_argument("doc", nargs="?", type=Path, default=Path("docs/reliability.md"))
    args = parser.parse_args(argv)
    source: Path = args.results or results_path()
    rows = json.loads(source.read_text())["rows"]
    doc: Path = args.doc
    doc.write_text(splice(doc.read_text(), render_table(rows)))
    print(f"{doc}: {len(rows)} scenarios from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
