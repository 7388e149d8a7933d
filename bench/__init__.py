"""Catalog-scale benchmark of the sync engine (see bench/README.md); not part of the installed package."""
