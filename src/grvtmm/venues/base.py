"""The one venue protocol: live GRVT and the simulator both implement it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from grvtmm.core.commands import Command
from grvtmm.core.events import Event
from grvtmm.core.types import FeeSchedule, Instrument


class Venue(Protocol):
    """Market data and order updates flow out of `events()`; commands go in via `execute()`.

    `execute` never raises for venue-side failures: it reports them as events
    (`OrderRejected`, `CancelRejected`, `VenueError`) so the engine can react.
    """

    name: str

    @property
    def instrument(self) -> Instrument: ...

    @property
    def fees(self) -> FeeSchedule: ...

    async def connect(self) -> None: ...

    def events(self) -> AsyncIterator[Event]: ...

    async def execute(self, command: Command) -> None: ...

    async def close(self) -> None: ...
