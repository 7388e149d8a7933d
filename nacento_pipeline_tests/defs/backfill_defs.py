"""Definitions for the backfill test's code server: built from the NACENTO_* environment the test sets."""

from nacento_pipeline.config import Settings
from nacento_pipeline.definitions import build_definitions

defs = build_definitions(Settings.from_env())
