"""Monitoring: session figures (volume, PnL, fees, wear), time series and Prometheus metrics."""
