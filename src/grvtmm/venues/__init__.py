"""Venues: the GRVT adapter and the simulated exchange behind one protocol."""
