"""Test builders: frames with the contract columns of core.frames / core.delta.model from short literals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from nacento_pipeline.core.delta.model import GALLERY_COLUMNS, PRODUCT_COLUMNS, ROLE_STATE_COLUMNS
from nacento_pipeline.core.frames import (
    ETAG_COLUMNS,
    IMAGE_COLUMNS,
    REJECTION_COLUMNS,
    STORE_VALUE_COLUMNS,
    empty_frame,
)


def image_frame(rows: Iterable[Sequence[object]]) -> pd.DataFrame:
    """Rows of (sku, value, label="", position=0, disabled=False, roles=""); file/line/seq are filled in."""
    records = []
    for seq, row in enumerate(rows, start=1):
        sku, value, *rest = row
        label, position, disabled, roles = (list(rest) + ["", 0, False, ""][len(rest) :])[:4]
        records.append(
            {
                "sku": sku,
                "value": value,
                "label": label,
                "position": position,
                "disabled": disabled,
                "roles": roles,
                "file": "import-media_t_01.csv",
                "line": seq + 1,
                "seq": seq,
            }
        )
    return pd.DataFrame(records, columns=list(IMAGE_COLUMNS)) if records else empty_frame(IMAGE_COLUMNS)


def etag_frame(present: dict[str, str], missing: Iterable[str] = ()) -> pd.DataFrame:
    """ETag snapshot: value -> etag for present files, plus missing values."""
    rows = [
        {"value": v, "key": "media/catalog/product" + v, "exists": True, "etag": e, "size": 10}
        for v, e in present.items()
    ]
    rows += [
        {"value": v, "key": "media/catalog/product" + v, "exists": False, "etag": "", "size": 0}
        for v in missing
    ]
    return pd.DataFrame(rows, columns=list(ETAG_COLUMNS)) if rows else empty_frame(ETAG_COLUMNS)


def product_frame(skus: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"sku": s, "entity_id": e, "link_id": e, "error": ""} for s, e in skus.items()],
        columns=list(PRODUCT_COLUMNS),
    )


def gallery_frame(rows: Iterable[Sequence[object]]) -> pd.DataFrame:
    """Rows of (entity_id, value_id, stored value, record_id, label, position, disabled, stored_etag[, owned,
    links]); owned defaults to "a stored ETag row exists" (etag given), links to 1."""
    records = []
    for row in rows:
        e, vid, val, rid, label, pos, dis, etag, *rest = row
        owned, links = (list(rest) + [bool(etag), 1][len(rest) :])[:2]
        records.append(
            {
                "entity_id": e,
                "value_id": vid,
                "value": val,
                "canonical": "/" + str(val).lstrip("/"),
                "record_id": rid,
                "label": label,
                "position": pos,
                "disabled": dis,
                "stored_etag": etag,
                "owned": owned,
                "links": links,
            }
        )
    return pd.DataFrame(records, columns=list(GALLERY_COLUMNS)) if records else empty_frame(GALLERY_COLUMNS)


def role_frame(rows: Iterable[Sequence[object]] = ()) -> pd.DataFrame:
    """Rows of (entity_id, role, value[, store_id=0])."""
    records = [
        {"entity_id": row[0], "role": row[1], "value": row[2], "store_id": row[3] if len(row) > 3 else 0}
        for row in rows
    ]
    return (
        pd.DataFrame(records, columns=list(ROLE_STATE_COLUMNS))
        if records
        else empty_frame(ROLE_STATE_COLUMNS)
    )


def rejection_frame(rows: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """Rows of (sku, field, reason), severity error."""
    records = [
        {"severity": "error", "file": "f", "line": 1, "sku": s, "field": f, "value": "", "reason": r}
        for s, f, r in rows
    ]
    return (
        pd.DataFrame(records, columns=list(REJECTION_COLUMNS)) if records else empty_frame(REJECTION_COLUMNS)
    )


@dataclass(frozen=True)
class FakeBatch:
    """Stand-in for core.batch.parse.ParsedBatch with the attributes the engine reads."""

    images: pd.DataFrame
    rejections: pd.DataFrame = field(default_factory=lambda: empty_frame(REJECTION_COLUMNS))
    invalid_skus: set[str] = field(default_factory=set)
    extra_payload: tuple[tuple[str, str], ...] = ()
    store_values: pd.DataFrame | None = None
    role_scope: pd.DataFrame | None = None

    @property
    def payload_values(self) -> pd.DataFrame:
        frame = self.images[["sku", "value"]]
        extra = pd.DataFrame(list(self.extra_payload), columns=["sku", "value"])
        return pd.concat([frame, extra], ignore_index=True) if len(extra) else frame.reset_index(drop=True)


def store_value_frame(rows: Iterable[Sequence[object]]) -> pd.DataFrame:
    """Rows of (sku, value, store, label=None, position=None, disabled=None, roles=""), file/line/seq set."""
    records = []
    for seq, row in enumerate(rows, start=1):
        sku, value, store, *rest = row
        label, position, disabled, roles = (list(rest) + [None, None, None, ""][len(rest) :])[:4]
        records.append(
            {
                "sku": sku,
                "value": value,
                "store": store,
                "label": label,
                "position": position,
                "disabled": disabled,
                "roles": roles,
                "file": "import-media_t_01.json",
                "line": seq,
                "seq": 1000 + seq,
            }
        )
    frame = pd.DataFrame(records, columns=list(STORE_VALUE_COLUMNS))
    frame["position"] = frame["position"].astype("Int64")
    frame["disabled"] = frame["disabled"].astype("boolean")
    return frame
