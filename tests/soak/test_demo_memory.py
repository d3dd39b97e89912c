"""`grvt-mm demo` runs for as long as asked without keeping a per-event history."""

from __future__ import annotations

import pytest

from grvtmm import app


def test_demo_keeps_no_event_history(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[app.SimRun] = []
    build = app.build_sim_run

    def recording_build(*args: object, **kwargs: object) -> app.SimRun:
        run = build(*args, **kwargs)  # type: ignore[arg-type]
        runs.append(run)
        return run

    monkeypatch.setattr(app, "build_sim_run", recording_build)
    summary = app.run_demo(duration_s=300, speed=None, seed=7)
    (run,) = runs
    assert summary["fills"] > 0 and summary["engine_events"] > 1_000
    # every engine event of a long demo would otherwise stay in memory (≈ 17 MB per hour)
    assert run.notices == []
