"""grvt-mm: a self-hosted automated market maker for GRVT USDT perpetuals."""

__version__ = "0.1.0"
