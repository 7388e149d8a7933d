"""Typed columns, warning rows and positions shared by the delta steps (pure)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from nacento_pipeline.core.delta.model import DeltaInputError, text_column
from nacento_pipeline.core.frames import REJECTION_COLUMNS, empty_frame
from nacento_pipeline.core.objects import strip_etag

# Magento's media_gallery_value.position is INT UNSIGNED; the payload allows -100000..100000.
POSITION_MIN, POSITION_MAX = 0, 4_294_967_295


def require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise `DeltaInputError` naming the frame and the first contract column it lacks."""
    for column in columns:
        if column not in frame.columns:
            raise DeltaInputError(name, column)


def as_int(series: pd.Series, default: int = 0) -> pd.Series:
    """int64, unparsable or missing values as `default`."""
    return pd.to_numeric(series, errors="coerce").fillna(default).astype("int64")


def nullable_int(series: pd.Series) -> pd.Series:
    """Int64, unparsable or missing values as <NA>."""
    return pd.to_numeric(series.astype(object), errors="coerce").astype("Int64")


def label_or_none(series: pd.Series) -> pd.Series:
    """Labels as Magento stores them: NULL for an empty label."""
    text = text_column(series)
    return text.astype(object).where(text != "", None)


def as_bool(series: pd.Series) -> pd.Series:
    """bool, missing values as False."""
    return series.astype("object").where(series.notna(), False).astype(bool)


def no_warnings() -> pd.DataFrame:
    """An empty REJECTION_COLUMNS frame."""
    return empty_frame(REJECTION_COLUMNS)


def join_warnings(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty warning frames one after the other (REJECTION_COLUMNS)."""
    found = [frame for frame in frames if len(frame)]
    return pd.concat(found, ignore_index=True) if found else no_warnings()


def warning_rows(rows: pd.DataFrame, *, field_name: str, value: pd.Series | str, reason: str) -> pd.DataFrame:
    """One warning per row of `rows` (its sku, file and line) about `field_name`."""
    if rows.empty:
        return no_warnings()
    out = pd.DataFrame(
        {
            "severity": "warning",
            "file": text_column(rows["file"]) if "file" in rows else "",
            "line": as_int(rows["line"]) if "line" in rows else 0,
            "sku": text_column(rows["sku"]),
            "field": field_name,
            "value": value,
            "reason": reason,
        },
        index=rows.index,
    )
    return out.reset_index(drop=True)[list(REJECTION_COLUMNS)]


def normalize_etag(values: pd.Series) -> pd.Series:
    """`strip_etag` over a column (stored ETags may come from older tools with quotes)."""
    text = text_column(values)
    return text.map(strip_etag).astype(text.dtype)


def position_shifts(images: pd.DataFrame, store_values: pd.DataFrame | None = None) -> pd.Series:
    """Per SKU, how far its positions move up so that the lowest one, at any scope, is 0 (0: not moved).

    One shift per SKU for its default and store-view positions alike: a store view's position replaces the
    default one in that store, so both must stay in one order (Magento's columns are UNSIGNED at every scope).
    """
    positions = [
        pd.DataFrame({"sku": text_column(images["sku"]), "position": nullable_int(images["position"])})
    ]
    if store_values is not None and len(store_values):
        positions.append(
            pd.DataFrame(
                {"sku": text_column(store_values["sku"]), "position": nullable_int(store_values["position"])}
            )
        )
    both = pd.concat(positions, ignore_index=True)
    minimum = both["position"].groupby(both["sku"]).min()
    return (-minimum).clip(lower=0).fillna(0).astype("int64")


def shifted_positions(skus: pd.Series, positions: pd.Series, shifts: pd.Series) -> pd.Series:
    """`positions` (Int64, <NA> = not given) moved up by their SKU's shift, within Magento's column range."""
    shift = text_column(skus).map(shifts).fillna(0).astype("int64").to_numpy()
    return (nullable_int(positions) + shift).clip(lower=POSITION_MIN, upper=POSITION_MAX)


def map_positions(images: pd.DataFrame, shifts: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Payload positions mapped onto Magento's UNSIGNED column; positions not given stay <NA>.

    Choice: a SKU with negative positions (default or store-view) has all its given positions shifted up by
    -min(position), which keeps the PIM's order within the gallery (clamping would tie them); other SKUs are
    untouched. Each shifted SKU is reported as a warning. Returns (mapped Int64 positions aligned with
    `images`, warnings); `shifts` come from `position_shifts`, which `shifted_positions` applies to the
    store-view ones too.
    """
    shift = text_column(images["sku"]).map(shifts).fillna(0).astype("int64")
    mapped = shifted_positions(images["sku"], images["position"], shifts)
    shifted_rows = shift > 0
    shifted = images.loc[shifted_rows, ["sku", "file", "line"]].drop_duplicates("sku")
    warnings = warning_rows(
        shifted,
        field_name="position",
        value=shift[shifted_rows].loc[shifted.index].astype(str),
        reason="negative positions shifted up by this amount (Magento's position column is unsigned)",
    )
    return mapped, warnings
