"""The undo journal and revert_batch against real databases (SQLite and MariaDB): every table's rows compared
before and after, row by row."""

from __future__ import annotations

import json
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.journal import RevertRefused, prune_journal, revert_batch
from nacento_pipeline_tests.magento.gallery_helpers import T1, A, B, C, gallery, sync

D = "/a/b/d.jpg"
FIRST = [
    ("S1", A, "front", 1, False, "image|small_image"),
    ("S1", B, "back", 2, False, "thumbnail"),
    ("S2", C, "side", 1, False, "image"),
    ("S3", A, "s3 front", 1, False, "image"),
]
# relabelled, one image purged and one added, base role moved, new content for C
CHANGES = [
    ("S1", B, "back again", 1, False, "image|small_image|thumbnail"),
    ("S1", D, "new", 2, True, ""),
    ("S2", C, "side", 1, False, "image|thumbnail"),
    ("S3", A, "s3 front (new)", 3, False, "image"),
]


def dump(db) -> dict[str, list[tuple]]:
    """Every row of every table a batch writes (the journal aside), sorted, values as text."""
    t = db.tables
    out = {}
    with db.engine.connect() as conn:
        for table in (
            t.product,
            t.media_gallery,
            t.media_gallery_value,
            t.value_to_entity,
            t.varchar,
            t.gallery_meta,
            t.sku_sync_state,
        ):
            out[table.name] = sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
    return out


def without_product(db, rows: dict[str, list[tuple]], sku: str, others: dict[str, list[tuple]]) -> dict:
    """`rows` minus every row of the product `sku` (as found in `rows` or in `others`)."""
    t = db.tables
    with db.engine.connect() as conn:
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar_one()
    cols = {
        table.name: [c.name for c in table.columns]
        for table in (
            t.product,
            t.media_gallery,
            t.media_gallery_value,
            t.value_to_entity,
            t.varchar,
            t.gallery_meta,
            t.sku_sync_state,
        )
    }

    def index(name: str, column: str) -> int:
        return cols[name].index(column)

    value_ids, record_ids = set(), set()
    for dumped in (rows, others):
        vte, val = dumped[t.value_to_entity.name], dumped[t.media_gallery_value.name]
        value_ids |= {
            r[index(t.value_to_entity.name, "value_id")]
            for r in vte
            if r[index(t.value_to_entity.name, t.link)] == str(link)
        }
        record_ids |= {
            r[index(t.media_gallery_value.name, "record_id")]
            for r in val
            if r[index(t.media_gallery_value.name, t.link)] == str(link)
        }
    keep = {
        t.product.name: lambda r: r[index(t.product.name, t.link)] != str(link),
        t.media_gallery.name: lambda r: r[index(t.media_gallery.name, "value_id")] not in value_ids,
        t.media_gallery_value.name: lambda r: r[index(t.media_gallery_value.name, t.link)] != str(link),
        t.value_to_entity.name: lambda r: r[index(t.value_to_entity.name, t.link)] != str(link),
        t.varchar.name: lambda r: r[index(t.varchar.name, t.link)] != str(link),
        t.gallery_meta.name: lambda r: r[index(t.gallery_meta.name, "record_id")] not in record_ids,
        t.sku_sync_state.name: lambda r: r[index(t.sku_sync_state.name, "sku")] != sku,
    }
    return {name: [r for r in table_rows if keep[name](r)] for name, table_rows in rows.items()}


def product_rows(db, rows: dict[str, list[tuple]], sku: str, others: dict[str, list[tuple]]) -> dict:
    """The rows of the product `sku` in `rows` (per table, as a set)."""
    kept = without_product(db, rows, sku, others)
    return {name: set(table_rows) - set(kept[name]) for name, table_rows in rows.items()}


def admin_relabel(db, sku: str, label: str) -> None:
    """An edit in the admin between the batch and its revert: the product's store-0 labels."""
    t = db.tables
    with db.engine.begin() as conn:
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar_one()
        val = t.media_gallery_value
        conn.execute(sa.update(val).where(val.c[t.link] == link, val.c.store_id == 0).values(label=label))


def edit_then_revert(db, sku: str, batch_key: str):
    """An admin edit of `sku`, then the revert of `batch_key`: (its result, the rows edited, the rows now)."""
    admin_relabel(db, sku, "edited by hand")
    edited = dump(db)
    result = revert_batch(db, batch_key, run_id="revert-1")
    assert result.skipped["sku"].tolist() == [sku]
    return result, edited, dump(db)


def test_revert_after_a_first_sync_restores_every_row(db):
    before = dump(db)
    sync(db, FIRST, batch_key="media_first")
    assert dump(db) != before
    result = revert_batch(db, "media_first", run_id="revert-1")
    assert result.counts() == {"reverted": 3, "skipped_changed_since": 0, "already_reverted": 0}
    assert dump(db) == before
    assert result.changed_entity_ids == sorted(result.reverted["entity_id"].astype(int).tolist())


def test_a_batch_applied_again_after_its_revert_is_written_again(db):
    """The revert forgets what was applied (the per-SKU digests): the same batch re-executed is planned and
    written again instead of being judged unchanged."""
    sync(db, FIRST, batch_key="media_first")
    after_first = {sku: gallery(db, sku) for sku in ("S1", "S2", "S3")}
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.tables.sku_digest)).scalar() == 3
    revert_batch(db, "media_first", run_id="revert-1")
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.tables.sku_digest)).scalar() == 0
    again = sync(db, FIRST, batch_key="media_first")
    assert again.write_statements > 0
    assert {sku: gallery(db, sku) for sku in ("S1", "S2", "S3")} == after_first


def test_revert_after_a_batch_of_changes_restores_unchanged_products_and_skips_edited_ones(db):
    sync(db, FIRST, batch_key="media_first")
    after_first = dump(db)
    sync(db, CHANGES, version="2", batch_key="media_changes", batch_time=T1 + timedelta(hours=1))
    assert dump(db) != after_first
    result, edited, now = edit_then_revert(db, "S3", "media_changes")
    assert result.counts() == {"reverted": 2, "skipped_changed_since": 1, "already_reverted": 0}
    # S1 and S2 byte for byte as the first batch left them; S3 as the admin left it
    assert without_product(db, now, "S3", after_first) == without_product(db, after_first, "S3", now)
    assert product_rows(db, now, "S3", edited) == product_rows(db, edited, "S3", now)

    again = revert_batch(db, "media_changes", run_id="revert-2")  # a second revert changes nothing
    assert again.counts() == {"reverted": 0, "skipped_changed_since": 1, "already_reverted": 2}
    assert dump(db) == now

    forced = revert_batch(db, "media_changes", run_id="revert-3", force=True)
    assert forced.counts()["reverted"] == 1
    assert dump(db) == after_first


def test_a_revert_is_never_reverted_and_an_unknown_batch_is_refused(db):
    sync(db, FIRST, batch_key="media_first")
    revert_batch(db, "media_first", run_id="revert-1")
    with pytest.raises(RevertRefused, match="itself a revert"):
        revert_batch(db, "revert:media_first", run_id="revert-2")
    with pytest.raises(RevertRefused, match="nothing to revert"):
        revert_batch(db, "media_never", run_id="revert-3")


def test_a_rerun_keeps_the_first_before_image_and_pruning_by_age(db):
    before = dump(db)
    sync(db, FIRST, batch_key="media_first")
    sync(db, FIRST, batch_key="media_first")  # a re-run writes nothing, journals nothing new
    assert revert_batch(db, "media_first", run_id="revert-1").counts()["reverted"] == 3
    assert dump(db) == before
    j = db.tables.batch_journal
    with db.engine.begin() as conn:
        conn.execute(sa.update(j).values(created_at=sa.func.current_timestamp()))
    assert prune_journal(db, 30) == 0
    with db.engine.begin() as conn:
        old = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
        conn.execute(sa.update(j).where(j.c.kind == "batch").values(created_at=old - timedelta(days=31)))
    assert prune_journal(db, 30) == 3
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(j)).scalar_one() == 3  # the revert's own


def test_a_new_batch_over_unchanged_galleries_journals_and_restores_the_sync_state_only(db):
    sync(db, FIRST, batch_key="media_first")
    after_first = dump(db)
    sync(db, FIRST, batch_key="media_again", batch_time=T1 + timedelta(hours=1))  # same galleries, new batch
    j = db.tables.batch_journal
    with db.engine.connect() as conn:
        scopes = conn.execute(sa.select(j.c.scope).where(j.c.batch_key == "media_again")).scalars().all()
    assert scopes == ["sync"] * 3
    admin_relabel(db, "S1", "edited by hand")  # a gallery edit: no concern of a sync-only entry
    edited = dump(db)
    result = revert_batch(db, "media_again", run_id="revert-1")
    assert result.counts()["reverted"] == 3
    state = db.tables.sku_sync_state.name
    assert dump(db)[state] == after_first[state]
    assert {k: v for k, v in dump(db).items() if k != state} == {
        k: v for k, v in edited.items() if k != state
    }


def test_a_batch_journaled_in_the_first_format_is_refused_and_nothing_changes(db):
    """Format 1 (blobs zlib-compressed by Python, hex digests) cannot be restored by this version: refused
    before any product is touched."""
    sync(db, FIRST, batch_key="media_first")
    j = db.tables.batch_journal
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(j).values(
                before_image=zlib.compress(json.dumps({"sync": []}).encode(), 1),
                after_fingerprint="0123456789abcdef0123456789abcdef",
            )
        )
    written = dump(db)
    with pytest.raises(RevertRefused, match="journal format 1"):
        revert_batch(db, "media_first", run_id="revert-1")
    assert dump(db) == written
