"""Quoting logic: pure functions for the models, small state objects for estimators and modes."""
