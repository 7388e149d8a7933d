"""Parse an archived export folder batch (Akeneo): export files read with the mapping, media cells resolved.

The media cells are resolved to the gallery values their files were copied to.

`with_media` files were copied at registration (their values are archived beside the export); raw storage
keys of Akeneo's catalog storage (an export without `with_media`) are looked up under the catalog prefix and
copied here, the same way (each content once, nothing downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nacento_pipeline.core.akeneo.export import AkeneoBatch, collect_models, export_reader, media_cells
from nacento_pipeline.core.akeneo.mapping import MODEL_IMAGES_VARIANTS, AkeneoMapping
from nacento_pipeline.core.akeneo.media import is_export_path
from nacento_pipeline.core.batch.parse import ParsedBatch, parse_batch
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore
from nacento_pipeline.storage.drop.archive import BatchManifest, bunch_sources, media_values
from nacento_pipeline.storage.etag_snapshot import snapshot_etags
from nacento_pipeline.storage.media_placement import Placement, place_media


@dataclass(frozen=True)
class ExportBatch:
    """A parsed export folder batch, the placement of the media it copied, and its archived media count."""

    parsed: ParsedBatch
    placement: Placement  # raw catalog-storage keys copied by this parse (with_media files: at registration)
    media_files: int  # media values archived with the drop


def _catalog_objects(
    store: ObjectStore, cells: list[str], catalog_prefix: str, concurrency: int
) -> list[ObjectInfo]:
    keys = [catalog_prefix + cell for cell in cells]
    if not keys:
        return []
    frame = snapshot_etags(
        store, pd.DataFrame({"value": keys, "key": keys}), head_concurrency=concurrency
    ).frame
    found = frame.loc[frame["exists"].astype(bool)]
    return [
        ObjectInfo(key=str(k), etag=str(e), size=int(s))
        for k, e, s in zip(found["key"], found["etag"], found["size"], strict=True)
    ]


def parse_export_batch(
    store: ObjectStore,
    manifest: BatchManifest,
    mapping: AkeneoMapping,
    *,
    media_prefix: str,
    catalog_prefix: str = "",
    concurrency: int = 16,
) -> ExportBatch:
    """The ParsedBatch of an archived export folder drop."""
    sources = bunch_sources(store, manifest)
    values = media_values(store, manifest)
    archived = len(values)
    placement = Placement()
    if catalog_prefix:
        raw = [
            cell for cell in media_cells(sources, mapping) if not is_export_path(cell) and cell not in values
        ]
        objects = _catalog_objects(store, raw, catalog_prefix, concurrency)
        placement = place_media(
            store,
            objects,
            media_prefix=media_prefix,
            name_of=lambda key: key[len(catalog_prefix) :],
            concurrency=concurrency,
        )
        values.update(placement.values)
    batch = AkeneoBatch(mapping, values, catalog_prefix_set=bool(catalog_prefix))
    if mapping.model_images == MODEL_IMAGES_VARIANTS:
        collect_models(sources, batch)
    return ExportBatch(parse_batch(sources, read=export_reader(batch)), placement, archived)
