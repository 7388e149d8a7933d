"""The blast radius of a planned batch: how much of the shop it would take away, measured before any write.

Pure: the plan's delta items and role changes, plus what the touched products' galleries hold now, in; the
figures, the verdict and the first products each exceeded limit would hit, out. A share limit of 0 (or a
count limit of 0) is off. A share limit is exceeded only when its count reaches `min_count` too, so that a
small batch (two of a product's five images replaced) is never stopped for its percentages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nacento_pipeline.core.frames import NO_SELECTION

REMOVING_ACTIONS = ("purged", "deduped")
UPDATING_ACTIONS = ("updated_value", "updated_meta")
FIRST_PRODUCTS = 20

# Current gallery rows of the touched products (what the guard reads from Magento): one row per product and
# media_gallery row linked to it, with its store-0 label, position and `disabled`.
CURRENT_COLUMNS = ("entity_id", "value_id", "value", "label", "position", "disabled")


@dataclass(frozen=True)
class BlastLimits:
    """The guard's limits (0 = off): shares are fractions (0.2 = 20 %)."""

    max_removed_share: float = 0.2  # images removed (purged or disabled) / images of the touched products
    max_emptied: int = 50  # galleries going from at least one enabled image to none
    max_base_changed_share: float = 0.3  # products whose base image changes / products with a base image
    max_touched_share: float = 0.0  # products the batch changes / products of the catalog
    min_count: int = 20  # a share limit is exceeded only when its count is at least this too


@dataclass(frozen=True)
class Breach:
    """One exceeded limit: its name, the figure and the limit as a person reads them, the first products."""

    limit: str
    figure: str
    allowed: str
    products: tuple[str, ...]

    def sentence(self) -> str:
        """The breach as one sentence, naming at most the first ten products."""
        shown = ", ".join(self.products[:10]) + (" ..." if len(self.products) > 10 else "")
        return f"{self.limit}: {self.figure} (limit {self.allowed}); first products: {shown or '-'}"


@dataclass(frozen=True)
class BlastRadius:
    """What the batch would do, measured: figures by name, the exceeded limits (none: within the limits)."""

    figures: dict[str, float]
    breaches: tuple[Breach, ...] = field(default=())

    @property
    def within_limits(self) -> bool:
        """True when no limit was exceeded."""
        return not self.breaches

    def message(self) -> str:
        """The breaches' sentences joined by "; ", or "within every limit"."""
        return "; ".join(b.sentence() for b in self.breaches) or "within every limit"

    def table(self) -> pd.DataFrame:
        """One row per limit that was exceeded: limit, figure, allowed, first products."""
        return pd.DataFrame(
            {
                "limit": [b.limit for b in self.breaches],
                "figure": [b.figure for b in self.breaches],
                "allowed": [b.allowed for b in self.breaches],
                "first_products": [", ".join(b.products[:10]) for b in self.breaches],
            }
        )


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _skus(items: pd.DataFrame, entity_ids: pd.Index | list[int]) -> tuple[str, ...]:
    """The SKUs of these products, sorted, the first FIRST_PRODUCTS."""
    wanted = set(int(e) for e in entity_ids)
    sku_of = items.loc[items["entity_id"].astype("int64").isin(wanted), ["entity_id", "sku"]].drop_duplicates(
        "entity_id"
    )
    return tuple(sorted(sku_of["sku"].astype(str))[:FIRST_PRODUCTS])


def _enabled_after(items: pd.DataFrame, current: pd.DataFrame) -> pd.Series:
    """Enabled images per touched product once the plan is written (entity_id -> count)."""
    now = current[["entity_id", "value_id", "disabled"]].astype({"entity_id": "int64", "value_id": "int64"})
    key = ["entity_id", "value_id"]
    removed = items.loc[items["action"].isin(REMOVING_ACTIONS), key].astype("int64")
    kept = now.merge(removed.assign(_gone=True), on=key, how="left")
    kept = kept[kept["_gone"].isna()].drop(columns=["_gone"])
    updated = items.loc[
        items["action"].isin(UPDATING_ACTIONS) & (items["value_id"].astype("int64") > 0), [*key, "disabled"]
    ].astype({"entity_id": "int64", "value_id": "int64"})
    kept = kept.merge(
        updated.rename(columns={"disabled": "_wanted"}).drop_duplicates(key), on=key, how="left"
    )
    kept["disabled"] = kept["_wanted"].where(kept["_wanted"].notna(), kept["disabled"])
    inserted = items.loc[items["action"] == "inserted", ["entity_id", "disabled"]].astype(
        {"entity_id": "int64"}
    )
    after = pd.concat([kept[["entity_id", "disabled"]], inserted], ignore_index=True)
    enabled = after[~after["disabled"].fillna(False).astype(bool)]
    return enabled.groupby("entity_id").size()


@dataclass(frozen=True)
class BlastTally:
    """The blast radius's counts of part of a plan, before the verdict.

    Additive over parts that share no product (a plan's chunks); each count comes with the first
    FIRST_PRODUCTS SKUs (sorted) it would hit.
    """

    images_of_touched_products: int = 0
    removed: int = 0
    emptied: int = 0
    base_changed: int = 0
    touched: int = 0
    first: dict[str, tuple[str, ...]] = field(default_factory=dict)  # count name -> first SKUs

    def __add__(self, other: BlastTally) -> BlastTally:
        names = set(self.first) | set(other.first)
        return BlastTally(
            self.images_of_touched_products + other.images_of_touched_products,
            self.removed + other.removed,
            self.emptied + other.emptied,
            self.base_changed + other.base_changed,
            self.touched + other.touched,
            {
                n: tuple(sorted(self.first.get(n, ()) + other.first.get(n, ()))[:FIRST_PRODUCTS])
                for n in names
            },
        )


def tally(items: pd.DataFrame, roles: pd.DataFrame, current: pd.DataFrame) -> BlastTally:
    """The counts of a plan's (or a part's) delta frames against the touched products' galleries now.

    `items` and `roles` are core.frames DELTA_COLUMNS and ROLE_COLUMNS, `current` CURRENT_COLUMNS.
    """
    items = items.assign(
        entity_id=items["entity_id"].astype("int64"), value_id=items["value_id"].astype("int64")
    )
    items = items[items["entity_id"] > 0]
    current = current.astype({"entity_id": "int64", "value_id": "int64"})
    key = ["entity_id", "value_id"]

    removed = items[items["action"].isin(REMOVING_ACTIONS)]
    was = current.assign(_was=current["disabled"].astype(bool))[[*key, "_was"]]
    updates = items[items["action"].isin(UPDATING_ACTIONS) & (items["value_id"] > 0)].merge(
        was, on=key, how="left"
    )
    disabled_now = updates[
        updates["disabled"].fillna(False).astype(bool) & ~updates["_was"].fillna(True).astype(bool)
    ]
    removed_ids = pd.Index(pd.concat([removed["entity_id"], disabled_now["entity_id"]]).unique())

    enabled_before = current[~current["disabled"].astype(bool)].groupby("entity_id").size()
    after = _enabled_after(items, current).reindex(enabled_before.index, fill_value=0)
    emptied = enabled_before.index[(enabled_before > 0) & (after == 0)]

    base = roles[(roles["role"] == "image") & (roles["store_id"].astype("int64") == 0)]
    old = base["old_value"].astype(object).fillna("").astype(str)
    new = base["new_value"].astype(object).fillna("").astype(str)
    base_changed = pd.Index(
        base.loc[(old != "") & (old != NO_SELECTION) & (old != new), "entity_id"].astype("int64").unique()
    )

    changing = items[~items["action"].isin(("skipped_no_change", "invalid", "error", "stale"))]["entity_id"]
    touched = pd.Index(pd.concat([changing, roles["entity_id"].astype("int64")]).unique())
    return BlastTally(
        len(current),
        len(removed) + len(disabled_now),
        len(emptied),
        len(base_changed),
        len(touched),
        {
            "removed": _skus(items, removed_ids),
            "emptied": _skus(items, emptied),
            "base_changed": _skus(items, base_changed),
            "touched": _skus(items, touched),
        },
    )


def measure(
    items: pd.DataFrame,
    roles: pd.DataFrame,
    current: pd.DataFrame,
    *,
    catalog_products: int,
    catalog_base_images: int,
    limits: BlastLimits,
) -> BlastRadius:
    """The blast radius of a plan, from the delta's frames, the galleries now and the catalog's counts.

    `items` and `roles` are the delta's frames (core.frames DELTA_COLUMNS and ROLE_COLUMNS), `current` the
    touched products' gallery rows now (CURRENT_COLUMNS), then the catalog's product and base-image counts.
    """
    return judge(
        tally(items, roles, current),
        catalog_products=catalog_products,
        catalog_base_images=catalog_base_images,
        limits=limits,
    )


def judge(
    counted: BlastTally, *, catalog_products: int, catalog_base_images: int, limits: BlastLimits
) -> BlastRadius:
    """The figures and the verdict of a plan's tally (summed over its parts).

    Shares are of the catalog's product and base-image counts.
    """
    touched_images = counted.images_of_touched_products
    removed_count = counted.removed
    removed_share = removed_count / touched_images if touched_images else 0.0
    base_share = counted.base_changed / catalog_base_images if catalog_base_images else 0.0
    touched_share = counted.touched / catalog_products if catalog_products else 0.0
    figures = {
        "images_of_touched_products": float(touched_images),
        "images_removed": float(removed_count),
        "images_removed_share": round(removed_share, 4),
        "galleries_emptied": float(counted.emptied),
        "base_images_changed": float(counted.base_changed),
        "base_images_changed_share": round(base_share, 4),
        "products_touched": float(counted.touched),
        "products_touched_share": round(touched_share, 4),
        "catalog_products": float(catalog_products),
        "catalog_base_images": float(catalog_base_images),
    }
    breaches: list[Breach] = []
    floor = max(1, limits.min_count)
    first = counted.first

    def share(name: str, value: float, count: int, limit: float, products: str, what: str) -> None:
        if limit > 0 and value > limit and count >= floor:
            breaches.append(
                Breach(name, f"{_percent(value)} ({count} {what})", _percent(limit), first.get(products, ()))
            )

    share(
        "images_removed_share",
        removed_share,
        removed_count,
        limits.max_removed_share,
        "removed",
        f"of {touched_images} images",
    )
    if limits.max_emptied > 0 and counted.emptied > limits.max_emptied:
        breaches.append(
            Breach(
                "galleries_emptied",
                f"{counted.emptied} galleries",
                str(limits.max_emptied),
                first.get("emptied", ()),
            )
        )
    share(
        "base_images_changed_share",
        base_share,
        counted.base_changed,
        limits.max_base_changed_share,
        "base_changed",
        f"of {catalog_base_images} base images",
    )
    share(
        "products_touched_share",
        touched_share,
        counted.touched,
        limits.max_touched_share,
        "touched",
        f"of {catalog_products} products",
    )
    return BlastRadius(figures, tuple(breaches))
