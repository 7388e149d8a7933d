"""The Dagster layer: assets, sensors, schedules, jobs, the run launcher (thin: read, call core, report)."""
