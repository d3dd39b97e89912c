"""Fixtures of the security suite (defined in security_support)."""

from security_support import secured

__all__ = ["secured"]
