"""Dagster wiring for gongshi: per-dataset assets from one factory, the day's ledger, schedule, sensor."""
