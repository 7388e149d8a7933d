"""Sample data for the embedded default: tiny generated PNG images, a small demo catalog and sample batches.

Everything is generated here (no downloaded data): each image is an 8x8 solid-colour PNG, so its content
(and therefore its ETag) changes when its colour does.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from nacento_pipeline.storage.adapters.base import ObjectStore

DEMO_SKUS = tuple(f"NAC-{n:04d}" for n in range(1001, 1013))
VIEWS = ("front", "back", "side")


def png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A valid solid-colour PNG of size x size pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_value(sku: str, view: str) -> str:
    """Magento's layout: /<first char>/<second char>/<file name>."""
    name = f"{sku.lower()}-{view}.png"
    return f"/{name[0]}/{name[1]}/{name}"


def _colour(seed: str) -> tuple[int, int, int]:
    digest = zlib.crc32(seed.encode())
    return (digest & 0xFF, (digest >> 8) & 0xFF, (digest >> 16) & 0xFF)


def put_demo_images(store: ObjectStore, media_prefix: str, generation: int = 0) -> int:
    """Upload the demo images (generation changes the colour of the `front` images of the first 2 SKUs)."""
    count = 0
    for sku in DEMO_SKUS:
        for view in VIEWS:
            seed = f"{sku}-{view}"
            if generation and view == "front" and sku in DEMO_SKUS[:2]:
                seed += f"-g{generation}"
            store.put(media_prefix + image_value(sku, view).lstrip("/"), png(_colour(seed)))
            count += 1
    return count


@dataclass(frozen=True)
class SampleBatch:
    """A sample batch written to the drop prefix: its batch key and the keys written."""

    batch_key: str
    keys: tuple[str, ...]


def _gallery_csv(skus: tuple[str, ...], generation: int) -> str:
    lines = ["sku,file_path,label,position,disabled,roles"]
    for sku in skus:
        for position, view in enumerate(VIEWS, start=1):
            label = f"{sku} {view}" + (" (new label)" if generation and view == "back" else "")
            roles = '"base|small_image|thumbnail"' if view == "front" else ""
            if generation and view == "side" and sku == skus[-1]:
                continue  # the side view was removed from the PIM: replace mode purges it
            lines.append(f"{sku},{image_value(sku, view)},{label},{position},0,{roles}")
    return "\n".join(lines) + "\n"


def _bulk_json(skus: tuple[str, ...], generation: int) -> str:
    items = []
    for sku in skus:
        images = [
            {
                "file_path": image_value(sku, view),
                "label": f"{sku} {view}",
                "position": position,
                "disabled": generation > 0 and view == "side",
                "roles": ["base", "small_image", "thumbnail", "swatch_image"] if view == "front" else [],
            }
            for position, view in enumerate(VIEWS, start=1)
        ]
        items.append({"sku": sku, "images": images})
    return json.dumps({"request": {"request_id": f"demo-{generation}", "items": items}}, indent=1)


def drop_sample_batch(
    store: ObjectStore, drop_prefix: str, generation: int = 0, now: datetime | None = None
) -> SampleBatch:
    """Write a two-bunch sample batch (gallery CSV + connector JSON) and its OK file into the drop prefix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    identifier = f"demo-{stamp}-g{generation}"
    base = f"{drop_prefix}import-media_{identifier}"
    csv_key, json_key, ok_key = f"{base}_01.csv", f"{base}_02.json", f"{base}.ok"
    store.put(csv_key, _gallery_csv(DEMO_SKUS[:8], generation).encode())
    store.put(json_key, _bulk_json(DEMO_SKUS[8:], generation).encode())
    store.put(ok_key, b"")  # an empty OK file: every bunch of the batch belongs to it
    return SampleBatch(batch_key=f"media_{identifier}", keys=(csv_key, json_key, ok_key))
