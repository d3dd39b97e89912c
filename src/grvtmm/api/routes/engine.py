"""Engine control: start, pause, resume, stop (flatten), halt."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from grvtmm.api.deps import AuthDep, ServicesDep
from grvtmm.api.routes.system import pending_symbol, status_body
from grvtmm.core import events as ev

router = APIRouter(prefix="/api/engine", tags=["engine"])

Action = Literal["start", "pause", "resume", "stop", "halt"]
_EVENTS: dict[str, type[ev.Event]] = {
    "start": ev.StartRequested,
    "pause": ev.PauseRequested,
    "resume": ev.ResumeRequested,
    "stop": ev.StopRequested,
    "halt": ev.HaltRequested,
}


class ControlBody(BaseModel):
    reason: str = Field("operator", max_length=200)


@router.post("/{action}")
async def control(
    action: Action, _: AuthDep, services: ServicesDep, body: ControlBody | None = None
) -> dict[str, Any]:
    """Send a control command; stop and halt cancel everything and flatten the position."""
    blocker = services.status_extra().get("start_blocker") or pending_symbol(services)
    if action == "start" and blocker:
        raise HTTPException(status.HTTP_409_CONFLICT, blocker)
    now = services.clock.now_ns()
    reason = body.reason if body else "operator"
    event = _EVENTS[action](ts_ns=now, local_ns=now, reason=reason)  # type: ignore[call-arg]
    await services.node.submit(event)
    await services.node.drain()
    return status_body(services)
