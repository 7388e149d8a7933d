"""ETag delta, the rules: what a batch changes in Magento's galleries and roles, computed from frames (pure).

Every per-SKU rule lives here as set-based pandas work, and the writer only executes the resulting plan:
the connector's rules (validation, ETag comparison, stale batches, path variants) and what Magento itself
does around a gallery change (one media_gallery row per product and path, removal with its roles,
store-level rows, role labels, positions after the maximum). The frames are those of `core.delta` (the
model) and `core.frames`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from nacento_pipeline.core.delta import (
    GALLERY_COLUMNS,
    PAYLOAD_VALUE_COLUMNS,
    ROLE_STATE_COLUMNS,
    DeltaInputError,
    DeltaRequest,
    GalleryDelta,
    MagentoState,
    rejected_only_skus,
    text_column,
    to_utc_naive,
)
from nacento_pipeline.core.frames import (
    DELTA_ACTIONS,
    DELTA_COLUMNS,
    EXTRA_VALUE_ROW_COLUMNS,
    IMAGE_COLUMNS,
    NO_SELECTION,
    REJECTION_COLUMNS,
    ROLE_CODES,
    ROLE_COLUMNS,
    ROLE_LABEL_CODES,
    ROLE_SCOPE_COLUMNS,
    SKU_RESULT_COLUMNS,
    STORE_VALUE_COLUMNS,
    STORE_WRITE_COLUMNS,
    empty_frame,
)
from nacento_pipeline.core.image_sanity import not_an_image_reasons
from nacento_pipeline.core.modes import APPEND, DEFAULT_SYNC_MODE, REPLACE_OWNED
from nacento_pipeline.core.objects import strip_etag
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.core.roles import DELETE_GUARDED_ROLES

# Magento's media_gallery_value.position is INT UNSIGNED; the payload allows -100000..100000.
POSITION_MIN, POSITION_MAX = 0, 4_294_967_295


def normalize_etag(values: pd.Series) -> pd.Series:
    """`strip_etag` over a column (stored ETags may come from older tools with quotes)."""
    text = text_column(values)
    return text.map(strip_etag).astype(text.dtype)


def position_shifts(images: pd.DataFrame, store_values: pd.DataFrame | None = None) -> pd.Series:
    """Per SKU, how far its positions move up so that the lowest one, at any scope, is 0 (0: not moved).

    One shift per SKU for its default and store-view positions alike: a store view's position replaces the
    default one in that store, so both must stay in one order (Magento's columns are UNSIGNED at every scope).
    """
    positions = [pd.DataFrame({"sku": text_column(images["sku"]), "position": _nullable_int(images["position"])})]
    if store_values is not None and len(store_values):
        positions.append(pd.DataFrame({"sku": text_column(store_values["sku"]),
                                       "position": _nullable_int(store_values["position"])}))
    both = pd.concat(positions, ignore_index=True)
    minimum = both["position"].groupby(both["sku"]).min()
    return (-minimum).clip(lower=0).fillna(0).astype("int64")


def shifted_positions(skus: pd.Series, positions: pd.Series, shifts: pd.Series) -> pd.Series:
    """`positions` (Int64, <NA> = not given) moved up by their SKU's shift, within Magento's column range."""
    shift = text_column(skus).map(shifts).fillna(0).astype("int64").to_numpy()
    return (_nullable_int(positions) + shift).clip(lower=POSITION_MIN, upper=POSITION_MAX)


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
    warnings = _warnings(
        shifted,
        field_name="position",
        value=shift[shifted_rows].loc[shifted.index].astype(str),
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
    mode: str = DEFAULT_SYNC_MODE,
    batch_time: datetime | None = None,
    sync_state: pd.DataFrame | None = None,
    force: bool = False,
    rejections: pd.DataFrame | None = None,
    batch_key: str | None = None,
    store_values: pd.DataFrame | None = None,
    role_scope: pd.DataFrame | None = None,
    store_state: pd.DataFrame | None = None,
    stores: dict[str, int] | None = None,
) -> GalleryDelta:
    """The delta of a batch (or a chunk of it) against the current state of its products.

    `batch_time`/`batch_key` against `sync_state` decide staleness (see `_Delta._stale`); `force` replays.
    `store_state` holds the products' store-level value rows and `stores` maps store codes to ids.
    """
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
        store_values=store_values,
        role_scope=role_scope,
    )
    state = MagentoState(products, gallery, roles, sync_state, store_state, stores or {})
    return delta_for(request, state)


def delta_for(request: DeltaRequest, state: MagentoState) -> GalleryDelta:
    """The delta of a request against Magento's state (the one entry point the engine and writer use)."""
    return _Delta(request, state).compute()


# ------------------------------------------------------------------------------------------------------
# Implementation


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise DeltaInputError(name, column)


def _int(series: pd.Series, default: int = 0) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").fillna(default).astype("int64")


def _nullable_int(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.astype(object), errors="coerce").astype("Int64")


def _label_or_none(series: pd.Series) -> pd.Series:
    """Labels as Magento stores them: NULL for an empty label."""
    text = text_column(series)
    return text.astype(object).where(text != "", None)


def _bool(series: pd.Series) -> pd.Series:
    return series.astype("object").where(series.notna(), False).astype(bool)


def _warnings(rows: pd.DataFrame, *, field_name: str, value: pd.Series | str, reason: str) -> pd.DataFrame:
    if rows.empty:
        return empty_frame(REJECTION_COLUMNS)
    out = pd.DataFrame(
        {
            "severity": "warning",
            "file": text_column(rows["file"]) if "file" in rows else "",
            "line": _int(rows["line"]) if "line" in rows else 0,
            "sku": text_column(rows["sku"]),
            "field": field_name,
            "value": value,
            "reason": reason,
        },
        index=rows.index,
    )
    return out.reset_index(drop=True)[list(REJECTION_COLUMNS)]




class _Delta:
    """One computation; methods are steps over whole frames (no per-image Python loops), read top to bottom
    in `compute`."""

    def __init__(self, request: DeltaRequest, state: MagentoState) -> None:
        _require(request.images, IMAGE_COLUMNS, "images")
        _require(state.products, ("sku", "entity_id"), "products")
        _require(state.gallery, GALLERY_COLUMNS, "gallery")
        _require(state.roles, ROLE_STATE_COLUMNS, "roles")
        _require(request.etags, ("value", "exists", "etag"), "etags")
        _require(request.payload_values, PAYLOAD_VALUE_COLUMNS, "payload_values")
        if request.store_values is not None:
            _require(request.store_values, STORE_VALUE_COLUMNS, "store_values")
        if request.role_scope is not None:
            _require(request.role_scope, ROLE_SCOPE_COLUMNS, "role_scope")
        self.request = request
        self.state = state
        self.role_state = _role_state(state.roles)
        self.role_codes = tuple(state.role_codes)
        self.warnings: list[pd.DataFrame] = []
        self._position_shifts = pd.Series(dtype="int64")  # per SKU, set with the batch's images
        self.kept_for_store_roles = pd.DataFrame(columns=["sku", "entity_id", "stored_value", "role", "store_id"])
        self._custom_roles_named = self._named_custom_roles()
        self.extra_value_rows = empty_frame(EXTRA_VALUE_ROW_COLUMNS)
        self.unknown_skus: tuple[str, ...] = ()

    def _named_custom_roles(self) -> pd.DataFrame:
        """(sku, role) of the shop's custom roles (media_image attributes besides the standard four) that the
        batch's images or store-level rows name; the names of no role of the shop are warned about (file, line),
        as Magento's import reports an unknown column, and ignored."""
        frames = [self.request.images[["sku", "roles", "file", "line"]]]
        if self.request.store_values is not None and len(self.request.store_values):
            frames.append(self.request.store_values[["sku", "roles", "file", "line"]])
        named = pd.concat(frames, ignore_index=True)
        named = named[text_column(named["roles"]) != ""]
        named = named.assign(role=text_column(named["roles"]).str.split("|")).explode("role")
        unknown = named[~named["role"].isin(self.role_codes)].drop_duplicates(["sku", "role", "file", "line"])
        if len(unknown):
            self.warnings.append(pd.DataFrame({
                "severity": "warning", "file": text_column(unknown["file"]), "line": _int(unknown["line"]),
                "sku": text_column(unknown["sku"]), "field": "roles", "value": unknown["role"].astype(str),
                "reason": "role " + unknown["role"].map(repr) + " ignored: no media_image attribute of this "
                          "Magento has that code",
            })[list(REJECTION_COLUMNS)])
        custom = named[named["role"].isin(self.role_codes) & ~named["role"].isin(ROLE_CODES)]
        return pd.DataFrame({"sku": text_column(custom["sku"]), "role": custom["role"].astype(str)}
                            ).drop_duplicates().reset_index(drop=True)

    # -- the steps ----------------------------------------------------------------------------------------
    def compute(self) -> GalleryDelta:
        img = self._statuses(self._images())
        usable = (img["error"] == "") & ~img["stale"]
        valid = usable & img["exists"]
        gallery = self._gallery(set(img.loc[usable, "entity_id"].tolist()))
        blocked = self._role_blocked_skus(img)
        v, role_plan = self._planned_images(img, img[valid], gallery, blocked)
        sku_of = img[usable].drop_duplicates("entity_id").set_index("entity_id")["sku"]
        removed = self._removals(img, v, gallery, blocked)
        roles, store_writes = self._planned_roles(img, v, role_plan, removed, gallery, sku_of, blocked)
        self._warn_hidden_by_store_views(v, roles, store_writes)
        items = self._items(img[~valid], v, removed, sku_of)
        return self._delta(img, items, roles, store_writes)

    def _planned_images(
        self, img: pd.DataFrame, valid: pd.DataFrame, gallery: pd.DataFrame, blocked: set[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The valid images matched with the product's rows, unset fields inherited, and their actions; with the
        role plan the actions depend on."""
        v = self._inherit_unset(self._match_existing(valid, gallery), gallery)
        role_plan = self._role_plan(img, v, blocked)
        return self._actions(v, role_plan), role_plan

    def _planned_roles(
        self, img: pd.DataFrame, v: pd.DataFrame, role_plan: pd.DataFrame, removed: pd.DataFrame | None,
        gallery: pd.DataFrame, sku_of: pd.Series, blocked: set[str],
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every role and label row to write (roles of the batch, of removed images, of store-level values,
        the role labels) and the store-level value rows."""
        roles = self._with_removal_roles(role_plan, removed, gallery, sku_of)
        store_writes, store_roles = self._store_values(v)
        roles = _merge_role_rows(roles, store_roles)
        roles = _merge_role_rows(roles, self._label_plan(img, v, roles, blocked, store_writes))
        return roles, store_writes

    def _delta(
        self, img: pd.DataFrame, items: pd.DataFrame, roles: pd.DataFrame, store_writes: pd.DataFrame
    ) -> GalleryDelta:
        warnings = [w for w in self.warnings if len(w)]
        return GalleryDelta(
            items=items,
            roles=roles,
            sku_results=self._sku_results(img, items, roles, store_writes),
            warnings=pd.concat(warnings, ignore_index=True) if warnings else empty_frame(REJECTION_COLUMNS),
            request=self.request,
            store_values=store_writes,
            unknown_skus=self.unknown_skus,
            extra_value_rows=self.extra_value_rows,
        )

    # -- step 1: images of the batch with their product, staleness and storage state --------------------
    def _images(self) -> pd.DataFrame:
        img = self._batch_images()
        img = self._with_products(img)
        img = self._stale(img)
        return self._with_storage_state(img)

    def _batch_images(self) -> pd.DataFrame:
        """The request's images typed, the last occurrence of a (SKU, path) kept, positions mapped."""
        src = self.request.images
        img = pd.DataFrame(
            {
                "sku": text_column(src["sku"]),
                "value": text_column(src["value"]),
                "label": text_column(src["label"]),
                "label_given": src["label"].notna().to_numpy(),
                "position": _nullable_int(src["position"]),
                "disabled": _bool(src["disabled"]),
                "disabled_given": src["disabled"].notna().to_numpy(),
                "roles": text_column(src["roles"]),
                "file": text_column(src["file"]),
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
        self._position_shifts = position_shifts(img, self.request.store_values)
        img["position"], shifted = map_positions(img, self._position_shifts)
        self.warnings.append(shifted)
        return img

    def _with_products(self, img: pd.DataFrame) -> pd.DataFrame:
        """Each image's product (entity_id 0 and an error when its SKU is unknown, ambiguous or a near-miss);
        the unknown SKUs are kept in `unknown_skus`."""
        prod = self.state.products.copy()
        prod["sku"] = text_column(prod["sku"])
        prod["entity_id"] = _int(prod["entity_id"])
        prod["error"] = text_column(prod["error"]) if "error" in prod else ""
        prod = prod.drop_duplicates("sku", keep="first")[["sku", "entity_id", "error"]]
        img = img.merge(prod, on="sku", how="left")
        img["entity_id"] = _int(img["entity_id"])
        unknown = (img["error"].isna() | (img["entity_id"] == 0)) & (text_column(img["error"]) == "")
        img["error"] = text_column(img["error"])
        img.loc[unknown, "error"] = "unknown SKU " + img.loc[unknown, "sku"].map(repr)
        img.loc[img["error"] != "", "entity_id"] = 0
        self.unknown_skus = tuple(dict.fromkeys(img.loc[unknown, "sku"]))
        return img

    def _with_storage_state(self, img: pd.DataFrame) -> pd.DataFrame:
        """Each image's object in storage: exists (and is an image by its metadata) and its ETag."""
        etags = self.request.etags[["value", "exists", "etag"]].copy()
        etags["value"] = text_column(etags["value"])
        etags["etag"] = normalize_etag(etags["etag"])
        # An object whose metadata says it is no image counts as missing, with its own reason.
        size = self.request.etags["size"] if "size" in self.request.etags else pd.Series(pd.NA, index=etags.index)
        kind = self.request.etags["content_type"] if "content_type" in self.request.etags else \
            pd.Series("", index=etags.index)
        etags["not_image"] = not_an_image_reasons(size, kind).where(_bool(etags["exists"]), "")
        etags = etags.drop_duplicates("value", keep="last")
        img = img.merge(etags, on="value", how="left")
        img["not_image"] = text_column(img["not_image"])
        img["media_clash"] = self._media_clashes(img)
        img["exists"] = _bool(img["exists"]) & (img["not_image"] == "") & (img["media_clash"] == "")
        img["etag"] = text_column(img["etag"])
        return img

    def _media_clashes(self, img: pd.DataFrame) -> pd.Series:
        """Per image, the media type of a gallery row of the same product and path that is no image (a video),
        else "". Such an image is refused: a second row of the same file would be deleted by Magento's
        `Gallery::removeDuplicates` on the next product load, and it may be the video's."""
        other = self.state.other_media
        if other is None or other.empty or img.empty:
            return pd.Series("", index=img.index, dtype=object)
        other = pd.DataFrame({"entity_id": _int(other["entity_id"]), "value": canonical_values(other["value"]),
                              "media_clash": text_column(other["media_type"])}).drop_duplicates(["entity_id", "value"])
        keyed = pd.DataFrame({"entity_id": img["entity_id"].to_numpy(), "value": canonical_values(img["value"]).to_numpy()})
        found = keyed.merge(other, on=["entity_id", "value"], how="left")["media_clash"]
        return pd.Series(found.fillna("").astype(str).to_numpy(), index=img.index, dtype=object)

    def _stale(self, img: pd.DataFrame) -> pd.DataFrame:
        """Mark images of SKUs a newer batch already wrote: the stale-batch rule.

        Batches are ordered by drop time, then by batch key (plain string order) because S3's LastModified has
        1-second resolution and two batches dropped in the same second tie. So the outcome does not depend on
        which of the two runs first: the greater key wins. The same key at the same time is a re-run, never
        stale. Unknown times (either side) or, on a tie, an unknown key are never stale.
        """
        img["stale"] = False
        img["stale_reason"] = ""
        state = self.state.sync_state
        if state is None or not len(state) or self.request.batch_time is None or self.request.force:
            return img
        last = state[["sku", "last_batch_time", "last_batch_key"]].copy()
        last["sku"] = text_column(last["sku"])
        last["last_batch_time"] = pd.to_datetime(last["last_batch_time"].map(to_utc_naive))
        last = last.drop_duplicates("sku", keep="last")
        img = img.merge(last, on="sku", how="left")
        batch_time = pd.Timestamp(self.request.batch_time)
        known = img["last_batch_time"].notna()
        later = known & (img["last_batch_time"] > batch_time)
        if self.request.batch_key is not None:  # same drop time: the greater batch key wins
            last_key = text_column(img["last_batch_key"])
            later |= known & (img["last_batch_time"] == batch_time) & (last_key != "") & (
                last_key > self.request.batch_key)
        img["stale"] = later & (img["error"] == "")
        img.loc[img["stale"], "stale_reason"] = (
            "stale: batch " + text_column(img.loc[img["stale"], "last_batch_key"]) + " of "
            + img.loc[img["stale"], "last_batch_time"].astype(str)
            + " was already applied to this SKU (use force to replay)"
        )
        return img.drop(columns=["last_batch_time", "last_batch_key"])

    def _statuses(self, img: pd.DataFrame) -> pd.DataFrame:
        """error / stale / invalid (file missing in storage, or no image by its metadata) for the images that
        will not be written."""
        img["action"] = ""
        img["reason"] = ""
        failed = img["error"] != ""
        img.loc[failed, "action"] = "error"
        img.loc[failed, "reason"] = img.loc[failed, "error"]
        img.loc[img["stale"], "action"] = "stale"
        img.loc[img["stale"], "reason"] = img.loc[img["stale"], "stale_reason"]
        missing = (img["error"] == "") & ~img["stale"] & ~img["exists"]
        img.loc[missing, "action"] = "invalid"
        img.loc[missing, "reason"] = "file missing in storage: " + img.loc[missing, "value"]
        refused = missing & (img["not_image"] != "")
        img.loc[refused, "reason"] = ("not an image: " + img.loc[refused, "not_image"] + ": "
                                      + img.loc[refused, "value"])
        clash = missing & (img["media_clash"] != "")
        img.loc[clash, "reason"] = ("the product has a " + img.loc[clash, "media_clash"] + " gallery row with this "
                                    "value; a second row would be deleted by Magento (Gallery::removeDuplicates): "
                                    + img.loc[clash, "value"])
        return img

    # -- step 2: current gallery, keepers and path-variant duplicates ------------------------------------
    def _gallery(self, entity_ids: set[int]) -> pd.DataFrame:
        g = self.state.gallery
        g = pd.DataFrame(
            {
                "entity_id": _int(g["entity_id"]),
                "value_id": _int(g["value_id"]),
                "stored_value": text_column(g["value"]),
                "canonical": text_column(g["canonical"]),
                "record_id": _int(g["record_id"]),
                "cur_label": g["label"].astype(object),
                "cur_position": g["position"].astype(object),
                "cur_disabled": g["disabled"].astype(object),
                "stored_etag": normalize_etag(g["stored_etag"]),
                "owned": _bool(g["owned"]),
                "links": _int(g["links"], 1),
            }
        )
        g = g[g["entity_id"].isin(entity_ids)]
        # No unique key protects (value_id, entity_id, store 0): of several value rows of a pair, Magento shows the
        # last in position order (createBatchBaseSelect orders by position, ReadHandler keys the rows by value_id);
        # that one is kept, the others are deleted by the write.
        g = g.assign(_pos=pd.to_numeric(g["cur_position"], errors="coerce").fillna(-1))
        g = g.sort_values(["entity_id", "value_id", "_pos", "record_id"])
        extra = g.duplicated(["entity_id", "value_id"], keep="last") & (g["record_id"] > 0)
        sku_of = self.state.products.drop_duplicates("entity_id").set_index("entity_id")["sku"]
        self.extra_value_rows = pd.DataFrame({
            "sku": g.loc[extra, "entity_id"].map(sku_of).astype(str), "entity_id": g.loc[extra, "entity_id"],
            "record_id": g.loc[extra, "record_id"]})[list(EXTRA_VALUE_ROW_COLUMNS)].reset_index(drop=True)
        g = g.drop_duplicates(["entity_id", "value_id"], keep="last").drop(columns=["_pos"])
        g["is_canonical"] = g["stored_value"] == g["canonical"]
        # The canonical-form row wins over its legacy variant; then the oldest media_gallery row.
        g = g.sort_values(["entity_id", "canonical", "is_canonical", "value_id"], ascending=[True, True, False, True])
        g["keeper"] = ~g.duplicated(["entity_id", "canonical"], keep="first")
        return g.reset_index(drop=True)

    def _match_existing(self, valid: pd.DataFrame, g: pd.DataFrame) -> pd.DataFrame:
        """Valid images joined with the product's own row for the same path (if any)."""
        keepers = g[g["keeper"]]
        v = valid.merge(
            keepers.drop(columns=["keeper", "is_canonical"]),
            left_on=["entity_id", "value"],
            right_on=["entity_id", "canonical"],
            how="left",
        )
        v["value_id"] = _int(v["value_id"])
        v["record_id"] = _int(v["record_id"])
        v["stored_etag"] = text_column(v["stored_etag"])
        v["matched"] = v["canonical"].notna()
        v["target_value"] = v["stored_value"].where(v["matched"], v["value"])
        # A row the PHP connector shared between products: this product gets its own copy first.
        v["split"] = v["matched"] & (_int(v["links"], 1) > 1)
        v["shared"] = v["split"]
        return v

    def _inherit_unset(self, v: pd.DataFrame, g: pd.DataFrame) -> pd.DataFrame:
        """Fields the batch does not give: an existing image keeps its label and disabled flag (Magento's
        native import changes only what the CSV says; a new image gets none and is enabled), and its position;
        new images without a position go after the product's maximum (current rows and positions given in the
        batch), in payload order, as Magento's import places them."""
        keep_label = v["matched"] & ~v["label_given"]
        v.loc[keep_label, "label"] = text_column(v.loc[keep_label, "cur_label"])
        keep_disabled = v["matched"] & ~v["disabled_given"]
        v.loc[keep_disabled, "disabled"] = _int(v.loc[keep_disabled, "cur_disabled"]).astype(bool)
        given = v["position"].notna()
        current = pd.to_numeric(v["cur_position"], errors="coerce")
        keep = ~given & v["matched"]
        v.loc[keep, "position"] = current[keep].fillna(0).astype("int64")
        new = ~given & ~v["matched"]
        if new.any():
            existing_max = pd.to_numeric(g["cur_position"], errors="coerce").groupby(g["entity_id"]).max()
            other = self.state.other_media
            if other is not None and len(other):  # videos count (MediaGalleryProcessor::getLastMediaPositionPerProduct)
                videos_max = pd.to_numeric(other["position"], errors="coerce").groupby(_int(other["entity_id"])).max()
                existing_max = pd.concat([existing_max, videos_max], axis=1).max(axis=1)
            batch_max = v.loc[given, "position"].astype("float64").groupby(v.loc[given, "entity_id"]).max()
            ceiling = pd.concat([existing_max, batch_max], axis=1).max(axis=1)
            rank = v.loc[new].sort_values("seq").groupby("entity_id").cumcount() + 1
            base = v.loc[new, "entity_id"].map(ceiling).fillna(0)
            v.loc[new, "position"] = (base + rank.reindex(v.index[new])).astype("int64")
        v["position"] = _int(v["position"]).clip(lower=POSITION_MIN, upper=POSITION_MAX)
        return v

    # -- step 3: roles -----------------------------------------------------------------------------------
    def _role_blocked_skus(self, img: pd.DataFrame) -> set[str]:
        """SKUs with an error-rejected image or an image missing in storage: their roles are not reassigned
        (a half-valid payload never wipes roles)."""
        usable = img[(img["error"] == "") & ~img["stale"]]
        return set(self.request.invalid_skus) | set(usable.loc[~usable["exists"], "sku"])

    def _managed_roles(self, skus: pd.Series) -> pd.DataFrame:
        """(sku, role) pairs the batch manages: the standard roles the shop has and the custom ones the batch
        names for the SKU (a custom role no image of the batch names is left as it is), unless the SKU's role
        scope is limited."""
        standard = [c for c in self.role_codes if c in ROLE_CODES]
        grid = pd.DataFrame({"sku": skus.unique()}).merge(pd.DataFrame({"role": standard}), how="cross")
        named = self._custom_roles_named
        grid = pd.concat([grid, named[named["sku"].isin(set(grid["sku"]))]], ignore_index=True)
        scope = self.request.role_scope
        if scope is None or scope.empty:
            return grid
        scope = scope.drop_duplicates("sku", keep="last")
        limited = dict(zip(text_column(scope["sku"]), text_column(scope["managed_roles"]), strict=True))
        allowed = [sku not in limited or role in limited[sku].split("|")
                   for sku, role in zip(grid["sku"], grid["role"], strict=True)]
        return grid[allowed]

    def _role_plan(self, img: pd.DataFrame, v: pd.DataFrame, blocked: set[str]) -> pd.DataFrame:
        """Managed store-0 roles: no_selection unless the last payload image (highest seq) carrying the role
        sets it. Skipped for blocked SKUs (see `_role_blocked_skus`)."""
        usable = img[(img["error"] == "") & ~img["stale"]]
        eligible = usable[~usable["sku"].isin(blocked)][["sku", "entity_id"]].drop_duplicates("sku")
        if eligible.empty:
            return empty_frame(ROLE_COLUMNS)
        of_eligible = pd.Index(eligible["sku"]).get_indexer(v["sku"]) >= 0  # SKUs unique: an index lookup
        carried = v[of_eligible & (v["roles"] != "")][["entity_id", "roles", "seq", "target_value"]]
        carried = carried.assign(role=carried["roles"].str.split("|")).explode("role")
        carried = carried[carried["role"].isin(self.role_codes)]
        last = carried.sort_values("seq").drop_duplicates(["entity_id", "role"], keep="last")
        grid = eligible.merge(self._managed_roles(eligible["sku"]), on="sku")
        grid = grid.merge(last[["entity_id", "role", "target_value"]], on=["entity_id", "role"], how="left")
        grid["new_value"] = grid["target_value"].fillna(NO_SELECTION).astype(str)
        grid["store_id"] = 0
        return self._changed_roles(grid)

    def _changed_roles(self, wanted: pd.DataFrame) -> pd.DataFrame:
        """Rows of `wanted` (sku, entity_id, role, store_id, new_value) whose value differs from Magento's."""
        if wanted.empty:
            return empty_frame(ROLE_COLUMNS)
        state = self.role_state.assign(has_row=True)
        grid = wanted.merge(state, on=["entity_id", "role", "store_id"], how="left")
        grid["old_value"] = text_column(grid["value"])
        has_row = grid["has_row"].notna()
        new = grid["new_value"].astype(object)
        deleting = new.isna()
        changed = (deleting & has_row) | (~deleting & (~has_row | grid["value"].isna() | (grid["old_value"] != new)))
        plan = grid.loc[changed, list(ROLE_COLUMNS)].reset_index(drop=True)
        plan["entity_id"] = plan["entity_id"].astype("int64")
        plan["store_id"] = plan["store_id"].astype("int64")
        plan["new_value"] = plan["new_value"].astype(object).where(plan["new_value"].notna(), None)
        return plan

    # -- step 4: what happens to each image ----------------------------------------------------------------
    def _actions(self, v: pd.DataFrame, role_plan: pd.DataFrame) -> pd.DataFrame:
        role_paths = pd.concat(
            [
                role_plan[["entity_id", "new_value"]].rename(columns={"new_value": "path"}),
                role_plan[["entity_id", "old_value"]].rename(columns={"old_value": "path"}),
            ]
        )
        role_paths = role_paths[role_paths["path"].notna() & (role_paths["path"] != "")
                                & (role_paths["path"] != NO_SELECTION)]
        role_paths = pd.DataFrame(
            {"entity_id": _int(role_paths["entity_id"]), "value": canonical_values(role_paths["path"]), "roles_changed": True}
        ).drop_duplicates(["entity_id", "value"])
        v = v.merge(role_paths, on=["entity_id", "value"], how="left")
        v["roles_changed"] = _bool(v["roles_changed"])
        matched = v["matched"]
        cur_label = text_column(v["cur_label"])
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
        v.loc[matched & (v["meta_changed"] | v["roles_changed"] | v["split"]), "action"] = "updated_meta"
        v.loc[v["etag_changed"], "action"] = "updated_value"
        v.loc[~matched, "action"] = "inserted"
        v.loc[~matched, "meta_changed"] = False
        v.loc[~matched, "etag_changed"] = False
        return v

    # -- step 5: removals: legacy variants of payload paths, and (replace modes) paths not in the payload ------
    def _removals(self, img: pd.DataFrame, v: pd.DataFrame, g: pd.DataFrame, blocked: set[str]) -> pd.DataFrame | None:
        wanted_pairs = v[["entity_id", "value"]].rename(columns={"value": "canonical"}).drop_duplicates()
        extras = g[~g["keeper"]].merge(wanted_pairs, on=["entity_id", "canonical"], how="inner")
        keeper_spelling = g[g["keeper"]][["entity_id", "canonical", "stored_value"]].rename(
            columns={"stored_value": "kept_value"})
        extras = extras.merge(keeper_spelling, on=["entity_id", "canonical"], how="left").assign(
            action="deduped",
            reason="path variant " + extras["stored_value"].map(repr) + " collapsed into the canonical row",
        )
        removals = [extras]
        if self.request.mode != APPEND:
            removals.append(self._purges(img, g, blocked))
        removals = [r for r in removals if len(r)]
        return pd.concat(removals, ignore_index=True) if removals else None

    def _purges(self, img: pd.DataFrame, g: pd.DataFrame, blocked: set[str]) -> pd.DataFrame:
        """Rows of products with at least one valid image whose path the payload never named; in
        replace_owned mode only rows this pipeline (or the PHP connector) wrote. A path the payload named is
        never purged, even when its file is missing. Purge and role freeze are decided together: a SKU whose
        roles are frozen (`blocked`) keeps the images its roles name, so no role points outside the gallery
        and none is wiped; elsewhere roles naming a purged image are cleared with it (`_with_removal_roles`)."""
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
        payload["canonical"] = canonical_values(payload["value"])
        payload = payload.merge(
            img[["sku", "entity_id"]].drop_duplicates("sku"), on="sku", how="inner"
        )[["entity_id", "canonical"]].drop_duplicates()
        candidates = g[g["entity_id"].isin(entities)]
        if self.request.mode == REPLACE_OWNED:
            candidates = candidates[candidates["owned"]]
        marked = candidates.merge(payload.assign(named=True), on=["entity_id", "canonical"], how="left")
        purged = marked[marked["named"].isna()].drop(columns=["named"])
        frozen = set(img.loc[img["sku"].isin(blocked), "entity_id"])
        if frozen and len(purged):
            state = self.role_state[self.role_state["role"].isin(self.role_codes) & self.role_state["value"].notna()]
            held = set(zip(state["entity_id"], canonical_values(state["value"]), strict=True))
            keep = [e in frozen and (e, c) in held for e, c in zip(purged["entity_id"], purged["canonical"], strict=True)]
            purged = purged[~pd.Series(keep, index=purged.index, dtype=bool)]
        reason = f"not in the payload ({self.request.mode} mode)"
        return self._removable(purged).assign(action="purged", reason=reason, kept_value="")

    def _removable(self, purged: pd.DataFrame) -> pd.DataFrame:
        """The purges Magento 2.4.8 would carry out (`Catalog\\Model\\Product\\Gallery\\DeleteValidator::validate`,
        run by `CreateHandler::execute` before any removal): a product in more than one store view keeps an
        image that a role holds in a store other than the one saved (ours: the default scope, so any store
        view), the roles being `Gallery::getProductImages`' three (image, small_image, thumbnail), the value
        compared as stored. The product is taken to be in every store view (catalog_product_website is not
        read). Each image kept is a warning naming the store view and role; with the request's
        `remove_store_role_images` every purge is carried out, as before."""
        if self.request.remove_store_role_images or purged.empty or len(self.state.stores) < 2:
            return purged
        state = self.role_state
        held = state[state["role"].isin(DELETE_GUARDED_ROLES) & (state["store_id"] != 0) & state["value"].notna()]
        held = held.assign(stored_value=text_column(held["value"]))[["entity_id", "stored_value", "role", "store_id"]]
        hit = purged[["entity_id", "stored_value"]].merge(held, on=["entity_id", "stored_value"], how="inner")
        if hit.empty:
            return purged
        hit = hit.sort_values(["entity_id", "stored_value", "store_id", "role"], kind="stable")
        code_of = {sid: code for code, sid in self.state.stores.items()}
        sku_of = self.state.products.drop_duplicates("entity_id").set_index("entity_id")["sku"]
        first = hit.drop_duplicates(["entity_id", "stored_value"])
        self.kept_for_store_roles = first.assign(sku=first["entity_id"].map(sku_of).astype(str))
        self.warnings.append(pd.DataFrame({
            "severity": "warning", "file": "", "line": 0, "sku": self.kept_for_store_roles["sku"],
            "field": "roles", "value": first["stored_value"].str.slice(0, 200),
            "reason": "not removed: it is the " + first["role"] + " image of store view "
                      + first["store_id"].map(code_of).fillna(first["store_id"].astype(str)).map(repr)
                      + " and Magento refuses to remove it (DeleteValidator); "
                      "NACENTO_REMOVE_STORE_ROLE_IMAGES=true removes it anyway",
        })[list(REJECTION_COLUMNS)])
        keys = set(zip(hit["entity_id"], hit["stored_value"], strict=True))
        kept = [k in keys for k in zip(purged["entity_id"], purged["stored_value"], strict=True)]
        return purged[~pd.Series(kept, index=purged.index, dtype=bool)]

    def _with_removal_roles(
        self, plan: pd.DataFrame, removed: pd.DataFrame | None, g: pd.DataFrame, sku_of: pd.Series
    ) -> pd.DataFrame:
        """What Magento's admin does to the roles of a removed image: store-0 roles naming it become
        no_selection (their `*_label` is emptied), store-level roles naming it are deleted; roles naming a
        collapsed path variant follow the kept row's spelling."""
        if removed is None or removed.empty:
            return plan
        state = self.role_state[self.role_state["role"].isin(self.role_codes) & self.role_state["value"].notna()]
        state = state.assign(stored=text_column(state["value"]))
        gone = removed[["entity_id", "stored_value", "action", "kept_value"]]
        hit = state.merge(gone, left_on=["entity_id", "stored"], right_on=["entity_id", "stored_value"], how="inner")
        if hit.empty:
            return plan
        purged = hit["action"] == "purged"
        hit["new_value"] = hit["kept_value"].astype(object)
        hit.loc[purged & (hit["store_id"] == 0), "new_value"] = NO_SELECTION
        hit.loc[purged & (hit["store_id"] != 0), "new_value"] = None
        hit["sku"] = hit["entity_id"].map(sku_of).astype(str)
        rows = [hit[["sku", "entity_id", "role", "store_id", "new_value"]]]
        cleared = hit[purged & (hit["store_id"] == 0) & hit["role"].isin(list(ROLE_LABEL_CODES))]
        if len(cleared):
            rows.append(cleared.assign(role=cleared["role"].map(ROLE_LABEL_CODES), new_value=None)[
                ["sku", "entity_id", "role", "store_id", "new_value"]])
        effects = self._changed_roles(pd.concat(rows, ignore_index=True))
        # The plan's own decision for a (product, role, store) wins over a removal's side effect.
        return _merge_role_rows(effects, plan)

    # -- step 6: store views -------------------------------------------------------------------------------
    def _store_values(self, v: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Store-level rows the batch sets (labels, positions, disabled, roles per store view), only where
        they differ from Magento's; unknown store codes are rejected with file, line and field."""
        src = self.request.store_values
        if src is None or src.empty or v.empty:
            return empty_frame(STORE_WRITE_COLUMNS), empty_frame(ROLE_COLUMNS)
        base = v[["sku", "value", "entity_id", "value_id", "disabled", "position", "target_value"]].rename(
            columns={"disabled": "base_disabled", "position": "base_position"})
        sv = self._known_store_rows(src).merge(base, on=["sku", "value"], how="inner")
        if sv.empty:
            return empty_frame(STORE_WRITE_COLUMNS), empty_frame(ROLE_COLUMNS)
        sv["store_id"] = sv["store_id"].astype("int64")
        sv = self._with_current_store_rows(sv)
        return self._store_writes(sv), self._store_roles(sv)

    def _known_store_rows(self, src: pd.DataFrame) -> pd.DataFrame:
        """The batch's store-level rows (last one per SKU, path and store) of store codes Magento knows, with
        their store_id; the others are rejected."""
        sv = src.copy()
        sv["sku"], sv["value"], sv["store"] = text_column(sv["sku"]), text_column(sv["value"]), text_column(sv["store"])
        sv = sv.sort_values("seq", kind="stable").drop_duplicates(["sku", "value", "store"], keep="last")
        sv["position"] = shifted_positions(sv["sku"], sv["position"], self._position_shifts)
        sv["store_id"] = sv["store"].map(self.state.stores)
        unknown = sv["store_id"].isna()
        if unknown.any():
            bad = sv[unknown]
            self.warnings.append(pd.DataFrame({
                "severity": "error", "file": text_column(bad["file"]), "line": _int(bad["line"]), "sku": bad["sku"],
                "field": "store", "value": bad["store"].str.slice(0, 200),
                "reason": "unknown store code " + bad["store"].map(repr) + " (not in Magento's store table): "
                          "this store-level value is not written",
            })[list(REJECTION_COLUMNS)])
        return sv[~unknown]

    def _with_current_store_rows(self, sv: pd.DataFrame) -> pd.DataFrame:
        """Magento's store-level row of each (product, image, store): record_id (0 when none) and cur_* fields."""
        cur = self.state.store_values
        if cur is not None and len(cur):
            cur = pd.DataFrame({
                "entity_id": _int(cur["entity_id"]), "value_id": _int(cur["value_id"]),
                "store_id": _int(cur["store_id"]), "record_id": _int(cur["record_id"]),
                "cur_label": cur["label"].astype(object), "cur_position": _nullable_int(cur["position"]),
                "cur_disabled": _int(cur["disabled"]),
            }).drop_duplicates(["entity_id", "value_id", "store_id"])
            sv = sv.merge(cur, on=["entity_id", "value_id", "store_id"], how="left")
        else:
            sv = sv.assign(record_id=pd.NA, cur_label=None, cur_position=pd.NA, cur_disabled=pd.NA)
        sv["has_row"] = sv["record_id"].notna() & (sv["value_id"] > 0)
        sv["record_id"] = _int(sv["record_id"]).where(sv["has_row"], 0)
        return sv

    @staticmethod
    def _store_writes(sv: pd.DataFrame) -> pd.DataFrame:
        """The store-level rows to write (STORE_WRITE_COLUMNS): fields the batch gives, the others kept (or, for
        a new row, the default's disabled flag and position: Magento's import writes a store row's position,
        the one shown (`MediaGalleryProcessor::updateMediaGalleryField`, `prepareMediaGalleryValueData`));
        rows equal to Magento's are left out."""
        has_row = sv["has_row"]
        label_given = sv["label"].notna()
        sv["w_label"] = sv["label"].astype(object).where(label_given, sv["cur_label"].astype(object).where(has_row, None))
        sv["w_label"] = _label_or_none(sv["w_label"].where(sv["w_label"].notna(), ""))
        position_given = _nullable_int(sv["position"])
        kept = _nullable_int(sv["cur_position"]).where(has_row, _nullable_int(sv["base_position"]))
        sv["w_position"] = position_given.where(position_given.notna(), kept)
        disabled_given = sv["disabled"].astype("boolean")
        fallback = _int(sv["cur_disabled"]).where(has_row, sv["base_disabled"].astype("int64"))
        sv["w_disabled"] = disabled_given.astype("Int64").fillna(fallback).astype("int64")
        same = has_row & (
            (text_column(sv["cur_label"]) == text_column(sv["w_label"]))
            & (_nullable_int(sv["cur_position"]).fillna(-1) == sv["w_position"].fillna(-1))
            & (_int(sv["cur_disabled"]) == sv["w_disabled"])
        )
        given_any = label_given | position_given.notna() | disabled_given.notna()
        writes = sv[given_any & ~same]
        return pd.DataFrame({
            "sku": writes["sku"], "entity_id": writes["entity_id"].astype("int64"), "value": writes["value"],
            "store_id": writes["store_id"], "record_id": writes["record_id"], "label": writes["w_label"],
            "position": writes["w_position"].astype("Int64"), "disabled": writes["w_disabled"],
        })[list(STORE_WRITE_COLUMNS)].reset_index(drop=True)

    def _store_roles(self, sv: pd.DataFrame) -> pd.DataFrame:
        """Roles a store-level row gives its image in that store (the last row wins), where they change."""
        carried = sv[text_column(sv["roles"]) != ""]
        carried = carried.assign(role=text_column(carried["roles"]).str.split("|")).explode("role")
        carried = carried[carried["role"].isin(self.role_codes)].sort_values("seq")
        carried = carried.drop_duplicates(["entity_id", "role", "store_id"], keep="last")
        wanted = carried[["sku", "entity_id", "role", "store_id"]].assign(new_value=carried["target_value"])
        return self._changed_roles(wanted)

    # -- step 7: the storefront's alt text follows the role images' labels ----------------------------------
    def _label_plan(
        self, img: pd.DataFrame, v: pd.DataFrame, roles: pd.DataFrame, blocked: set[str], store_writes: pd.DataFrame
    ) -> pd.DataFrame:
        """`image_label`, `small_image_label`, `thumbnail_label` = the label of the role's image, per store,
        as the admin keeps them; NULL (row deleted) when the role is no_selection or the label is empty.
        Only for SKUs whose roles the batch manages and roles that name an image of the batch."""
        usable = img[(img["error"] == "") & ~img["stale"] & ~img["sku"].isin(blocked)]
        skus = usable[["sku", "entity_id"]].drop_duplicates("sku")
        if skus.empty:
            return empty_frame(ROLE_COLUMNS)
        managed = skus.merge(self._managed_roles(skus["sku"]), on="sku")
        managed = managed[managed["role"].isin(list(ROLE_LABEL_CODES))]
        final = self._final_values(roles, store_id=0)
        managed = managed.merge(final, on=["entity_id", "role"], how="left")
        labels = v[["entity_id", "value", "label"]].rename(columns={"value": "canonical"})
        managed["canonical"] = canonical_values(managed["final"])
        managed = managed.merge(labels, on=["entity_id", "canonical"], how="left")
        unset = managed["final"].isna() | managed["final"].isin(["", NO_SELECTION])
        wanted = managed[unset | managed["label"].notna()].copy()
        wanted["new_value"] = _label_or_none(wanted["label"].where(~unset[wanted.index], ""))
        wanted = wanted.assign(role=wanted["role"].map(ROLE_LABEL_CODES), store_id=0)
        rows = [wanted[["sku", "entity_id", "role", "store_id", "new_value"]]]
        if len(store_writes):
            rows.append(self._store_label_rows(store_writes, roles))
        return self._changed_roles(pd.concat(rows, ignore_index=True))

    def _store_label_rows(self, store_writes: pd.DataFrame, roles: pd.DataFrame) -> pd.DataFrame:
        """A store-level label of an image that is a role's image in that store becomes the role's label there."""
        labelled = store_writes[store_writes["label"].notna()][["sku", "entity_id", "value", "store_id", "label"]]
        if labelled.empty:
            return pd.DataFrame(columns=["sku", "entity_id", "role", "store_id", "new_value"])
        per_store = self._final_values(roles, store_id=None)
        per_store = per_store[per_store["role"].isin(list(ROLE_LABEL_CODES))]
        per_store = per_store.assign(value=canonical_values(per_store["final"]))
        hit = labelled.merge(per_store, on=["entity_id", "value", "store_id"], how="inner")
        default = self._final_values(roles, store_id=0)
        default = default[default["role"].isin(list(ROLE_LABEL_CODES))].assign(value=lambda f: canonical_values(f["final"]))
        inherit = labelled.merge(default.drop(columns=["final"]), on=["entity_id", "value"], how="inner")
        overridden = per_store[["entity_id", "role", "store_id"]].assign(own=True)
        inherit = inherit.merge(overridden, on=["entity_id", "role", "store_id"], how="left")
        inherit = inherit[inherit["own"].isna()]
        both = pd.concat([hit, inherit], ignore_index=True)
        return pd.DataFrame({"sku": both["sku"], "entity_id": both["entity_id"], "role": both["role"].map(ROLE_LABEL_CODES),
                             "store_id": both["store_id"], "new_value": both["label"].astype(object)})

    def _final_values(self, plan: pd.DataFrame, store_id: int | None) -> pd.DataFrame:
        """(entity_id, role, store_id, final) role values after the plan: planned value, else Magento's."""
        state = self.role_state[self.role_state["role"].isin(self.role_codes)][["entity_id", "role", "store_id", "value"]]
        planned = plan[plan["role"].isin(self.role_codes)][["entity_id", "role", "store_id", "new_value"]]
        both = state.merge(planned, on=["entity_id", "role", "store_id"], how="outer", indicator=True)
        in_plan = both["_merge"] != "left_only"
        both["final"] = both["new_value"].astype(object).where(in_plan, both["value"].astype(object))
        deleted = plan[plan["role"].isin(self.role_codes) & plan["new_value"].isna()][["entity_id", "role", "store_id"]]
        if len(deleted):
            both = both.merge(deleted.assign(gone=True), on=["entity_id", "role", "store_id"], how="left")
            both = both[both["gone"].isna()]
        both = both[both["final"].notna()]
        if store_id is not None:
            both = both[both["store_id"] == store_id].drop(columns=["store_id"])
            return both[["entity_id", "role", "final"]]
        both = both[both["store_id"] != 0]
        return both[["entity_id", "role", "store_id", "final"]]

    # -- step 8: what a store view would still hide --------------------------------------------------------
    def _warn_hidden_by_store_views(self, v: pd.DataFrame, roles: pd.DataFrame, store_writes: pd.DataFrame) -> None:
        """Store-level rows we did not write override store 0 (Magento reads IFNULL(store, default)): when one
        hides a change of this batch, say so (warning with the store and the field)."""
        hidden = [h for h in (self._hidden_store_values(v, store_writes), self._hidden_store_roles(roles)) if len(h)]
        if not hidden:
            return
        code_of = {sid: code for code, sid in self.state.stores.items()}
        h = pd.concat(hidden, ignore_index=True)
        store = h["store_id"].astype("int64").map(code_of).fillna(h["store_id"].astype(str))
        self.warnings.append(pd.DataFrame({
            "severity": "warning", "file": text_column(h["file"]), "line": _int(h["line"]), "sku": text_column(h["sku"]),
            "field": "store_view", "value": store.astype(str),
            "reason": "hidden by store view " + store.map(repr) + ": a store-level value this batch did not set "
                      "overrides the new " + h["what"].astype(str) + " there",
        })[list(REJECTION_COLUMNS)])

    def _hidden_store_values(self, v: pd.DataFrame, store_writes: pd.DataFrame) -> pd.DataFrame:
        """(sku, file, line, store_id, what) of label/position/disabled changes a store-level row hides."""
        cur = self.state.store_values
        changed = v[v["matched"] & v["meta_changed"]]
        if cur is None or not len(cur) or not len(changed):
            return pd.DataFrame()
        rows = pd.DataFrame({
            "entity_id": _int(cur["entity_id"]), "value_id": _int(cur["value_id"]), "store_id": _int(cur["store_id"]),
            "s_label": cur["label"].astype(object), "s_position": _nullable_int(cur["position"]),
            "s_disabled": _int(cur["disabled"]),
        })
        both = changed.merge(rows, on=["entity_id", "value_id"], how="inner")
        if len(store_writes):
            ours = store_writes[["entity_id", "value", "store_id"]].assign(ours=True)
            both = both.merge(ours, on=["entity_id", "value", "store_id"], how="left")
            both = both[both["ours"].isna()]
        label_hidden = both["s_label"].notna() & (text_column(both["cur_label"]) != both["label"]) & (
            text_column(both["s_label"]) != both["label"])
        position_hidden = both["s_position"].notna() & (
            pd.to_numeric(both["cur_position"], errors="coerce").fillna(-1) != both["position"]) & (
            both["s_position"].fillna(-1) != both["position"])
        disabled_hidden = (_int(both["cur_disabled"]) != both["disabled"].astype("int64")) & (
            both["s_disabled"] != both["disabled"].astype("int64"))
        parts = [
            pd.DataFrame({"sku": part["sku"], "file": part["file"], "line": part["line"], "store_id": part["store_id"],
                          "what": name + " of " + part["value"]})
            for mask, name in ((label_hidden, "label"), (position_hidden, "position"), (disabled_hidden, "disabled"))
            if len(part := both[mask])
        ]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def _hidden_store_roles(self, roles: pd.DataFrame) -> pd.DataFrame:
        """(sku, file, line, store_id, what) of store-0 role changes a store-level role value hides."""
        role_changes = roles[(roles["store_id"] == 0) & roles["role"].isin(self.role_codes)]
        if not len(role_changes):
            return pd.DataFrame()
        state = self.role_state[(self.role_state["store_id"] != 0) & self.role_state["role"].isin(self.role_codes)]
        over = role_changes.merge(state, on=["entity_id", "role"], how="inner", suffixes=("", "_store"))
        written = roles[roles["store_id"] != 0][["entity_id", "role", "store_id"]].assign(ours=True)
        over = over.merge(written, left_on=["entity_id", "role", "store_id_store"],
                          right_on=["entity_id", "role", "store_id"], how="left", suffixes=("", "_w"))
        over = over[over["ours"].isna() & (text_column(over["value"]) != text_column(over["new_value"]))]
        return pd.DataFrame({"sku": over["sku"], "file": "", "line": 0, "store_id": over["store_id_store"],
                             "what": "role " + over["role"]})

    # -- step 9: the result frames -------------------------------------------------------------------------
    def _items(
        self, rest: pd.DataFrame, v: pd.DataFrame, removed: pd.DataFrame | None, sku_of: pd.Series
    ) -> pd.DataFrame:
        parts = []
        if len(rest):
            parts.append(rest.assign(stored_etag="", value_id=0, record_id=0, meta_changed=False, etag_changed=False,
                                     split=False, shared=False, position=_int(rest["position"])))
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
                        "label": text_column(removed["cur_label"]),
                        "position": _int(removed["cur_position"]),
                        "disabled": _int(removed["cur_disabled"]).astype(bool),
                        "roles": "",
                        "etag": "",
                        "stored_etag": removed["stored_etag"],
                        "value_id": removed["value_id"],
                        "record_id": removed["record_id"],
                        "meta_changed": False,
                        "etag_changed": False,
                        "split": False,
                        "shared": _int(removed["links"], 1) > 1,
                    }
                )
            )
        if not parts:
            return empty_frame(DELTA_COLUMNS)
        items = pd.concat([p[list(DELTA_COLUMNS)] for p in parts], ignore_index=True)
        for column in ("entity_id", "position", "value_id", "record_id"):
            items[column] = _int(items[column])
        for column in ("disabled", "meta_changed", "etag_changed", "split", "shared"):
            items[column] = _bool(items[column])
        for column in ("sku", "value", "action", "reason", "label", "roles", "etag", "stored_etag"):
            items[column] = text_column(items[column])
        return items

    def _sku_results(
        self, img: pd.DataFrame, items: pd.DataFrame, role_plan: pd.DataFrame, store_writes: pd.DataFrame
    ) -> pd.DataFrame:
        first = img.drop_duplicates("sku", keep="first").set_index("sku")
        skus = list(dict.fromkeys(img["sku"]))
        rejected_only = rejected_only_skus(self.request.rejections, set(skus))
        all_skus = skus + rejected_only
        out = pd.DataFrame({"sku": all_skus})
        out["entity_id"] = out["sku"].map(first["entity_id"]).fillna(0).astype("int64")
        counts = items.groupby(["sku", "action"]).size().unstack(fill_value=0) if len(items) else pd.DataFrame()
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
        roles_only = role_plan[role_plan["role"].isin(self.role_codes)]
        out["roles_assigned"] = out["entity_id"].map(roles_only.groupby("entity_id").size()).fillna(0).astype("int64")
        splits = items[items["split"]].groupby("sku").size() if len(items) else pd.Series(dtype="int64")
        out["split_shared_rows"] = out["sku"].map(splits).fillna(0).astype("int64")
        stored = store_writes.groupby("sku").size() if len(store_writes) else pd.Series(dtype="int64")
        out["store_values"] = out["sku"].map(stored).fillna(0).astype("int64")
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
        kept = self.kept_for_store_roles.groupby("sku").size()
        warned = ok & (out["message"] == "") & out["sku"].isin(kept.index)
        out.loc[warned, "message"] = (out.loc[warned, "sku"].map(kept).astype(str)
                                      + " image(s) kept: a role in a store view (Magento's DeleteValidator)")
        return out[list(SKU_RESULT_COLUMNS)].reset_index(drop=True)


def _role_state(roles: pd.DataFrame) -> pd.DataFrame:
    """ROLE_STATE_COLUMNS typed, one row per (entity_id, role, store_id)."""
    state = roles[list(ROLE_STATE_COLUMNS)].copy()
    state["entity_id"] = _int(state["entity_id"])
    state["store_id"] = _int(state["store_id"])
    state["role"] = text_column(state["role"])
    state["value"] = state["value"].astype(object).where(state["value"].notna(), None)
    return state.drop_duplicates(["entity_id", "role", "store_id"], keep="first").reset_index(drop=True)


def _merge_role_rows(base: pd.DataFrame, override: pd.DataFrame) -> pd.DataFrame:
    """Role plan rows of both; for the same (entity_id, role, store_id) the `override` row wins."""
    frames = [f for f in (base, override) if len(f)]
    if not frames:
        return empty_frame(ROLE_COLUMNS)
    both = pd.concat(frames, ignore_index=True)
    both = both.drop_duplicates(["entity_id", "role", "store_id"], keep="last").reset_index(drop=True)
    both["new_value"] = both["new_value"].astype(object).where(both["new_value"].notna(), None)
    return both[list(ROLE_COLUMNS)]
