"""The engine's lifecycle as a transition table."""

from __future__ import annotations

from grvtmm.core.events import EngineMode

M = EngineMode

TRANSITIONS: dict[EngineMode, frozenset[EngineMode]] = {
    M.IDLE: frozenset({M.RECONCILING, M.HALTED}),
    M.RECONCILING: frozenset({M.RUNNING, M.STOPPING, M.HALTING}),
    M.RUNNING: frozenset({M.PAUSED, M.STOPPING, M.HALTING}),
    M.PAUSED: frozenset({M.RUNNING, M.STOPPING, M.HALTING}),
    M.STOPPING: frozenset({M.FLATTENING, M.HALTING, M.STOPPED}),
    M.HALTING: frozenset({M.FLATTENING, M.HALTED}),
    M.FLATTENING: frozenset({M.STOPPED, M.HALTED, M.HALTING}),
    M.STOPPED: frozenset({M.RECONCILING, M.HALTED}),
    M.HALTED: frozenset({M.RECONCILING}),
}

QUOTING = frozenset({M.RUNNING})
FLATTEN_MODES = frozenset({M.STOPPING, M.HALTING, M.FLATTENING})
STARTABLE = frozenset({M.IDLE, M.STOPPED, M.HALTED})
ACTIVE = frozenset({M.RECONCILING, M.RUNNING, M.PAUSED})


class IllegalModeChange(RuntimeError):
    """The engine was asked to move between modes its lifecycle does not connect."""


def check(old: EngineMode, new: EngineMode) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalModeChange(f"{old.value} -> {new.value}")
