"""One chunk's delta written inside the caller's transaction.

Images, ETags, value rows, store-level rows, roles and labels, updated_at, sync state and the undo journal
(the rows as Magento's admin and import write them; upserts only where a real unique key exists).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta.model import GalleryDelta, to_utc_naive
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase
from nacento_pipeline.magento.gallery.reader import ChunkState
from nacento_pipeline.magento.gallery.statements import (
    bulk_update,
    delete_value_rows,
    empty_as_null,
    insert_images,
    nullable_ints,
    remove_rows,
    split_shared_rows,
    upsert,
)
from nacento_pipeline.magento.journal import Journal
from nacento_pipeline.magento.schema import MagentoTables
from nacento_pipeline.magento.spellings import LegacySpellings

# Actions after which the product keeps the image (its store rows can be written).
KEPT_ACTIONS = ("inserted", "updated_value", "updated_meta", "skipped_no_change")


def write_chunk(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    delta: GalleryDelta,
    state: ChunkState,
    *,
    batch_key: str,
    batch_time: datetime | None,
    run_id: str,
    spellings: LegacySpellings | None = None,
    journal: bool = True,
) -> None:
    """Execute one chunk's delta inside the caller's transaction (a constant number of statements).

    With `spellings`, other products' rows of a file the chunk inserts are rewritten to its canonical spelling
    (magento.spellings: Magento counts a file's uses by the exact value); with `journal`, the before-image of
    every product it changes (and of every product a spelling rewrite changes) goes into the undo journal in
    the same transaction (magento.journal).
    """
    t = db.tables
    link_of = dict(
        zip(state.products["entity_id"].astype(int), state.products["link_id"].astype(int), strict=True)
    )
    sync_changes = _sync_state_changes(delta, state, batch_key=batch_key, batch_time=batch_time)
    log = Journal(t, attrs, batch_key, run_id) if journal else None
    if log is not None:
        log.before(conn, _journaled_products(delta, state, sync_changes))
    items = delta.items.copy()
    items["link_id"] = items["entity_id"].astype(int).map(link_of).fillna(0).astype("int64")
    items = split_shared_rows(conn, db, t, attrs, items)
    delete_value_rows(conn, t, delta.extra_value_rows["record_id"].astype(int).tolist())
    remove_rows(conn, t, items[items["action"].isin(("purged", "deduped"))])
    writes = items[items["action"].isin(("inserted", "updated_value", "updated_meta"))]
    new_rows = insert_images(
        conn, db, t, attrs, writes[(writes["action"] == "inserted") | (writes["record_id"] == 0)]
    )
    if spellings is not None:
        spellings.rewrite_for(
            conn,
            new_rows.loc[new_rows["action"] == "inserted", "value"].astype(str),
            link_of.values(),
            journal=log,
        )
    # ETags: every new value row, and every existing row whose content changed.
    meta = pd.concat(
        [
            new_rows[["record_id", "etag"]],
            writes.loc[(writes["record_id"] > 0) & writes["etag_changed"], ["record_id", "etag"]],
        ]
    )
    upsert(
        conn,
        db,
        t.gallery_meta,
        {"record_id": meta["record_id"].astype("int64"), "s3_etag": meta["etag"]},
        ["record_id"],
        ["s3_etag"],
        touch="updated_at",
    )
    changed = writes[(writes["record_id"] > 0) & writes["meta_changed"]]
    rows = pd.DataFrame(
        {
            "record_id": changed["record_id"].astype(int),
            "label": empty_as_null(changed["label"]),
            "position": changed["position"].astype(int),
            "disabled": changed["disabled"].astype(int),
        }
    )
    bulk_update(
        conn,
        db,
        t.media_gallery_value,
        ["record_id"],
        rows,
        {"label": "label", "position": "position", "disabled": "disabled"},
    )
    # Store rows are written for every image the product keeps, changed or not (as Magento's import and admin
    # do: MediaGalleryProcessor::updateMediaGalleryField, CreateHandler::saveGalleryStoreValue).
    kept = items[items["action"].isin(KEPT_ACTIONS) & (items["value_id"] > 0)]
    value_ids = pd.concat(
        [kept[["entity_id", "value", "value_id"]], new_rows[["entity_id", "value", "value_id"]]]
    )
    _write_store_values(conn, db, t, delta.store_values, value_ids, link_of)
    _write_roles(conn, db, t, attrs, delta.roles, link_of)
    _touch_products(conn, t, [link_of[e] for e in delta.changed_entity_ids if e in link_of])
    _write_sync_state(conn, db, t, sync_changes, batch_key=batch_key, batch_time=batch_time, run_id=run_id)
    if log is not None:
        log.after(conn)


def _journaled_products(delta: GalleryDelta, state: ChunkState, sync_changes: pd.DataFrame) -> pd.DataFrame:
    """The chunk's products (sku, entity_id, link_id, scope) whose rows the write changes.

    Scope `gallery` for those whose gallery, roles or labels change, `sync` for those whose sync state only
    changes (magento.journal).
    """
    changed = set(delta.changed_entity_ids)
    wanted = changed | set(sync_changes["entity_id"].astype(int))
    products = state.products[state.products["error"] == ""]
    products = products[products["entity_id"].astype(int).isin(wanted)]
    products = products[["sku", "entity_id", "link_id"]].drop_duplicates("link_id").reset_index(drop=True)
    return products.assign(
        scope=["gallery" if e in changed else "sync" for e in products["entity_id"].astype(int)]
    )


def _write_store_values(
    conn: sa.Connection,
    db: MagentoDatabase,
    t: MagentoTables,
    plan: pd.DataFrame,
    value_ids: pd.DataFrame,
    link_of: dict[int, int],
) -> None:
    """Store-level value rows the batch sets: insert the missing ones, update the others."""
    if plan.empty:
        return
    plan = _with_value_ids(plan, value_ids)
    plan = plan[plan["value_id"] > 0]
    new = plan[plan["record_id"] == 0]
    bulk_sql.insert(
        conn,
        t.media_gallery_value,
        {
            "value_id": new["value_id"],
            "store_id": new["store_id"].astype("int64"),
            t.link: new["entity_id"].astype("int64").map(link_of).astype("int64"),
            "label": new["label"],
            "position": nullable_ints(new["position"]),
            "disabled": new["disabled"].astype("int64"),
        },
    )
    old = plan[plan["record_id"] > 0]
    rows = pd.DataFrame(
        {
            "record_id": old["record_id"].astype(int),
            "label": old["label"],
            "position": nullable_ints(old["position"]),
            "disabled": old["disabled"].astype(int),
        }
    )
    bulk_update(
        conn,
        db,
        t.media_gallery_value,
        ["record_id"],
        rows,
        {"label": "label", "position": "position", "disabled": "disabled"},
    )


def _with_value_ids(plan: pd.DataFrame, value_ids: pd.DataFrame) -> pd.DataFrame:
    """`plan` with the value_id of its (entity_id, value) from `value_ids`, 0 when none.

    The last one listed wins.
    """
    ids = pd.DataFrame(
        {
            "_e": value_ids["entity_id"].astype("int64").to_numpy(),
            "_v": value_ids["value"].astype(str).to_numpy(),
            "value_id": value_ids["value_id"].astype("int64").to_numpy(),
        }
    ).drop_duplicates(["_e", "_v"], keep="last")
    keyed = plan.drop(columns=["value_id"], errors="ignore").assign(
        _e=plan["entity_id"].astype("int64").to_numpy(), _v=plan["value"].astype(str).to_numpy()
    )
    merged = keyed.merge(ids, on=["_e", "_v"], how="left").drop(columns=["_e", "_v"])
    merged["value_id"] = merged["value_id"].fillna(0).astype("int64")
    return merged


def _write_roles(
    conn: sa.Connection,
    db: MagentoDatabase,
    t: MagentoTables,
    attrs: AttributeIds,
    plan: pd.DataFrame,
    link_of: dict[int, int],
) -> None:
    """Role and label values: upserted where set, deleted where the plan says None.

    Magento deletes a store-level role of a removed image and an emptied label.
    """
    if plan.empty:
        return
    codes = attrs.varchar_codes()
    plan = plan[plan["role"].isin(list(codes))]
    setting = plan[plan["new_value"].notna()]
    columns: dict[str, bulk_sql.Column] = {
        "attribute_id": setting["role"].map(codes).astype("int64"),
        "store_id": setting["store_id"].astype("int64"),
        t.link: setting["entity_id"].astype("int64").map(link_of).astype("int64"),
        "value": setting["new_value"],
    }
    upsert(conn, db, t.varchar, columns, [t.link, "attribute_id", "store_id"], ["value"])
    deleting = plan[plan["new_value"].isna()]
    if len(deleting):
        vc = t.varchar
        keys = [
            (link_of[int(e)], codes[r], int(s))
            for e, r, s in zip(deleting["entity_id"], deleting["role"], deleting["store_id"], strict=True)
        ]
        for part in in_chunks(keys, 2000):
            conn.execute(
                sa.delete(vc).where(sa.tuple_(vc.c[t.link], vc.c.attribute_id, vc.c.store_id).in_(part))
            )


def _touch_products(conn: sa.Connection, t: MagentoTables, links: list[int]) -> None:
    """Every product save sets catalog_product_entity.updated_at; so does a gallery or role change here."""
    product = t.product
    for part in in_chunks(sorted(set(links)), 2000):
        conn.execute(
            sa.update(product)
            .where(product.c[t.link].in_(part))
            .values(updated_at=sa.func.current_timestamp())
        )


def _sync_state_changes(
    delta: GalleryDelta, state: ChunkState, *, batch_key: str, batch_time: datetime | None
) -> pd.DataFrame:
    """The ok SKUs (sku, entity_id, message) whose sync state this batch changes.

    A re-run of the same batch changes none.
    """
    results = delta.sku_results
    ok = results[(results["status"] == "ok") & (results["entity_id"].astype(int) > 0)]
    if ok.empty:
        return ok[["sku", "entity_id", "message"]]
    when = to_utc_naive(batch_time)
    ok = ok[["sku", "entity_id", "message"]]
    stored = state.sync_state
    if len(stored):
        stored = stored[["sku", "last_batch_key", "last_batch_time"]].drop_duplicates("sku")
        ok = ok.merge(stored, on="sku", how="left")
        stored_time = pd.to_datetime(ok["last_batch_time"])
        same_time = stored_time.isna() if when is None else (stored_time == pd.Timestamp(when))
        ok = ok[~((ok["last_batch_key"] == batch_key) & same_time)]
    return ok[["sku", "entity_id", "message"]]


def _write_sync_state(
    conn: sa.Connection,
    db: MagentoDatabase,
    t: MagentoTables,
    ok: pd.DataFrame,
    *,
    batch_key: str,
    batch_time: datetime | None,
    run_id: str,
) -> None:
    """Record the batch applied to these SKUs (_sync_state_changes)."""
    if ok.empty:
        return
    when = to_utc_naive(batch_time)
    columns: dict[str, bulk_sql.Column] = {
        "sku": ok["sku"],
        "entity_id": ok["entity_id"].astype("int64"),
        "last_batch_key": batch_key,
        "last_batch_time": when,
        "last_status": ["partial" if message else "ok" for message in ok["message"]],
        "last_run_id": run_id,
    }
    upsert(
        conn,
        db,
        t.sku_sync_state,
        columns,
        ["sku"],
        ["entity_id", "last_batch_key", "last_batch_time", "last_status", "last_run_id"],
        touch="updated_at",
    )
