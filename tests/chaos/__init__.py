"""Chaos suite: one injected fault per scenario against the real node and the fake GRVT."""
