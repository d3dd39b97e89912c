"""Backtest jobs: queued, running, done/failed/canceled, with progress, result and report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session

from grvtmm.core.clock import Clock
from grvtmm.store.db import write_transaction
from grvtmm.store.records import (
    PPM,
    BacktestJobRecord,
    Page,
    StoreError,
    check_page,
    reject_secrets,
)
from grvtmm.store.tables import JOB_STATUSES, BacktestJob


class BacktestJobs:
    """Backtest job CRUD; mixed into `Store`."""

    engine: Engine
    clock: Clock

    def create_backtest_job(self, params: Mapping[str, Any]) -> BacktestJobRecord:
        """Queue a backtest job with JSON `params` (secrets refused)."""
        reject_secrets(params)
        values = {
            "status": "queued",
            "params": json.dumps(dict(params), sort_keys=True),
            "progress_ppm": 0,
            "created_at_ns": self.clock.now_ns(),
        }
        with write_transaction(self.engine) as connection:
            key = connection.execute(insert(BacktestJob), values).inserted_primary_key
        assert key is not None
        record = self.backtest_job(int(key[0]))
        assert record is not None
        return record

    def update_backtest_job(
        self,
        job_id: int,
        *,
        status: str | None = None,
        progress: float | None = None,
        result: Any = None,
        report_path: str | None = None,
        error: str | None = None,
    ) -> BacktestJobRecord | None:
        """Update a job (None leaves a field alone); start/finish times follow the status."""
        values: dict[str, Any] = {}
        now = self.clock.now_ns()
        if status is not None:
            if status not in JOB_STATUSES:
                raise StoreError(f"status must be one of {', '.join(JOB_STATUSES)}")
            values["status"] = status
            if status == "running":
                values["started_at_ns"] = now
            elif status in ("done", "failed", "canceled"):
                values["finished_at_ns"] = now
        if progress is not None:
            values["progress_ppm"] = round(min(max(progress, 0.0), 1.0) * PPM)
        if result is not None:
            values["result"] = json.dumps(result, sort_keys=True, default=str)
        if report_path is not None:
            values["report_path"] = report_path
        if error is not None:
            values["error"] = error
        if values:
            with write_transaction(self.engine) as connection:
                connection.execute(
                    update(BacktestJob).where(BacktestJob.id == job_id).values(values)
                )
        return self.backtest_job(job_id)

    def backtest_job(self, job_id: int) -> BacktestJobRecord | None:
        with Session(self.engine) as session:
            row = session.get(BacktestJob, job_id)
            return None if row is None else BacktestJobRecord.of(row)

    def backtest_jobs(self, limit: int = 50, offset: int = 0) -> Page[BacktestJobRecord]:
        """Jobs, newest first."""
        check_page(limit, offset)
        query = select(BacktestJob).order_by(BacktestJob.id.desc()).limit(limit).offset(offset)
        with Session(self.engine) as session:
            total = int(session.execute(select(func.count(BacktestJob.id))).scalar_one())
            items = [BacktestJobRecord.of(r) for r in session.scalars(query)]
        return Page(items, total, limit, offset)

    def delete_backtest_job(self, job_id: int) -> bool:
        with write_transaction(self.engine) as connection:
            result = connection.execute(delete(BacktestJob).where(BacktestJob.id == job_id))
            return bool(result.rowcount)
