"""The trading engine: a synchronous state machine turning events into commands (no I/O)."""
