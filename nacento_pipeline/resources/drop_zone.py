"""The drop workflow's layout and caps, read by the drop sensor, the status sensors and `pim_batch` alike."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from nacento_pipeline.core.batch.input_limits import MIB, InputLimits


class DropZoneResource(dg.ConfigurableResource):
    """Where the PIM drops batches and where they go, and the caps on what one drop may make a worker read.

    A resource rather than run config because sensors read it too (they have no run config): the drop sensor
    registers with these prefixes and caps, `pim_batch` reads the archive with the same ones.
    """

    drop_prefix: str = Field(description="Where the PIM drops batches (NACENTO_DROP_PREFIX).")
    archive_prefix: str = Field(description="Immutable copies of registered batches.")
    rejected_prefix: str = Field(description="Invalid drops, moved aside with their report.")
    max_bunch_file_mb: int = Field(description="A drop with a larger bunch file is refused unread.")
    max_ok_file_kb: int = Field(description="A drop with a larger OK file is refused unread.")
    max_invalid_names_per_tick: int = Field(description="Invalid names moved aside per sensor tick.")
    max_field_chars: int = Field(description="A longer field of an image row makes its file unreadable.")
    max_batch_images: int = Field(description="A batch with more image rows is unreadable.")
    events_reconcile_minutes: int = Field(
        description="Event mode: a full LIST of the drop prefix at least this often."
    )
    step_processes_above_mb: int = Field(
        description="Bunch files above this many MB run one process per step (0: every batch)."
    )

    @property
    def limits(self) -> InputLimits:
        """The caps as core.batch.input_limits takes them (bytes, counts)."""
        return InputLimits(
            bunch_file_bytes=self.max_bunch_file_mb * MIB,
            ok_file_bytes=self.max_ok_file_kb * 1024,
            invalid_names_per_pass=self.max_invalid_names_per_tick,
            field_chars=self.max_field_chars,
            batch_images=self.max_batch_images,
        )
