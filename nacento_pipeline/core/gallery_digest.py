"""Per-SKU digest of what a batch plans for a SKU's gallery, so that a re-sync can leave unchanged SKUs alone.

The digest covers everything of the batch the delta rules read for one SKU: its images (path, label, position,
disabled, roles, and their order in the payload), the ETag and existence of each path as the snapshot saw it,
its store-level values, the roles it manages, the paths of its payload (valid or not) and the sync mode. Two
equal digests mean the same request for that SKU; whether Magento still holds what was applied is a matter of
the database (magento.gallery.digest guards it with the product's updated_at, and the daily audit compares a
checksum of the product's gallery rows).

Computed for a whole batch at once: one 64-bit hash per row (pandas, no Python call per row), summed per SKU,
with the SKU's row count (a chance of 2**-64 that two different requests for a SKU agree). Order-independent sums, so each row carries its rank within its SKU where order
matters (the images: the last one carrying a role wins, positions may follow the payload order).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from nacento_pipeline.core.delta.model import DeltaRequest

_KEY = "nacento-digest-1"  # pandas' row hash key (16 characters)
DIGEST_LENGTH = 32  # hex characters: the sum of the row hashes, then the row count

_IMAGE_FIELDS = ("value", "label", "position", "disabled", "roles")
_STORE_FIELDS = ("value", "store", "label", "position", "disabled", "roles")


def _text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The columns as text (missing values as one marker), so equal requests hash equally whatever the dtypes
    their reader gave them."""
    out = pd.DataFrame(index=frame.index)
    for name in columns:
        column = frame[name].astype(object)
        out[name] = column.where(column.notna(), "\x00").astype(str)
    return out


def _row_hashes(kind: str, frame: pd.DataFrame) -> list[pd.DataFrame]:
    """Per row of `frame` (its sku column and the rest as text): sku and the row's hash, tagged by kind."""
    if frame.empty:
        return []
    rows = frame.assign(_kind=kind)
    hashes = pd.util.hash_pandas_object(rows.drop(columns="sku"), index=False, hash_key=_KEY).to_numpy(
        np.uint64
    )
    return [pd.DataFrame({"sku": frame["sku"].to_numpy(), "h": hashes})]


def planned_digests(request: DeltaRequest) -> pd.Series:
    """sku -> digest (DIGEST_LENGTH hex characters) of every SKU with images in the request, except SKUs with
    rejected or invalid rows (those are always planned). Index: the SKUs, in request order."""
    images = request.images
    if images.empty:
        return pd.Series([], dtype=object, name="digest")
    skus = images["sku"].astype(str)
    ordered = (
        images.assign(sku=skus).sort_values("seq", kind="stable")
        if "seq" in images
        else images.assign(sku=skus)
    )
    text = _text(ordered, _IMAGE_FIELDS)
    text["rank"] = ordered.groupby("sku", sort=False).cumcount().astype(str)
    etags = request.etags.drop_duplicates("value", keep="last").set_index("value")
    seen = text["value"].map(etags["etag"].astype(str)) if len(etags) else pd.Series("", index=text.index)
    exists = (
        text["value"].map(etags["exists"].astype(bool)) if len(etags) else pd.Series(False, index=text.index)
    )
    text["etag"] = seen.fillna("").astype(str)
    text["exists"] = exists.fillna(False).astype(str)
    text["mode"] = request.mode
    parts = _row_hashes("image", text.assign(sku=ordered["sku"].to_numpy()))
    if request.store_values is not None and len(request.store_values):
        store = request.store_values
        parts += _row_hashes(
            "store", _text(store, _STORE_FIELDS).assign(sku=store["sku"].astype(str).to_numpy())
        )
    if request.role_scope is not None and len(request.role_scope):
        scope = request.role_scope
        parts += _row_hashes(
            "scope", _text(scope, ("managed_roles",)).assign(sku=scope["sku"].astype(str).to_numpy())
        )
    if len(request.payload_values):
        payload = request.payload_values
        parts += _row_hashes(
            "payload", _text(payload, ("value",)).assign(sku=payload["sku"].astype(str).to_numpy())
        )
    rows = pd.concat(parts, ignore_index=True)
    wanted = pd.Index(pd.unique(skus))
    rows = rows[wanted.get_indexer(rows["sku"]) >= 0]
    grouped = rows.groupby("sku", sort=False)["h"]
    sums = grouped.sum()  # uint64 sums wrap: still order-independent
    counts = grouped.size().reindex(sums.index)
    digests = pd.Series(
        [
            f"{a:016x}{b:016x}"
            for a, b in zip(
                sums.to_numpy(np.uint64).tolist(), counts.to_numpy(np.uint64).tolist(), strict=True
            )
        ],
        index=sums.index,
        dtype=object,
    )
    digests = digests.reindex(wanted)
    always = set(request.invalid_skus) | _rejected_skus(request.rejections)
    keep = ~digests.index.isin(list(always)) if always else np.ones(len(digests), dtype=bool)
    return digests[keep].rename("digest")


def _rejected_skus(rejections: pd.DataFrame | None) -> set[str]:
    if rejections is None or rejections.empty:
        return set()
    return set(rejections.loc[rejections["severity"] == "error", "sku"].astype(str))


def unchanged_skus(planned: pd.Series, applied: pd.Series) -> list[str]:
    """SKUs of `planned` (sku -> digest) whose digest equals the one `applied` (sku -> digest) holds, in
    `planned`'s order."""
    if planned.empty or applied.empty:
        return []
    same = planned.to_numpy(object) == applied.reindex(planned.index).to_numpy(object)
    return [str(s) for s in planned.index[same]]
