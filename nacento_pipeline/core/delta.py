"""ETag delta: what a batch changes in Magento's galleries and roles, computed from frames (pure).

Every per-SKU rule of the connector (see reference/connector-behaviour.md) lives here as set-based pandas
work; the writer only executes the resulting plan. Input frames other than those of `core.frames` are
described by the *_COLUMNS tuples below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pandas as pd

from nacento_pipeline.core.frames import (
    DELTA_ACTIONS,
    DELTA_COLUMNS,
    NO_SELECTION,
    REJECTION_COLUMNS,
    ROLE_CODES,
    ROLE_COLUMNS,
    SKU_RESULT_COLUMNS,
    WRITE_ACTIONS,
    empty_frame,
)

# --- Inputs read from Magento (magento.catalog / magento.gallery_reader) --------------------------------
# Products of the batch: sku (batch SKU), entity_id, link_id (entity_id, or row_id on Adobe Commerce),
# error ("" when usable; otherwise why the SKU must not be written, e.g. an ambiguous or near-miss SKU).
PRODUCT_COLUMNS = ("sku", "entity_id", "link_id", "error")
# Gallery state at store 0, one row per (product, media_gallery row) linked in value_to_entity:
# value as stored (with or without leading slash), canonical = canonical_of(value), record_id 0 when the
# product has no store-0 value row, stored_etag "" when nacento_media_gallery_meta has none.
GALLERY_COLUMNS = (
    "entity_id", "value_id", "value", "canonical", "record_id", "label", "position", "disabled", "stored_etag",
)
# Current store-0 role values (catalog_product_entity_varchar): value None when the row holds NULL.
ROLE_STATE_COLUMNS = ("entity_id", "role", "value")
# nacento_sku_sync_state rows: last_batch_time is a naive UTC datetime (the batch's drop time).
SYNC_STATE_COLUMNS = ("sku", "entity_id", "last_batch_key", "last_batch_time", "last_status", "last_run_id")
PAYLOAD_VALUE_COLUMNS = ("sku", "value")

SYNC_MODES = ("replace", "upsert")
# Magento's media_gallery_value.position is INT UNSIGNED; the payload allows -100000..100000.
POSITION_MIN, POSITION_MAX = 0, 4_294_967_295

TOTAL_NAMES = (
    "skus_seen", "ok", "error", "stale", "inserted", "updated_value", "updated_meta", "skipped_no_change",
    "invalid", "rejected", "purged", "deduped_path_variants", "roles_assigned",
)


class DeltaInputError(ValueError):
    """An input frame lacks a contract column (names the frame and the column)."""

    def __init__(self, frame: str, column: str) -> None:
        super().__init__(f"{frame}: missing column {column!r}")
        self.frame = frame
        self.field = column


@dataclass(frozen=True)
class DeltaRequest:
    """The batch side of a delta, kept so a writer can recompute the delta of a chunk under its lock."""

    images: pd.DataFrame
    etags: pd.DataFrame
    invalid_skus: frozenset[str]
    payload_values: pd.DataFrame
    mode: str = "replace"
    batch_time: datetime | None = None
    force: bool = False
    rejections: pd.DataFrame | None = None
    batch_key: str | None = None  # breaks ties between batches of the same drop time (see is_stale_batch)

    @property
    def skus(self) -> list[str]:
        """SKUs the request is about: those with images, then those whose every image was rejected."""
        seen = list(dict.fromkeys(self.images["sku"].astype(str)))
        known = set(seen)
        return seen + [s for s in _rejected_only_skus(self.rejections, known)]

    def for_skus(self, skus: Iterable[str]) -> DeltaRequest:
        wanted = set(skus)
        rejections = None
        if self.rejections is not None:
            rejections = self.rejections[self.rejections["sku"].isin(wanted)]
        return replace(
            self,
            images=self.images[self.images["sku"].isin(wanted)],
            payload_values=self.payload_values[self.payload_values["sku"].isin(wanted)],
            invalid_skus=frozenset(self.invalid_skus & wanted),
            rejections=rejections,
        )


def split_request(request: DeltaRequest, chunk_size: int) -> list[DeltaRequest]:
    """The request cut into chunks of `chunk_size` SKUs, each with only its own rows and ETags.

    One pass over each frame (group by chunk number), so splitting stays linear in the batch size.
    """
    skus = request.skus
    size = max(1, int(chunk_size))
    if len(skus) <= size:
        return [request] if skus else []
    chunk_of = {sku: i // size for i, sku in enumerate(skus)}
    count = (len(skus) + size - 1) // size

    def groups(frame: pd.DataFrame | None) -> list[pd.DataFrame | None]:
        if frame is None:
            return [None] * count
        numbers = frame["sku"].map(chunk_of)
        found = {int(k): g for k, g in frame.groupby(numbers, sort=False)} if len(frame) else {}
        return [found.get(i, frame.iloc[0:0]) for i in range(count)]

    images = groups(request.images)
    payload = groups(request.payload_values)
    rejections = groups(request.rejections)
    wanted = request.images[["sku", "value"]].assign(_chunk=request.images["sku"].map(chunk_of))
    wanted = wanted[["_chunk", "value"]].drop_duplicates()
    etags = request.etags.drop_duplicates("value", keep="last").merge(wanted, on="value", how="inner")
    etag_groups = {int(k): g.drop(columns="_chunk") for k, g in etags.groupby("_chunk", sort=False)}
    empty_etags = request.etags.iloc[0:0]
    invalid = request.invalid_skus
    parts = []
    for i in range(count):
        members = skus[i * size:(i + 1) * size]
        parts.append(
            replace(
                request,
                images=images[i],
                payload_values=payload[i],
                rejections=rejections[i],
                etags=etag_groups.get(i, empty_etags),
                invalid_skus=frozenset(invalid.intersection(members)),
            )
        )
    return parts


@dataclass(frozen=True)
class GalleryDelta:
    """The plan: items (DELTA_COLUMNS), role changes (ROLE_COLUMNS), per-SKU results (SKU_RESULT_COLUMNS)."""

    items: pd.DataFrame
    roles: pd.DataFrame
    sku_results: pd.DataFrame
    warnings: pd.DataFrame = field(default_factory=lambda: empty_frame(REJECTION_COLUMNS))
    request: DeltaRequest | None = None

    def counts(self) -> dict[str, int]:
        """Rows per action (every action of DELTA_ACTIONS present, 0 when none)."""
        found = self.items["action"].value_counts()
        return {action: int(found.get(action, 0)) for action in DELTA_ACTIONS}

    @property
    def changed_entity_ids(self) -> list[int]:
        """Products whose gallery or roles this delta changes, sorted."""
        written = self.items.loc[self.items["action"].isin(WRITE_ACTIONS), "entity_id"]
        ids = set(written.astype("int64").tolist()) | set(self.roles["entity_id"].astype("int64").tolist())
        ids.discard(0)
        return sorted(ids)

    def totals(self) -> dict[str, int]:
        """Batch statistics with the connector's names."""
        return summarize(self.sku_results)


def summarize(sku_results: pd.DataFrame) -> dict[str, int]:
    """skus_seen, ok, error, stale and the summed per-SKU counters of SKU_RESULT_COLUMNS."""
    status = sku_results["status"].value_counts()
    totals = {
        "skus_seen": len(sku_results),
        "ok": int(status.get("ok", 0)),
        "error": int(status.get("error", 0)),
        "stale": int(status.get("stale", 0)),
    }
    for name in TOTAL_NAMES[4:]:
        totals[name] = int(pd.to_numeric(sku_results[name]).sum()) if len(sku_results) else 0
    return totals


def concat_deltas(deltas: list[GalleryDelta], request: DeltaRequest | None = None) -> GalleryDelta:
    """One delta out of per-chunk deltas (chunks never share a SKU)."""
    if not deltas:
        return empty_delta(request)

    def cat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else empty_frame(columns)

    return GalleryDelta(
        items=cat([d.items for d in deltas], DELTA_COLUMNS),
        roles=cat([d.roles for d in deltas], ROLE_COLUMNS),
        sku_results=cat([d.sku_results for d in deltas], SKU_RESULT_COLUMNS),
        warnings=cat([d.warnings for d in deltas], REJECTION_COLUMNS),
        request=request,
    )


def empty_delta(request: DeltaRequest | None = None) -> GalleryDelta:
    return GalleryDelta(
        empty_frame(DELTA_COLUMNS), empty_frame(ROLE_COLUMNS), empty_frame(SKU_RESULT_COLUMNS), request=request
    )


def to_utc_naive(value: object) -> datetime | None:
    """Batch times are compared and stored as naive UTC datetimes."""
    if value is None or value is pd.NaT or (not isinstance(value, datetime) and pd.isna(value)):  # type: ignore[arg-type]
        return None
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts.to_pydatetime()


def is_stale_batch(
    last_time: datetime | None, last_key: str | None, batch_time: datetime | None, batch_key: str | None
) -> bool:
    """The stale-batch rule: is a batch (batch_time, batch_key) older than the last one applied to a SKU?

    Batches are ordered by drop time, then by batch key (plain string order) because S3's LastModified has
    1-second resolution and two batches dropped in the same second tie. So the outcome does not depend on
    which of the two runs first: the greater key wins. The same key at the same time is a re-run, never
    stale. Unknown times (either side) or, on a tie, an unknown key are never stale.
    """
    if last_time is None or batch_time is None:
        return False
    if last_time != batch_time:
        return last_time > batch_time
    return bool(last_key) and batch_key is not None and str(last_key) > batch_key


def normalize_etag(values: pd.Series) -> pd.Series:
    """ETags compared and stored without blanks, a weak `W/` prefix or quotes; multipart ETags ("...-N")
    stay opaque strings."""
    text = _str(values).str.strip()
    return text.str.replace(r"^W/", "", regex=True).str.strip('"')


def map_positions(images: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Payload positions mapped onto Magento's UNSIGNED column.

    Choice: a SKU with negative positions has all its positions shifted up by -min(position), which keeps
    the PIM's order within the gallery (clamping would tie them); other SKUs are untouched. Each shifted
    SKU is reported as a warning. Returns (mapped positions aligned with `images`, warnings).
    """
    position = pd.to_numeric(images["position"]).astype("int64")
    minimum = position.groupby(images["sku"]).transform("min")
    shift = (-minimum).clip(lower=0)
    mapped = (position + shift).clip(lower=POSITION_MIN, upper=POSITION_MAX)
    shifted = images.loc[shift > 0, ["sku", "file", "line"]].drop_duplicates("sku")
    warnings = _warnings(
        shifted,
        field_name="position",
        value=(-minimum[shift > 0]).loc[shifted.index].astype(str),
        reason="negative positions shifted up by this amount (Magento's position column is unsigned)",
    )
    return mapped, warnings


def compute_delta(
    images: pd.DataFrame,
    products: pd.DataFrame,
    gallery: pd.DataFrame,
    roles: pd.DataFrame,
    etags: pd.DataFrame,
    *,
    invalid_skus: Iterable[str] = (),
    payload_values: pd.DataFrame | None = None,
    mode: str = "replace",
    batch_time: datetime | None = None,
    sync_state: pd.DataFrame | None = None,
    force: bool = False,
    rejections: pd.DataFrame | None = None,
    batch_key: str | None = None,
) -> GalleryDelta:
    """The delta of a batch (or a chunk of it) against the current state of its products.

    `batch_time`/`batch_key` against `sync_state` decide staleness (see `is_stale_batch`); `force` replays.
    """
    if mode not in SYNC_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {SYNC_MODES}")
    request = DeltaRequest(
        images=images,
        etags=etags,
        invalid_skus=frozenset(invalid_skus),
        payload_values=payload_values if payload_values is not None else empty_frame(PAYLOAD_VALUE_COLUMNS),
        mode=mode,
        batch_time=to_utc_naive(batch_time),
        force=force,
        rejections=rejections,
        batch_key=batch_key,
    )
    return _Delta(request, products, gallery, roles, sync_state).compute()


# ------------------------------------------------------------------------------------------------------
# Implementation


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise DeltaInputError(name, column)


def _str(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("") if series.hasnans else series
    return series.astype("object").where(series.notna(), "").astype(str)


def _int(series: pd.Series, default: int = 0) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").fillna(default).astype("int64")


def _bool(series: pd.Series) -> pd.Series:
    return series.astype("object").where(series.notna(), False).astype(bool)


def _warnings(rows: pd.DataFrame, *, field_name: str, value: pd.Series | str, reason: str) -> pd.DataFrame:
    if rows.empty:
        return empty_frame(REJECTION_COLUMNS)
    out = pd.DataFrame(
        {
            "severity": "warning",
            "file": _str(rows["file"]) if "file" in rows else "",
            "line": _int(rows["line"]) if "line" in rows else 0,
            "sku": _str(rows["sku"]),
            "field": field_name,
            "value": value,
            "reason": reason,
        },
        index=rows.index,
    )
    return out.reset_index(drop=True)[list(REJECTION_COLUMNS)]


def _rejected_only_skus(rejections: pd.DataFrame | None, known: set[str]) -> list[str]:
    if rejections is None or rejections.empty:
        return []
    errors = rejections[(rejections["severity"] == "error") & (_str(rejections["sku"]) != "")]
    return [s for s in dict.fromkeys(_str(errors["sku"])) if s not in known]


def _canonical(values: pd.Series) -> pd.Series:
    """Vectorised `core.paths.canonical_of`."""
    return "/" + _str(values).str.strip().str.lstrip("/")


class _Delta:
    """One computation; methods are steps over whole frames (no per-image Python loops)."""

    def __init__(
        self,
        request: DeltaRequest,
        products: pd.DataFrame,
        gallery: pd.DataFrame,
        roles: pd.DataFrame,
        sync_state: pd.DataFrame | None,
    ) -> None:
        from nacento_pipeline.core.frames import IMAGE_COLUMNS

        _require(request.images, IMAGE_COLUMNS, "images")
        _require(products, ("sku", "entity_id"), "products")
        _require(gallery, GALLERY_COLUMNS, "gallery")
        _require(roles, ROLE_STATE_COLUMNS, "roles")
        _require(request.etags, ("value", "exists", "etag"), "etags")
        _require(request.payload_values, PAYLOAD_VALUE_COLUMNS, "payload_values")
        self.request = request
        self.products = products
        self.gallery = gallery
        self.role_state = roles
        self.sync_state = sync_state
        self.warnings: list[pd.DataFrame] = []

    # -- step 1: images of the batch with their product, staleness and storage state --------------------
    def _images(self) -> pd.DataFrame:
        src = self.request.images
        img = pd.DataFrame(
            {
                "sku": _str(src["sku"]),
                "value": _str(src["value"]),
                "label": _str(src["label"]),
                "position": _int(src["position"]),
                "disabled": _bool(src["disabled"]),
                "roles": _str(src["roles"]),
                "file": _str(src["file"]),
                "line": _int(src["line"]),
                "seq": _int(src["seq"]),
            }
        )
        img = img.sort_values("seq", kind="stable")
        dup = img.duplicated(["sku", "value"], keep="last")
        if dup.any():
            self.warnings.append(
                _warnings(img[dup], field_name="file_path", value=img.loc[dup, "value"],
                          reason="same image twice for this SKU: the last occurrence wins")
            )
            img = img[~dup]
        img = img.reset_index(drop=True)
        img["position"], shifted = map_positions(img)
        self.warnings.append(shifted)

        prod = self.products.copy()
        prod["sku"] = _str(prod["sku"])
        prod["entity_id"] = _int(prod["entity_id"])
        prod["link_id"] = _int(prod["link_id"]) if "link_id" in prod else prod["entity_id"]
        prod["error"] = _str(prod["error"]) if "error" in prod else ""
        prod = prod.drop_duplicates("sku", keep="first")[["sku", "entity_id", "error"]]
        img = img.merge(prod, on="sku", how="left")
        img["entity_id"] = _int(img["entity_id"])
        unknown = img["error"].isna() | (img["entity_id"] == 0)
        img["error"] = _str(img["error"])
        img.loc[unknown & (img["error"] == ""), "error"] = "unknown SKU " + img["sku"].map(repr)
        img.loc[img["error"] != "", "entity_id"] = 0

        img["stale"] = False
        img["stale_reason"] = ""
        state = self.sync_state
        if state is not None and len(state) and self.request.batch_time is not None and not self.request.force:
            last = state[["sku", "last_batch_time", "last_batch_key"]].copy()
            last["sku"] = _str(last["sku"])
            last["last_batch_time"] = pd.to_datetime(last["last_batch_time"].map(to_utc_naive))
            last = last.drop_duplicates("sku", keep="last")
            img = img.merge(last, on="sku", how="left")
            batch_time = pd.Timestamp(self.request.batch_time)
            known = img["last_batch_time"].notna()
            later = known & (img["last_batch_time"] > batch_time)
            if self.request.batch_key is not None:  # same drop time: the greater batch key wins (is_stale_batch)
                last_key = _str(img["last_batch_key"])
                later |= known & (img["last_batch_time"] == batch_time) & (last_key != "") & (
                    last_key > self.request.batch_key)
            img["stale"] = later & (img["error"] == "")
            img.loc[img["stale"], "stale_reason"] = (
                "stale: batch " + _str(img.loc[img["stale"], "last_batch_key"]) + " of "
                + img.loc[img["stale"], "last_batch_time"].astype(str)
                + " was already applied to this SKU (use force to replay)"
            )
            img = img.drop(columns=["last_batch_time", "last_batch_key"])

        etags = self.request.etags[["value", "exists", "etag"]].copy()
        etags["value"] = _str(etags["value"])
        etags["etag"] = normalize_etag(etags["etag"])
        etags = etags.drop_duplicates("value", keep="last")
        img = img.merge(etags, on="value", how="left")
        img["exists"] = _bool(img["exists"])
        img["etag"] = _str(img["etag"])
        return img

    # -- step 2: current gallery, keepers and path-variant duplicates ------------------------------------
    def _gallery(self, entity_ids: set[int]) -> pd.DataFrame:
        g = self.gallery
        g = pd.DataFrame(
            {
                "entity_id": _int(g["entity_id"]),
                "value_id": _int(g["value_id"]),
                "stored_value": _str(g["value"]),
                "canonical": _str(g["canonical"]),
                "record_id": _int(g["record_id"]),
                "cur_label": g["label"].astype(object),
                "cur_position": g["position"].astype(object),
                "cur_disabled": g["disabled"].astype(object),
                "stored_etag": normalize_etag(g["stored_etag"]),
            }
        )
        g = g[g["entity_id"].isin(entity_ids)]
        # No unique key protects (value_id, entity_id, store 0): keep the oldest value row of a pair.
        g = g.sort_values(["entity_id", "value_id", "record_id"]).drop_duplicates(["entity_id", "value_id"])
        g["is_canonical"] = g["stored_value"] == g["canonical"]
        # The canonical-form row wins over its legacy variant; then the oldest media_gallery row.
        g = g.sort_values(["entity_id", "canonical", "is_canonical", "value_id"], ascending=[True, True, False, True])
        g["keeper"] = ~g.duplicated(["entity_id", "canonical"], keep="first")
        return g.reset_index(drop=True)

    def compute(self) -> GalleryDelta:
        req = self.request
        img = self._images()
        usable = (img["error"] == "") & ~img["stale"]
        valid = usable & img["exists"]
        img["action"] = ""
        img["reason"] = ""
        failed = img["error"] != ""
        img.loc[failed, "action"] = "error"
        img.loc[failed, "reason"] = img.loc[failed, "error"]
        img.loc[img["stale"], "action"] = "stale"
        img.loc[img["stale"], "reason"] = img.loc[img["stale"], "stale_reason"]
        missing = usable & ~img["exists"]
        img.loc[missing, "action"] = "invalid"
        img.loc[missing, "reason"] = "file missing in storage: " + img.loc[missing, "value"]

        usable_entities = set(img.loc[usable, "entity_id"].tolist())
        g = self._gallery(usable_entities)
        keepers = g[g["keeper"]]

        v = img[valid].merge(
            keepers.drop(columns=["keeper", "is_canonical"]),
            left_on=["entity_id", "value"],
            right_on=["entity_id", "canonical"],
            how="left",
        )
        v["value_id"] = _int(v["value_id"])
        v["record_id"] = _int(v["record_id"])
        v["stored_etag"] = _str(v["stored_etag"])
        matched = v["canonical"].notna()
        v["target_value"] = v["stored_value"].where(matched, v["value"])

        # -- roles (a diff: only role rows whose final value differs) ------------------------------------
        role_plan = self._role_plan(img, v)
        role_paths = pd.concat(
            [
                role_plan[["entity_id", "new_value"]].rename(columns={"new_value": "path"}),
                role_plan[["entity_id", "old_value"]].rename(columns={"old_value": "path"}),
            ]
        )
        role_paths = role_paths[(role_paths["path"] != "") & (role_paths["path"] != NO_SELECTION)]
        role_paths = pd.DataFrame(
            {"entity_id": _int(role_paths["entity_id"]), "value": _canonical(role_paths["path"]), "roles_changed": True}
        ).drop_duplicates(["entity_id", "value"])
        v = v.merge(role_paths, on=["entity_id", "value"], how="left")
        v["roles_changed"] = _bool(v["roles_changed"])

        # -- existing vs new images ----------------------------------------------------------------------
        cur_label = _str(v["cur_label"])
        cur_position = pd.to_numeric(v["cur_position"], errors="coerce")
        cur_disabled = _int(v["cur_disabled"])
        no_value_row = v["record_id"] == 0
        v["meta_changed"] = matched & (
            no_value_row
            | (cur_label != v["label"])
            | cur_position.isna()
            | (cur_position.fillna(-1).astype("int64") != v["position"])
            | (cur_disabled != v["disabled"].astype("int64"))
        )
        # Both sides without quotes; an unknown ETag equal to an absent one is nothing to write.
        v["etag_changed"] = matched & (v["stored_etag"] != v["etag"])
        v["action"] = "skipped_no_change"
        v.loc[matched & (v["meta_changed"] | v["roles_changed"]), "action"] = "updated_meta"
        v.loc[v["etag_changed"], "action"] = "updated_value"
        v.loc[~matched, "action"] = "inserted"
        v.loc[~matched, "meta_changed"] = False
        v.loc[~matched, "etag_changed"] = False

        # -- removals: legacy variants of payload paths, and (replace) paths not in the payload ------------
        wanted_pairs = v[["entity_id", "value"]].rename(columns={"value": "canonical"}).drop_duplicates()
        sku_of = img[usable].drop_duplicates("entity_id").set_index("entity_id")["sku"]
        extras = g[~g["keeper"]].merge(wanted_pairs, on=["entity_id", "canonical"], how="inner")
        extras = extras.assign(
            action="deduped",
            reason="path variant " + extras["stored_value"].map(repr) + " collapsed into the canonical row",
        )
        removals = [extras]
        if req.mode == "replace":
            removals.append(self._purges(img, g, sku_of))
        removed = pd.concat([r for r in removals if len(r)], ignore_index=True) if any(len(r) for r in removals) else None

        items = self._items(img[~valid], v, removed, sku_of)
        sku_results = self._sku_results(img, items, role_plan)
        warnings = [w for w in self.warnings if len(w)]
        return GalleryDelta(
            items=items,
            roles=role_plan,
            sku_results=sku_results,
            warnings=pd.concat(warnings, ignore_index=True) if warnings else empty_frame(REJECTION_COLUMNS),
            request=req,
        )

    def _purges(self, img: pd.DataFrame, g: pd.DataFrame, sku_of: pd.Series) -> pd.DataFrame:
        """Replace mode: rows of products with at least one valid image whose path the payload never named."""
        valid = img[(img["error"] == "") & ~img["stale"] & img["exists"]]
        entities = set(valid["entity_id"].tolist())
        if not entities:
            return g.iloc[0:0]
        payload = pd.concat(
            [
                self.request.payload_values[["sku", "value"]].astype(str),
                img[["sku", "value"]],
            ]
        )
        payload["canonical"] = _canonical(payload["value"])
        payload = payload.merge(
            img[["sku", "entity_id"]].drop_duplicates("sku"), on="sku", how="inner"
        )[["entity_id", "canonical"]].drop_duplicates()
        candidates = g[g["entity_id"].isin(entities)]
        marked = candidates.merge(payload.assign(named=True), on=["entity_id", "canonical"], how="left")
        purged = marked[marked["named"].isna()].drop(columns=["named"])
        return purged.assign(action="purged", reason="not in the payload (replace mode)")

    def _role_plan(self, img: pd.DataFrame, v: pd.DataFrame) -> pd.DataFrame:
        """Managed roles: no_selection unless the last payload image (highest seq) carrying the role sets it.

        Skipped for SKUs with an error-rejected image (invalid_skus) or an image missing in storage, so a
        half-valid payload never wipes roles (the connector's documented rule).
        """
        usable = img[(img["error"] == "") & ~img["stale"]]
        blocked = set(self.request.invalid_skus) | set(usable.loc[~usable["exists"], "sku"])
        eligible = usable[~usable["sku"].isin(blocked)][["sku", "entity_id"]].drop_duplicates("sku")
        if eligible.empty:
            return empty_frame(ROLE_COLUMNS)
        carried = v[v["sku"].isin(set(eligible["sku"])) & (v["roles"] != "")][["entity_id", "roles", "seq", "target_value"]]
        carried = carried.assign(role=carried["roles"].str.split("|")).explode("role")
        carried = carried[carried["role"].isin(ROLE_CODES)]
        last = carried.sort_values("seq").drop_duplicates(["entity_id", "role"], keep="last")
        grid = eligible.merge(pd.DataFrame({"role": list(ROLE_CODES)}), how="cross")
        grid = grid.merge(last[["entity_id", "role", "target_value"]], on=["entity_id", "role"], how="left")
        grid["new_value"] = grid["target_value"].fillna(NO_SELECTION).astype(str)
        state = self.role_state[["entity_id", "role", "value"]].copy()
        state["entity_id"] = _int(state["entity_id"])
        state = state.drop_duplicates(["entity_id", "role"], keep="first").assign(has_row=True)
        grid = grid.merge(state, on=["entity_id", "role"], how="left")
        grid["old_value"] = _str(grid["value"])
        has_row = grid["has_row"].notna()
        changed = ~has_row | grid["value"].isna() | (grid["old_value"] != grid["new_value"])
        plan = grid.loc[changed, list(ROLE_COLUMNS)].reset_index(drop=True)
        plan["entity_id"] = plan["entity_id"].astype("int64")
        return plan

    def _items(
        self, rest: pd.DataFrame, v: pd.DataFrame, removed: pd.DataFrame | None, sku_of: pd.Series
    ) -> pd.DataFrame:
        parts = []
        if len(rest):
            parts.append(rest.assign(stored_etag="", value_id=0, record_id=0, meta_changed=False, etag_changed=False))
        if len(v):
            parts.append(v)
        if removed is not None and len(removed):
            parts.append(
                pd.DataFrame(
                    {
                        "sku": removed["entity_id"].map(sku_of).astype(str),
                        "value": removed["canonical"],
                        "entity_id": removed["entity_id"],
                        "action": removed["action"],
                        "reason": removed["reason"],
                        "label": _str(removed["cur_label"]),
                        "position": _int(removed["cur_position"]),
                        "disabled": _int(removed["cur_disabled"]).astype(bool),
                        "roles": "",
                        "etag": "",
                        "stored_etag": removed["stored_etag"],
                        "value_id": removed["value_id"],
                        "record_id": removed["record_id"],
                        "meta_changed": False,
                        "etag_changed": False,
                    }
                )
            )
        if not parts:
            return empty_frame(DELTA_COLUMNS)
        items = pd.concat([p[list(DELTA_COLUMNS)] for p in parts], ignore_index=True)
        for column in ("entity_id", "position", "value_id", "record_id"):
            items[column] = _int(items[column])
        for column in ("disabled", "meta_changed", "etag_changed"):
            items[column] = _bool(items[column])
        for column in ("sku", "value", "action", "reason", "label", "roles", "etag", "stored_etag"):
            items[column] = _str(items[column])
        return items

    def _sku_results(self, img: pd.DataFrame, items: pd.DataFrame, role_plan: pd.DataFrame) -> pd.DataFrame:
        first = img.drop_duplicates("sku", keep="first").set_index("sku")
        skus = list(dict.fromkeys(img["sku"]))
        rejected_only = _rejected_only_skus(self.request.rejections, set(skus))
        all_skus = skus + rejected_only
        out = pd.DataFrame({"sku": all_skus})
        out["entity_id"] = out["sku"].map(first["entity_id"]).fillna(0).astype("int64")
        counts = pd.crosstab(items["sku"], items["action"]) if len(items) else pd.DataFrame()
        for action in DELTA_ACTIONS:
            column = "deduped_path_variants" if action == "deduped" else action
            found = counts[action] if action in counts.columns else pd.Series(dtype="int64")
            out[column] = out["sku"].map(found).fillna(0).astype("int64")
        rej = self.request.rejections
        if rej is not None and len(rej):
            per_sku = rej[rej["severity"] == "error"].groupby("sku").size()
            out["rejected"] = out["sku"].map(per_sku).fillna(0).astype("int64")
        else:
            out["rejected"] = 0
        out["roles_assigned"] = out["entity_id"].map(role_plan.groupby("entity_id").size()).fillna(0).astype("int64")
        out.loc[out["sku"].isin(rejected_only), "entity_id"] = 0

        out["status"] = "ok"
        out["message"] = ""
        is_error = out["sku"].map(first["error"]).fillna("") != ""
        out.loc[is_error, "status"] = "error"
        out.loc[is_error, "message"] = out.loc[is_error, "sku"].map(first["error"])
        is_stale = out["sku"].map(first["stale"]).fillna(False).astype(bool)
        out.loc[is_stale, "status"] = "stale"
        out.loc[is_stale, "message"] = out.loc[is_stale, "sku"].map(first["stale_reason"])
        if rejected_only:
            reasons = rej[rej["severity"] == "error"].drop_duplicates("sku").set_index("sku")["reason"]  # type: ignore[index]
            mask = out["sku"].isin(rejected_only)
            out.loc[mask, "status"] = "error"
            out.loc[mask, "message"] = "no valid image: " + out.loc[mask, "sku"].map(reasons).astype(str)
        ok = out["status"] == "ok"
        blocked = ok & (out["sku"].isin(self.request.invalid_skus) | (out["invalid"] > 0))
        out.loc[blocked, "message"] = "role sync skipped: an image of this SKU was rejected or is missing in storage"
        return out[list(SKU_RESULT_COLUMNS)].reset_index(drop=True)
