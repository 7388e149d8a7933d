"""The drop workflow: registration, the batch archive, sample drops."""
