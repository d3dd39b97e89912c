"""Backtest jobs: each job replays in its own spawned process (never in the engine's event
loop), reports progress and step back over a pipe, and ends done (summary and HTML report in
the data dir), failed (the error) or canceled (process terminated).

A watcher thread per running job reads the pipe until it closes, records what it hears in the
store and starts the next queued job; at most `max_running` jobs replay at once.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from grvtmm.backtest.data import DataFormatError
from grvtmm.backtest.data_common import open_binary, raw_lines
from grvtmm.backtest.runner import (
    BacktestError,
    BacktestSettings,
    RunBuilder,
    backtest_instrument,
    resolve_format,
    run_backtest,
    total_rows,
)

REPLAY_SHARE = 0.9
"""Progress fraction the replay accounts for; the report takes the rest."""
PROGRESS_STEP = 0.01
_UNFINISHED = ("queued", "running")


class JobStore(Protocol):
    """The store's backtest job CRUD (see `grvtmm.store.jobs.BacktestJobs`)."""

    def create_backtest_job(self, params: Mapping[str, Any]) -> Any: ...

    def update_backtest_job(
        self,
        job_id: int,
        *,
        status: str | None = None,
        progress: float | None = None,
        result: Any = None,
        report_path: str | None = None,
        error: str | None = None,
    ) -> Any: ...

    def backtest_job(self, job_id: int) -> Any: ...

    def backtest_jobs(self, limit: int = 50, offset: int = 0) -> Any: ...


def count_rows(paths: tuple[Path, ...], fmt: str) -> int:
    """Input rows (lines, or .npz events) the replay will read, for the progress fraction."""
    known = total_rows(paths, fmt)
    if known is not None:
        return known
    total = 0
    for path in paths:
        with open_binary(path) as fh:
            total += sum(1 for line in raw_lines(fh) if line.strip())
    return total


class _PipeProgress:
    """The runner's progress callback in the worker: sends the fraction when it moved."""

    def __init__(self, conn: Connection, total_rows: int) -> None:
        self.conn = conn
        self.total = max(total_rows, 1)
        self.sent = 0.0

    def __call__(self, rows: int, sim_ns: int) -> None:
        fraction = min(rows / self.total, 1.0) * REPLAY_SHARE
        if fraction - self.sent >= PROGRESS_STEP:
            self.sent = fraction
            self.conn.send(("progress", fraction, "replay"))


def job_main(build: RunBuilder, settings: BacktestSettings, report: Path, conn: Connection) -> None:
    """The worker process: replay, write the report, send the summary (or the error)."""
    from grvtmm.backtest.report import SeriesRecorder, write_report

    try:
        conn.send(("progress", 0.0, "reading data"))
        fmt = resolve_format(settings.paths, settings.fmt)
        instrument, _ = backtest_instrument(settings, fmt)
        progress = _PipeProgress(conn, count_rows(settings.paths, fmt))
        conn.send(("progress", 0.0, "replay"))
        recorder = SeriesRecorder(instrument)
        summary = run_backtest(settings, build, progress=progress, recorder=recorder)
        conn.send(("progress", REPLAY_SHARE, "report"))
        write_report(report, summary, recorder)
        conn.send(("done", summary))
    except (BacktestError, DataFormatError) as exc:
        conn.send(("failed", str(exc)))
    except Exception as exc:  # any failure is recorded on the job, not lost with the process
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


@dataclass(slots=True)
class _Job:
    id: int
    settings: BacktestSettings
    report: Path
    step: str = "queued"
    process: BaseProcess | None = None
    watcher: threading.Thread | None = None
    canceled: bool = False
    finished: bool = False


class JobRunner:
    """Queues, runs and cancels backtest jobs; results and progress go to the store."""

    def __init__(
        self, store: JobStore, data_dir: Path, build: RunBuilder, *, max_running: int = 1
    ) -> None:
        self.store = store
        self.build = build
        self.datasets_dir = data_dir / "datasets"
        self.reports_dir = data_dir / "backtest_reports"
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        self.max_running = max(1, max_running)
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._pending: deque[int] = deque()
        self._running = 0
        self._fail_orphans()

    def _fail_orphans(self) -> None:
        """Jobs left queued or running by an earlier process can never finish: mark them."""
        offset = 0
        while True:
            page = self.store.backtest_jobs(limit=200, offset=offset)
            for job in page.items:
                if job.status in _UNFINISHED:
                    self.store.update_backtest_job(
                        job.id, status="failed", error="interrupted by a server restart"
                    )
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def submit(self, settings: BacktestSettings, params: Mapping[str, Any]) -> int:
        """Queue a job (`params` is what the store keeps as its description); its id."""
        record = self.store.create_backtest_job(params)
        job = _Job(record.id, settings, self.reports_dir / f"job-{record.id}.html")
        with self._lock:
            self._jobs[job.id] = job
            self._pending.append(job.id)
            self._start_pending()
        return job.id

    def step(self, job_id: int) -> str | None:
        """What a job of this process is doing now (None for jobs of earlier processes)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.step

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job (terminating its process); False if not cancellable."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.finished or job.canceled:
                return False
            job.canceled = True
            job.step = "canceled"
            if job.process is None:
                self._pending.remove(job_id)
                job.finished = True
            else:
                job.process.terminate()
            self.store.update_backtest_job(job_id, status="canceled")
            return True

    def close(self) -> None:
        """Cancel every unfinished job and wait for the watchers."""
        with self._lock:
            ids = [j.id for j in self._jobs.values() if not j.finished]
        for job_id in ids:
            self.cancel(job_id)
        for job in list(self._jobs.values()):
            if job.watcher is not None:
                job.watcher.join()

    def _start_pending(self) -> None:
        """Start queued jobs while there is room (holding the lock)."""
        while self._pending and self._running < self.max_running:
            job = self._jobs[self._pending.popleft()]
            reader, writer = self._ctx.Pipe(duplex=False)
            process = self._ctx.Process(
                target=job_main,
                args=(self.build, job.settings, job.report, writer),
                name=f"backtest-job-{job.id}",
                daemon=True,
            )
            process.start()
            writer.close()
            job.process, job.step = process, "starting"
            self._running += 1
            self.store.update_backtest_job(job.id, status="running", progress=0.0)
            job.watcher = threading.Thread(
                target=self._watch, args=(job, reader), name=f"job-{job.id}", daemon=True
            )
            job.watcher.start()

    def _watch(self, job: _Job, reader: Connection) -> None:
        """Record the worker's messages until its pipe closes, then settle the job."""
        while True:
            try:
                message = reader.recv()
            except EOFError:
                break
            with self._lock:
                if not job.canceled:
                    self._record(job, message)
        reader.close()
        assert job.process is not None
        job.process.join()
        with self._lock:
            if not job.finished and not job.canceled:
                self.store.update_backtest_job(
                    job.id,
                    status="failed",
                    error=f"the job's process exited with code {job.process.exitcode}",
                )
                job.step = "failed"
            job.finished = True
            self._running -= 1
            self._start_pending()

    def _record(self, job: _Job, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            job.step = message[2]
            self.store.update_backtest_job(job.id, progress=message[1])
        elif kind == "done":
            self.store.update_backtest_job(
                job.id, status="done", progress=1.0, result=message[1], report_path=str(job.report)
            )
            job.step, job.finished = "done", True
        elif kind == "failed":
            self.store.update_backtest_job(job.id, status="failed", error=message[1])
            job.step, job.finished = "failed", True
