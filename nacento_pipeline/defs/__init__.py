"""The Dagster layer: assets, sensors, schedules, jobs and the run launcher (thin: read, call core, report)."""
