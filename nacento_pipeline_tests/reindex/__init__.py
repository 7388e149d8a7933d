"""Tests for the reindex decision, indexer adapter, triggers and resized-image cache purge."""
