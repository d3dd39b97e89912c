"""Alert actions for the dashboard: send a Telegram test message."""

from __future__ import annotations

import inspect

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from grvtmm.api.deps import AuthDep, ServicesDep

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class TestResult(BaseModel):
    ok: bool
    error: str | None = None


@router.post("/telegram/test")
async def telegram_test(_: AuthDep, services: ServicesDep) -> TestResult:
    """Send a test message to the configured chat now; `error` says why it failed."""
    send = services.telegram_test
    if send is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "telegram alerts unavailable")
    outcome = send()
    if inspect.isawaitable(outcome):
        outcome = await outcome
    if outcome:
        return TestResult(ok=False, error=str(outcome))
    return TestResult(ok=True)
