"""Side-channel subscribers (store, metrics, alerts, API stream, recorder).

The node publishes every venue event, engine notice and command to each sink. `publish` must
never block or raise: a sink buffers in its own bounded queue, drops (and counts) when full, and
does its I/O elsewhere, so a slow database or chat service never delays a cancel.
"""

from __future__ import annotations

from typing import Protocol

from grvtmm.core.commands import Command
from grvtmm.core.events import Event

Published = Event | Command


class Sink(Protocol):
    name: str

    def publish(self, item: Published) -> None:
        """Hand over one item without blocking."""
        ...

    @property
    def dropped(self) -> int:
        """Items dropped because the sink's queue was full."""
        ...
