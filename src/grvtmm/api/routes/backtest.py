"""Backtest jobs over HTTP: datasets in `<data_dir>/datasets`, jobs run in their own process.

`POST /api/backtest/datasets/{name}` stores a raw-body upload (bounded); `POST
/api/backtest/jobs` queues a job on a stored dataset; `GET .../jobs[/{id}]` shows status,
progress 0–1, step and the result summary; `GET .../jobs/{id}/report` is the HTML report;
`DELETE .../jobs/{id}` cancels.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grvtmm.api.deps import AuthDep, Services, ServicesDep
from grvtmm.backtest.jobs import JobRunner
from grvtmm.backtest.runner import BacktestSettings, parse_queue
from grvtmm.core.types import Instrument
from grvtmm.strategy.params import StrategyConfig

router = APIRouter(prefix="/api/backtest", tags=["backtest"])
JobId = Annotated[int, PathParam(ge=1, le=2**62, description="job id")]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_PROBE = Instrument("BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))


def _check_name(value: str) -> str:
    """A plain file name inside the datasets directory (no separators, no `..`)."""
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError("a plain file name of letters, digits, '.', '_' or '-'")
    return value


class JobRequest(BaseModel):
    """A backtest job: dataset file name, strategy and its parameters, venue model."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str = Field(description="file name in <data_dir>/datasets")
    format: Literal["auto", "csv", "binance-collector", "hbt-npz", "grvt-record"] = "auto"
    strategy: Literal["avellaneda", "fixed-spread"] = "avellaneda"
    params: dict[str, Any] = Field(default_factory=dict, description="strategy fields")
    tick_size: Decimal | None = Field(None, gt=0)
    lot_size: Decimal | None = Field(None, gt=0)
    latency_ms: float = Field(25.0, ge=0, le=60_000)
    queue: str = "risk-averse"
    maker_fee: Decimal = Field(Decimal(0), ge=Decimal("-0.01"), le=Decimal("0.01"))
    taker_fee: Decimal = Field(Decimal(0), ge=Decimal("-0.01"), le=Decimal("0.01"))
    feed_interval_ms: float = Field(0.0, ge=0, le=60_000)
    seed: int = Field(0, ge=0, le=2**63 - 1)

    _dataset = field_validator("dataset")(_check_name)

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        parse_queue(value, _PROBE)
        return value


def _runner(services: Services) -> JobRunner:
    if services.jobs is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "backtest jobs are not enabled")
    runner: JobRunner = services.jobs
    return runner


def _unprocessable(field: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _strategy(request: JobRequest, path: Path) -> StrategyConfig:
    from grvtmm.backtest.cli import symbol_from_name

    fields: dict[str, Any] = {"strategy": request.strategy}
    symbol = symbol_from_name(path)
    if symbol is not None:
        fields["symbol"] = symbol
    if "strategy" in request.params:
        raise _unprocessable("params", "choose the strategy with 'strategy', not in params")
    try:
        return StrategyConfig.model_validate(fields | request.params)
    except ValidationError as exc:
        detail = [
            {"loc": ["body", "params", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise HTTPException(422, detail) from None


def _job_json(runner: JobRunner, record: Any) -> dict[str, Any]:
    body: dict[str, Any] = record.as_json()
    body.pop("report_path", None)
    body["step"] = runner.step(record.id) or record.status
    body["report_url"] = (
        f"/api/backtest/jobs/{record.id}/report" if record.report_path is not None else None
    )
    return body


def _record(services: Services, job_id: int) -> Any:
    record = services.store.backtest_job(job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no backtest job {job_id}")
    return record


@router.get("/datasets")
def list_datasets(_: AuthDep, services: ServicesDep) -> list[dict[str, Any]]:
    """Stored datasets: name and size in bytes."""
    folder = _runner(services).datasets_dir
    return [
        {"name": p.name, "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
        if p.is_file() and _NAME.fullmatch(p.name)
    ]


@router.post("/datasets/{name}", status_code=status.HTTP_201_CREATED)
async def upload_dataset(
    name: str, request: Request, _: AuthDep, services: ServicesDep
) -> dict[str, Any]:
    """Store the raw request body as a dataset (409 if the name exists, 413 if too large)."""
    try:
        _check_name(name)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "name"], "msg": str(exc)}]) from None
    runner = _runner(services)
    target = runner.datasets_dir / name
    partial = runner.datasets_dir / f".{name}.part"
    if target.exists():
        raise HTTPException(status.HTTP_409_CONFLICT, f"dataset {name} exists")
    size = 0
    try:
        with partial.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise HTTPException(
                        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                        f"datasets are limited to {MAX_UPLOAD_BYTES} bytes",
                    )
                fh.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return {"name": name, "bytes": size}


@router.post("/jobs", status_code=status.HTTP_201_CREATED)
def create_job(request: JobRequest, _: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Queue a backtest on a stored dataset; the job (with its id)."""
    runner = _runner(services)
    path = runner.datasets_dir / request.dataset
    if not path.is_file():
        raise _unprocessable("dataset", f"no dataset named {request.dataset!r}")
    settings = BacktestSettings(
        paths=(path,),
        strategy=_strategy(request, path),
        fmt=request.format,
        tick_size=request.tick_size,
        lot_size=request.lot_size,
        queue=request.queue,
        latency_ms=request.latency_ms,
        maker_fee=request.maker_fee,
        taker_fee=request.taker_fee,
        feed_interval_ms=request.feed_interval_ms,
        seed=request.seed,
    )
    job_id = runner.submit(settings, request.model_dump(mode="json"))
    return _job_json(runner, _record(services, job_id))


@router.get("/jobs")
def list_jobs(
    _: AuthDep,
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Jobs, newest first, one page at a time."""
    runner = _runner(services)
    page = services.store.backtest_jobs(limit=limit, offset=offset)
    return {
        "items": [_job_json(runner, r) for r in page.items],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/jobs/{job_id}")
def get_job(job_id: JobId, _: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Status, progress 0–1, step, and the result summary once done."""
    return _job_json(_runner(services), _record(services, job_id))


@router.get("/jobs/{job_id}/report", response_class=FileResponse)
def get_report(job_id: JobId, _: AuthDep, services: ServicesDep) -> FileResponse:
    """The job's self-contained HTML report (404 until the job is done)."""
    record = _record(services, job_id)
    if record.report_path is None or not Path(record.report_path).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} has no report")
    return FileResponse(record.report_path, media_type="text/html; charset=utf-8")


@router.delete("/jobs/{job_id}")
def cancel_job(job_id: JobId, _: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Cancel a queued or running job; a finished job is returned unchanged."""
    runner = _runner(services)
    _record(services, job_id)
    runner.cancel(job_id)
    return _job_json(runner, _record(services, job_id))
