"""A batch's bunch files parsed and validated: formats, readers, sources, limits (pure)."""
