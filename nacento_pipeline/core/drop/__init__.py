"""The drop zone: which objects make a complete drop, and the bucket's events (pure)."""
