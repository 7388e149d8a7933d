"""Sync modes: what a batch does with a product's gallery images that it does not list.

- `replace_owned` (default): remove only images this pipeline (or the PHP connector) wrote, known from
  `nacento_media_gallery_meta`; images an admin added by hand stay.
- `replace_all`: remove every image the batch does not list (the connector's behaviour; never videos).
- `append`: never remove anything (Magento's native import behaviour).

The old names `replace` and `upsert` are accepted as aliases of `replace_all` and `append`.
"""

from __future__ import annotations

REPLACE_OWNED = "replace_owned"
REPLACE_ALL = "replace_all"
APPEND = "append"
SYNC_MODES = (REPLACE_OWNED, REPLACE_ALL, APPEND)
DEFAULT_SYNC_MODE = REPLACE_OWNED
MODE_ALIASES = {"replace": REPLACE_ALL, "upsert": APPEND}


class SyncModeError(ValueError):
    """An unknown sync mode name."""


def normalize_mode(name: str) -> str:
    """The canonical mode for a name or alias (case and blanks ignored); raises SyncModeError otherwise."""
    key = str(name).strip().lower().replace("-", "_")
    key = MODE_ALIASES.get(key, key)
    if key not in SYNC_MODES:
        choices = ", ".join((*SYNC_MODES, *MODE_ALIASES))
        raise SyncModeError(f"sync mode {name!r}: expected one of {choices}")
    return key


def removes_images(mode: str) -> bool:
    """Does this mode remove images the batch does not list?"""
    return normalize_mode(mode) != APPEND


def choose_mode(run_mode: str | None, batch_mode: str | None, default_mode: str) -> tuple[str, str]:
    """The mode a run uses and where it came from.

    That is the run's config, else the batch's own (native import CSVs append, as Magento's import does), else
    the configured default.
    """
    if run_mode:
        return normalize_mode(run_mode), "run config"
    if batch_mode:
        return normalize_mode(batch_mode), "batch format"
    return normalize_mode(default_mode), "NACENTO_SYNC_MODE"
