"""Per-SKU digest of what a batch plans for a SKU's gallery, so that a re-sync can leave unchanged SKUs alone.

The digest covers everything of the batch the delta rules read for one SKU: its images (path, label, position,
disabled, roles, and their order in the payload), the ETag and existence of each path as the snapshot saw it,
its store-level values, the roles it manages, the paths of its payload (valid or not) and the sync mode. Two
equal digests mean the same request for that SKU; whether Magento still holds what was applied is a matter of
the database (magento.gallery.digest guards it with the product's updated_at, and the daily audit compares a
checksum of the product's gallery rows).

Computed for a whole batch at once: one 64-bit hash per row (pandas, no Python call per row), summed per SKU,
with the SKU's row count (a chance of 2**-64 that two different requests for a SKU agree). Order-independent
sums, so each row carries its rank within its SKU where order matters (the images: the last one carrying a
role wins, positions may follow the payload order).
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
    """The columns as text (missing values as one marker).

    So equal requests hash equally whatever the dtypes their reader gave them.
    """
    out = pd.DataFrame(index=frame.index)
    for name in columns:
        column = frame[name].astype(object)
        out[name] = column.where(column.notna(), "\x00").astype(str)
    return out


def _row_hashes(kind: str, frame: pd.DataFrame) -> np.ndarray:
    """The hash of each row of `frame` (its columns as text, then the kind)."""
    rows = frame.assign(_kind=kind)
    # categorize=False: the same hashes, without factorizing first (most values are distinct: 4x faster)
    return pd.util.hash_pandas_object(rows, index=False, hash_key=_KEY, categorize=False).to_numpy(np.uint64)


_Rows = tuple[np.ndarray, np.ndarray]  # (position of each row's SKU among the request's SKUs, row hash)


def _sku_rows(kind: str, frame: pd.DataFrame | None, columns: Iterable[str], skus: pd.Index) -> _Rows | None:
    """(position of the row's SKU in `skus`, row hash) of the rows of `frame` whose SKU is one of `skus`."""
    if frame is None or frame.empty:
        return None
    codes = skus.get_indexer(frame["sku"].astype(str))
    mine = codes >= 0
    if not mine.any():
        return None
    return codes[mine], _row_hashes(kind, _text(frame.loc[mine], columns))


def planned_digests(request: DeltaRequest) -> pd.Series:
    """Sku -> digest of every SKU with images in the request, except SKUs with rejected or invalid rows.

    Digests of DIGEST_LENGTH hex characters; SKUs with rejected or invalid rows are always planned. Index: the
    SKUs, in request order.

    Set-based: the rows' SKUs as positions in the request's SKUs (one hash lookup per frame), one hash per row
    (pandas), summed per SKU by numpy (uint64 sums wrap: still order-independent).
    """
    images = request.images
    if images.empty:
        return pd.Series([], dtype=object, name="digest")
    skus = images["sku"].astype(str)
    wanted = pd.Index(pd.unique(skus))
    order = np.argsort(images["seq"].to_numpy(), kind="stable") if "seq" in images else np.arange(len(images))
    ordered = images.loc[:, list(_IMAGE_FIELDS)].iloc[order]
    codes = wanted.get_indexer(skus.iloc[order])
    text = _text(ordered, _IMAGE_FIELDS)
    text["rank"] = pd.Series(codes).groupby(codes, sort=False).cumcount().astype(str).to_numpy()
    etags = request.etags.drop_duplicates("value", keep="last")
    at = pd.Index(etags["value"]).get_indexer(text["value"])  # -1 (not in the snapshot): the appended default
    text["etag"] = np.append(etags["etag"].astype(str).to_numpy(object), "")[at]
    text["exists"] = np.where(np.append(etags["exists"].astype(bool).to_numpy(), False)[at], "True", "False")
    text["mode"] = request.mode
    parts: list[_Rows | None] = [
        (codes, _row_hashes("image", text)),
        _sku_rows("store", request.store_values, _STORE_FIELDS, wanted),
        _sku_rows("scope", request.role_scope, ("managed_roles",), wanted),
        _sku_rows("payload", request.payload_values, ("value",), wanted),
    ]
    sums = np.zeros(len(wanted), dtype=np.uint64)
    counts = np.zeros(len(wanted), dtype=np.int64)
    for part in parts:
        if part is not None:
            np.add.at(sums, part[0], part[1])
            counts += np.bincount(part[0], minlength=len(wanted))
    digests = pd.Series(
        [f"{a:016x}{b:016x}" for a, b in zip(sums.tolist(), counts.tolist(), strict=True)],
        index=wanted,
        dtype=object,
    )
    always = set(request.invalid_skus) | _rejected_skus(request.rejections)
    keep = ~digests.index.isin(list(always)) if always else np.ones(len(digests), dtype=bool)
    return digests[keep].rename("digest")


def _rejected_skus(rejections: pd.DataFrame | None) -> set[str]:
    if rejections is None or rejections.empty:
        return set()
    return set(rejections.loc[rejections["severity"] == "error", "sku"].astype(str))


def unchanged_skus(planned: pd.Series, applied: pd.Series) -> list[str]:
    """SKUs of `planned` whose digest equals the one `applied` holds, in `planned`'s order.

    Both map sku -> digest.
    """
    if planned.empty or applied.empty:
        return []
    same = planned.to_numpy(object) == applied.reindex(planned.index).to_numpy(object)
    return [str(s) for s in planned.index[same]]
