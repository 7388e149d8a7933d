"""Our writes are Magento's: after them, Magento acting on the shop (an admin removing an image, a store view
overriding a label) leaves every product right. SQLite and MariaDB, tables asserted after each step."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.core.frames import ROLE_SCOPE_COLUMNS
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.demo import PRODUCT_ENTITY_TYPE_ID
from nacento_pipeline.magento.gallery.audit import (
    collapse_duplicate_default_value_rows,
    duplicate_default_value_rows,
    shared_gallery_rows,
    split_shared_gallery_rows,
)
from nacento_pipeline.magento.gallery.sync import sync_gallery
from nacento_pipeline.magento.gallery.verify import check_written
from nacento_pipeline.magento.spellings import mixed_spellings, unify_mixed_spellings
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame, store_value_frame
from nacento_pipeline_tests.magento.conftest import demo_database
from nacento_pipeline_tests.magento.magento_admin import (
    RemovalRefused,
    admin_add_image,
    admin_remove_image,
    admin_set_role,
    admin_set_store_value,
    connector_shared_row,
    count_image_uses,
    link_of,
    load_gallery,
)

A, B, C = "/f/i/front.jpg", "/b/a/back.jpg", "/s/i/side.jpg"
T1 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
DE = 2  # the demo schema's store view "de"


@pytest.fixture
def db(magento_url):
    yield from demo_database(magento_url)


def sync(
    db,
    rows,
    *,
    batch_key="media_1",
    mode="replace_owned",
    version="1",
    store_values=None,
    role_scope=None,
    missing=(),
    remove_store_role_images=False,
):
    images = image_frame(rows)
    etags = etag_frame({v: f"{version}-{v}" for v in set(images["value"]) if v not in set(missing)}, missing)
    batch = FakeBatch(images, store_values=store_values, role_scope=role_scope)
    return sync_gallery(
        db,
        batch,
        etags,
        mode=mode,
        chunk_size=2,
        batch_key=batch_key,
        batch_time=T1,
        run_id="run-1",
        remove_store_role_images=remove_store_role_images,
    )


def gallery(db, sku, store_id=0):
    """(value, label, position, disabled) of the product's rows in one store, by value."""
    t = db.tables
    val, mg = t.media_gallery_value, t.media_gallery
    q = (
        sa.select(mg.c.value, val.c.label, val.c.position, val.c.disabled)
        .join(val, val.c.value_id == mg.c.value_id)
        .where(val.c[t.link] == link_of(db, sku), val.c.store_id == store_id)
        .order_by(mg.c.value)
    )
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def varchar(db, sku, store_id=0):
    t = db.tables
    code_of = {v: k for k, v in db.attribute_ids().varchar_codes().items()}
    q = sa.select(t.varchar.c.attribute_id, t.varchar.c.value).where(
        t.varchar.c[t.link] == link_of(db, sku), t.varchar.c.store_id == store_id
    )
    with db.engine.connect() as conn:
        return {code_of[a]: v for a, v in conn.execute(q) if a in code_of}


def rows_per_gallery_row(db):
    t = db.tables
    with db.engine.connect() as conn:
        return {
            int(n)
            for _, n in conn.execute(
                sa.select(t.value_to_entity.c.value_id, sa.func.count()).group_by(
                    t.value_to_entity.c.value_id
                )
            )
        }


def test_admin_removing_an_image_from_one_product_leaves_the_others_and_the_file(db, tmp_path):
    bucket = LocalFolderStore(tmp_path / "bucket")
    bucket.put(object_key(A), b"jpeg")
    sync(db, [("S1", A, "front", 1, False, "image"), ("S2", A, "front", 1, False, "image"), ("S2", B)])
    assert rows_per_gallery_row(db) == {1}  # one media_gallery row per product and path
    deleted = admin_remove_image(db, "S1", A, bucket)
    assert deleted is False and bucket.head(object_key(A)) is not None  # countImageUses(A) was 2
    assert gallery(db, "S1") == []
    assert gallery(db, "S2") == [(B, None, 0, 0), (A, "front", 1, 0)]
    assert varchar(db, "S2")["image"] == A and varchar(db, "S1")["image"] == "no_selection"
    # re-running the batch for S2 finds nothing to write in its gallery or roles
    result = sync(db, [("S2", A, "front", 1, False, "image"), ("S2", B)])
    assert result.write_statements == 0


def test_a_connector_era_shared_row_is_split_when_a_product_is_written(db, tmp_path):
    bucket = LocalFolderStore(tmp_path / "bucket")
    bucket.put(object_key(A), b"jpeg")
    shared = connector_shared_row(db, ["S1", "S2", "S3"], A, etag="1-" + A)
    assert len(shared_gallery_rows(db)) == 1
    result = sync(db, [("S1", A, "S1 label", 1, False, "image")])
    assert result.totals()["split_shared_rows"] == 1 and result.totals()["inserted"] == 0
    t = db.tables
    with db.engine.connect() as conn:
        links = dict(conn.execute(sa.select(t.value_to_entity.c[t.link], t.value_to_entity.c.value_id)).all())
        etags = conn.execute(sa.select(sa.func.count()).select_from(t.gallery_meta)).scalar()
    assert links[link_of(db, "S1")] != shared  # S1 has its own row now
    assert links[link_of(db, "S2")] == links[link_of(db, "S3")] == shared  # the others keep theirs
    assert etags == 3  # S1's ETag row followed its value row
    assert gallery(db, "S1") == [(A, "S1 label", 1, 0)] and varchar(db, "S1")["image"] == A
    assert sync(db, [("S1", A, "S1 label", 1, False, "image")]).write_statements == 0
    # Now the admin removes A from S2: S1 keeps its image, and the file stays (countImageUses = 2)
    assert admin_remove_image(db, "S2", A, bucket) is False
    assert gallery(db, "S1") == [(A, "S1 label", 1, 0)] and bucket.head(object_key(A)) is not None
    assert gallery(db, "S3") == []  # S3 was still on the shared row: the cascade took it, as the issue warns


def test_the_audit_fix_splits_every_shared_row(db):
    connector_shared_row(db, ["S1", "S2", "S3"], A, etag="e")
    connector_shared_row(db, ["S2", "S3"], B, etag="e", role=None)
    assert split_shared_gallery_rows(db) == 3
    assert shared_gallery_rows(db).empty and rows_per_gallery_row(db) == {1}
    for sku in ("S1", "S2", "S3"):
        assert gallery(db, sku)[-1][:2] == (A, f"{sku} label")
    t = db.tables
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.media_gallery)).scalar() == 5
        assert conn.execute(sa.select(sa.func.count()).select_from(t.gallery_meta)).scalar() == 5


def test_a_store_view_override_is_preserved_and_reported(db):
    sync(db, [("S1", A, "front", 1, False, "image")])
    admin_set_store_value(db, "S1", A, DE, label="Vorderseite")
    result = sync(db, [("S1", A, "front view", 1, False, "image")], batch_key="media_2")
    assert gallery(db, "S1") == [(A, "front view", 1, 0)]
    assert gallery(db, "S1", DE) == [(A, "Vorderseite", None, 0)]  # the admin's store-level row stays
    hidden = result.delta.warnings[result.delta.warnings["field"] == "store_view"]
    assert hidden["value"].tolist() == ["de"] and "label" in hidden["reason"].iloc[0]
    assert varchar(db, "S1")["image_label"] == "front view"


def test_store_values_from_the_batch_are_written_once(db):
    stores = store_value_frame([("S1", A, "de", "Vorne", 3, None, "small_image"), ("S1", A, "xx", "?")])
    result = sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2)], store_values=stores)
    assert gallery(db, "S1", DE) == [(A, "Vorne", 3, 0)]
    # A is small_image in "de" (set there) and image there (inherited from store 0): both labels follow
    assert varchar(db, "S1", DE) == {"small_image": A, "small_image_label": "Vorne", "image_label": "Vorne"}
    unknown = result.delta.warnings[result.delta.warnings["severity"] == "error"]
    assert unknown[["file", "line", "field", "value"]].values.tolist() == [
        ["import-media_t_01.json", 2, "store", "xx"]
    ]
    again = sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2)], store_values=stores)
    assert again.write_statements == 0


def test_replace_owned_keeps_images_added_by_hand_replace_all_removes_them(db):
    sync(db, [("S1", A), ("S1", B)])
    admin_add_image(db, "S1", C, label="by hand")
    owned = sync(db, [("S1", A)], batch_key="media_2")
    assert owned.counts()["purged"] == 1 and [g[0] for g in gallery(db, "S1")] == [
        A,
        C,
    ]  # B ours, C the admin's
    everything = sync(db, [("S1", A)], batch_key="media_3", mode="replace_all")
    assert everything.counts()["purged"] == 1 and [g[0] for g in gallery(db, "S1")] == [A]
    t = db.tables
    with db.engine.connect() as conn:  # removed rows went with their media_gallery rows, as the admin's do
        assert conn.execute(sa.select(sa.func.count()).select_from(t.media_gallery)).scalar() == 1


def test_removal_clears_the_images_roles_in_every_store(db):
    # UpdateHandler::deleteMediaAttributeValues; A is the thumbnail of "de", so only the explicit setting
    # removes it (DeleteValidator refuses)
    sync(db, [("S1", A, "front", 1, False, "image|thumbnail"), ("S1", B, "back", 2, False, "small_image")])
    admin_set_role(db, "S1", "image", B, DE)
    admin_set_role(db, "S1", "thumbnail", A, DE)
    sync(db, [("S1", B, "back", 2, False, "small_image")], batch_key="media_2", remove_store_role_images=True)
    assert varchar(db, "S1") == {
        "image": "no_selection",
        "small_image": B,
        "thumbnail": "no_selection",
        "swatch_image": "no_selection",
        "small_image_label": "back",
    }
    assert varchar(db, "S1", DE) == {"image": B}  # the store-level role naming A was deleted, B's stays


def test_role_labels_follow_the_role_images(db):
    sync(db, [("S1", A, "front", 1, False, "image|small_image|thumbnail")])
    assert {k: v for k, v in varchar(db, "S1").items() if k.endswith("_label")} == dict.fromkeys(
        ("image_label", "small_image_label", "thumbnail_label"), "front"
    )
    sync(
        db, [("S1", A, "", 1, False, "image"), ("S1", B, "back", 2, False, "thumbnail")], batch_key="media_2"
    )
    labels = {k: v for k, v in varchar(db, "S1").items() if k.endswith("_label")}
    assert labels == {
        "thumbnail_label": "back"
    }  # empty label and no_selection: no label row, as the admin saves


def test_a_batch_managing_only_the_base_image_changes_only_image(db):
    sync(
        db,
        [
            ("S1", A, "front", 1, False, "image|small_image"),
            ("S1", B, "back", 2, False, "thumbnail|swatch_image"),
        ],
    )
    before = varchar(db, "S1")
    scope = pd.DataFrame([("S1", "image")], columns=list(ROLE_SCOPE_COLUMNS))
    result = sync(
        db, [("S1", C, "side", None, False, "image")], batch_key="media_2", mode="append", role_scope=scope
    )
    assert result.counts()["purged"] == 0 and [g[0] for g in gallery(db, "S1")] == [B, A, C]
    after = varchar(db, "S1")
    assert after["image"] == C and after["image_label"] == "side"
    assert {k: v for k, v in after.items() if k not in ("image", "image_label")} == {
        k: v for k, v in before.items() if k not in ("image", "image_label")
    }


def test_images_without_a_position_go_after_the_current_maximum(db):
    sync(db, [("S1", A, "", 4), ("S1", B, "", 7)])
    sync(
        db,
        [("S1", A, "", None), ("S1", B, "", 7), ("S1", C, "", None), ("S1", "/n/e/new.jpg", "", None)],
        batch_key="media_2",
    )
    positions = {g[0]: g[2] for g in gallery(db, "S1")}
    assert positions == {A: 4, B: 7, C: 8, "/n/e/new.jpg": 9}  # A keeps its own; new ones after 7, in order


def test_updated_at_is_set_for_changed_products_only(db):
    t = db.tables
    old = datetime(2020, 1, 1)
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.product).values(updated_at=old))
    sync(db, [("S1", A)])
    with db.engine.connect() as conn:
        stamps = dict(conn.execute(sa.select(t.product.c.sku, t.product.c.updated_at)).all())
    assert stamps["S1"] > old and stamps["S2"] == stamps["S3"] == old


def test_content_staging_writes_the_live_version(row_id_db):
    db = row_id_db
    t = db.tables
    now = int(time.time())
    with db.engine.begin() as conn:  # the live version, and a newer row_id scheduled for next week
        conn.execute(
            t.product.insert(),
            [
                {"row_id": 10, "entity_id": 5, "sku": "R1", "created_in": 1, "updated_in": now + 7 * 86400},
                {
                    "row_id": 11,
                    "entity_id": 5,
                    "sku": "R1",
                    "created_in": now + 7 * 86400,
                    "updated_in": 2147483647,
                },
            ],
        )
    result = sync(db, [("R1", A, "", 1, False, "image")])
    assert result.totals()["inserted"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(t.value_to_entity.c.row_id)).scalars().all() == [10]
        assert set(conn.execute(sa.select(t.varchar.c.row_id)).scalars().all()) == {10}


def _staging_flag(db, flag_data):
    """Magento's `flag` table with the staging row (VersionHistory) holding `flag_data`."""
    flag = sa.Table(
        "flag",
        sa.MetaData(),
        sa.Column("flag_id", sa.Integer, primary_key=True),
        sa.Column("flag_code", sa.String(255), nullable=False),
        sa.Column("state", sa.SmallInteger),
        sa.Column("flag_data", sa.Text),
        sa.Column("last_update", sa.DateTime),
    )
    flag.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(
            flag.insert(),
            [
                {"flag_code": "report_viewed_aggregated", "flag_data": "[]"},
                {"flag_code": "staging", "flag_data": flag_data},
            ],
        )


@pytest.mark.parametrize("encoding", ["json", "php-serialized"])
def test_content_staging_writes_the_version_magentos_staging_serves(row_id_db, encoding):
    """Issue 21 item 10: an update whose start time has passed is not live until the staging cron moves the
    staging flag's current version to it; Magento keeps serving the older row_id, so that one is written."""
    db = row_id_db
    t = db.tables
    now = int(time.time())
    started = now - 600  # the update started ten minutes ago; the cron has not applied it yet
    current = 1700000000
    data = (
        f'{{"current_version":"{current}","maximum_in_db":"{started}"}}'
        if encoding == "json"
        else f'a:2:{{s:15:"current_version";s:10:"{current}";s:13:"maximum_in_db";i:{started};}}'
    )
    _staging_flag(db, data)
    with db.engine.begin() as conn:
        conn.execute(
            t.product.insert(),
            [
                {"row_id": 10, "entity_id": 5, "sku": "R1", "created_in": 1, "updated_in": started},
                {"row_id": 11, "entity_id": 5, "sku": "R1", "created_in": started, "updated_in": 2147483647},
            ],
        )
    result = sync(db, [("R1", A, "", 1, False, "image")])
    assert result.totals()["inserted"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(t.value_to_entity.c.row_id)).scalars().all() == [10]
        assert set(conn.execute(sa.select(t.varchar.c.row_id)).scalars().all()) == {10}
        assert set(conn.execute(sa.select(t.media_gallery_value.c.row_id)).scalars().all()) == {10}
    # Once the cron applies the update (current version = its start), the next write goes to row 11.
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE flag SET flag_data = :d WHERE flag_code = 'staging'"),
            {"d": f'{{"current_version":"{started}"}}'},
        )
    sync(db, [("R1", A, "", 1, False, "image")], batch_key="media_2", version="2")
    with db.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(t.value_to_entity.c.row_id)).scalars().all()) == [10, 11]


def test_a_native_import_csv_with_only_base_image_changes_only_image(db):
    from nacento_pipeline.core.batch.parse import BunchSource, parse_batch
    from nacento_pipeline.core.delta.modes import choose_mode

    sync(
        db,
        [
            ("S1", A, "front", 1, False, "image|small_image|thumbnail"),
            ("S1", B, "back", 2, True, "swatch_image"),
        ],
    )
    before = varchar(db, "S1")
    csv = "sku,base_image\nS1,s/i/side.jpg\n"
    parsed = parse_batch([BunchSource.from_bytes("import-media_n_01.csv", csv.encode())])
    mode, source = choose_mode(None, parsed.default_mode, "replace_owned")
    assert (mode, source) == ("append", "batch format")
    etags = etag_frame({v: "1-" + v for v in (A, B, C)})
    result = sync_gallery(db, parsed, etags, mode=mode, batch_key="media_n", batch_time=T1)
    assert result.counts()["purged"] == 0 and result.counts()["inserted"] == 1
    after = varchar(db, "S1")
    assert after["image"] == C and "image_label" not in after  # the new base image has no label
    assert {k: v for k, v in after.items() if not k.startswith("image")} == {
        k: v for k, v in before.items() if not k.startswith("image")
    }
    # A and B untouched: B stays disabled (the import never re-enables), labels and positions kept
    assert gallery(db, "S1") == [(B, "back", 2, 1), (A, "front", 1, 0), (C, None, 3, 0)]


def _meta_stores(db):
    """store_id of the value row each ETag row hangs on."""
    t = db.tables
    with db.engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.select(t.media_gallery_value.c.store_id).join(
                    t.gallery_meta, t.gallery_meta.c.record_id == t.media_gallery_value.c.record_id
                )
            )
            .scalars()
            .all()
        )


def test_native_store_view_only_rows_write_as_magentos_import(db):
    """Issue 21 item 9: a SKU named only by `store_view_code` rows of a native import CSV. Magento 2.4.8's
    import (`Import\\Product::saveProductMediaGalleryPhase`, then `MediaGalleryProcessor::saveMediaGallery`):
    a new image gets its product's own (global) media_gallery row and link, a value row in that store with the
    row's label, hidden flag and a position, and, because the default scope has none ("Add record for default
    scope if it does not exist"), a store-0 value row without label, enabled, at the same position; an image
    the product already has gets only the store row, whose position is copied from the one shown
    (`updateMediaGalleryField` inserting a store row). Our ETag row hangs on the store-0 row, as always."""
    from nacento_pipeline.core.batch.parse import BunchSource, parse_batch

    sync(db, [("S2", B, "back", 4, False, "image")])
    header = "sku,store_view_code,base_image,base_image_label,additional_images,additional_image_labels\n"
    csv = header + "S1,de,f/i/front.jpg,Vorne,b/a/back.jpg,Hinten\nS2,de,,,b/a/back.jpg,Zurueck\n"
    parsed = parse_batch([BunchSource.from_bytes("import-media_n_01.csv", csv.encode())])
    assert parsed.default_mode == "append" and parsed.rejections.empty
    etags = etag_frame({v: "1-" + v for v in (A, B)})
    result = sync_gallery(db, parsed, etags, mode="append", batch_key="media_n", batch_time=T1)
    assert result.counts()["inserted"] == 2 and result.sku_results["status"].tolist() == ["ok", "ok"]
    # S1: one global gallery row per image, linked to S1; store 0 without label, enabled; the de rows as
    # given.
    assert gallery(db, "S1") == [(B, None, 2, 0), (A, None, 1, 0)]
    assert gallery(db, "S1", DE) == [(B, "Hinten", 2, 0), (A, "Vorne", 1, 0)]
    assert load_gallery(db, "S1", DE)[0][:4] == (A, "Vorne", 1, 0)
    assert load_gallery(db, "S1")[0][:4] == (A, None, 1, 0)
    # S2 already had B: store 0 untouched, the de row takes the position shown.
    assert gallery(db, "S2") == [(B, "back", 4, 0)] and gallery(db, "S2", DE) == [(B, "Zurueck", 4, 0)]
    # Roles of a store row are store-level ones; the default scope keeps its own (S2's image stays B).
    assert varchar(db, "S1", DE) == {"image": A, "image_label": "Vorne"}
    assert "image" not in varchar(db, "S1") and varchar(db, "S2")["image"] == B
    assert rows_per_gallery_row(db) == {1}
    assert _meta_stores(db) == [0, 0, 0]
    assert check_written(db, result.items, result.entity_ids(), result.delta.store_values).mismatches.empty
    again = sync_gallery(db, parsed, etags, mode="append", batch_key="media_n", batch_time=T1)
    assert again.write_statements == 0


def test_negative_store_view_positions_share_the_products_shift(db):
    """Issue 20: a negative store-view position reached MariaDB's UNSIGNED column (error 1264) and the SKU
    failed with a raw database error. The SKU's one shift (its lowest position at any scope becomes 0) moves
    the store-view positions too, so the order within each store stays the PIM's."""
    stores = store_value_frame([("S1", A, "de", None, -5)])
    result = sync(db, [("S1", A, "front", 1), ("S1", B, "back", -2)], store_values=stores)
    assert result.sku_results["status"].tolist() == ["ok"]
    assert gallery(db, "S1") == [(B, "back", 3, 0), (A, "front", 6, 0)]
    assert gallery(db, "S1", DE) == [(A, None, 0, 0)]
    shifted = result.delta.warnings[result.delta.warnings["field"] == "position"]
    assert shifted[["sku", "value"]].values.tolist() == [["S1", "5"]]


def test_store_values_of_an_unchanged_image_are_written_once(db):
    # Magento writes the store rows of an image whether or not its default row changed
    # (MediaGalleryProcessor::updateMediaGalleryField, CreateHandler::saveGalleryStoreValue).
    rows = [("S1", A, "front", 1, False, "image")]
    sync(db, rows)
    stores = store_value_frame([("S1", A, "de", "Vorne", 3, True)])
    result = sync(db, rows, store_values=stores, batch_key="media_2")
    assert result.counts()["skipped_no_change"] == 1
    assert gallery(db, "S1", DE) == [(A, "Vorne", 3, 1)]
    assert varchar(db, "S1", DE) == {"image_label": "Vorne"}
    check = check_written(db, result.items, result.entity_ids(), result.delta.store_values)
    assert check.mismatches.empty
    again = sync(db, rows, store_values=stores, batch_key="media_2")
    assert again.write_statements == 0 and again.delta.store_values.empty


def test_the_post_write_check_compares_store_rows(db):
    rows = [("S1", A, "front", 1, False, "image")]
    stores = store_value_frame([("S1", A, "de", "Vorne", 3)])
    result = sync(db, rows, store_values=stores)
    assert check_written(db, result.items, result.entity_ids(), result.delta.store_values).mismatches.empty
    t = db.tables
    with db.engine.begin() as conn:  # someone changes the store row after our write
        conn.execute(
            sa.update(t.media_gallery_value)
            .where(t.media_gallery_value.c.store_id == DE)
            .values(label="Hinten")
        )
    found = check_written(db, result.items, result.entity_ids(), result.delta.store_values).mismatches
    assert found[["sku", "value", "action"]].values.tolist() == [["S1", A, "store_value"]]
    assert "store 2" in found["problem"].iloc[0] and "label" in found["problem"].iloc[0]
    with db.engine.begin() as conn:
        conn.execute(sa.delete(t.media_gallery_value).where(t.media_gallery_value.c.store_id == DE))
    found = check_written(db, result.items, result.entity_ids(), result.delta.store_values).mismatches
    assert found["problem"].tolist() == ["no value row in store 2"]


def test_an_image_with_a_role_in_a_store_view_is_kept_as_magento_keeps_it(db, tmp_path):
    # DeleteValidator::validate: the product is in three store views and B is the thumbnail of "de".
    sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2)])
    admin_set_role(db, "S1", "thumbnail", B, DE)
    result = sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_2")
    assert result.counts()["purged"] == 0 and [g[0] for g in gallery(db, "S1")] == [B, A]
    kept = result.delta.warnings[result.delta.warnings["field"] == "roles"]
    assert kept[["severity", "sku", "value"]].values.tolist() == [["warning", "S1", B]]
    assert "thumbnail" in kept["reason"].iloc[0] and "'de'" in kept["reason"].iloc[0]
    assert "DeleteValidator" in result.sku_results.set_index("sku").at["S1", "message"]
    assert varchar(db, "S1", DE) == {"thumbnail": B}
    # Magento's admin refuses the same removal, and a re-run writes nothing
    with pytest.raises(RemovalRefused):
        admin_remove_image(db, "S1", B, LocalFolderStore(tmp_path / "bucket"))
    assert sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_2").write_statements == 0


def test_removing_images_with_store_roles_is_an_explicit_setting(db):
    sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2)])
    admin_set_role(db, "S1", "thumbnail", B, DE)
    images = image_frame([("S1", A, "front", 1, False, "image")])
    result = sync_gallery(
        db,
        FakeBatch(images),
        etag_frame({A: "1-" + A}),
        mode="replace_owned",
        batch_key="media_2",
        batch_time=T1,
        remove_store_role_images=True,
    )
    assert result.counts()["purged"] == 1 and [g[0] for g in gallery(db, "S1")] == [A]
    assert varchar(db, "S1", DE) == {}  # the store-level role naming B went with it
    assert result.delta.warnings[result.delta.warnings["field"] == "roles"].empty
    assert Settings.from_env({"NACENTO_REMOVE_STORE_ROLE_IMAGES": "true"}).remove_store_role_images is True
    assert Settings.from_env({}).remove_store_role_images is False


def test_a_single_store_view_shop_removes_images_with_store_roles(db):
    # DeleteValidator only guards products in more than one store view
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(sa.delete(t.store).where(t.store.c.store_id > 1))
    sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2)])
    admin_set_role(db, "S1", "thumbnail", B, 1)
    result = sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_2")
    assert result.counts()["purged"] == 1 and [g[0] for g in gallery(db, "S1")] == [A]


def test_a_file_another_product_holds_in_a_legacy_spelling_gets_one_spelling(db, tmp_path):
    # Gallery::countImageUses matches the exact value: with two spellings, an admin removal on S1 counted
    # one use and deleted the file S2 still shows (UpdateHandler::canDeleteImage).
    bucket = LocalFolderStore(tmp_path / "bucket")
    bucket.put(object_key(A), b"jpeg")
    legacy = A.lstrip("/")
    admin_add_image(db, "S2", legacy, label="old", position=1)
    admin_set_role(db, "S2", "image", legacy, 0)
    result = sync(db, [("S1", A, "front", 1, False, "image")])
    assert result.counts()["inserted"] == 1
    assert gallery(db, "S2") == [(A, "old", 1, 0)] and varchar(db, "S2")["image"] == A
    assert mixed_spellings(db).empty
    assert admin_remove_image(db, "S1", A, bucket) is False  # countImageUses(A) == 2: the file stays
    assert bucket.head(object_key(A)) is not None and gallery(db, "S2") == [(A, "old", 1, 0)]


def test_the_audit_reports_mixed_spellings_and_its_fix_unifies_them(db):
    legacy = A.lstrip("/")
    admin_add_image(db, "S1", A, position=1)
    admin_add_image(db, "S2", legacy, position=1)
    admin_add_image(db, "S3", "//" + legacy, position=1)
    admin_set_role(db, "S3", "thumbnail", "//" + legacy, DE)
    admin_add_image(
        db, "S3", B.lstrip("/"), position=2
    )  # legacy, but the only spelling of its file: left alone
    found = mixed_spellings(db)
    assert found.values.tolist() == [[A, 3, 2]]
    assert unify_mixed_spellings(db) == 2
    assert mixed_spellings(db).empty
    assert [g[0] for g in gallery(db, "S2")] == [A] and [g[0] for g in gallery(db, "S3")] == [
        A,
        B.lstrip("/"),
    ]
    assert varchar(db, "S3", DE) == {"thumbnail": A}
    with db.engine.connect() as conn:
        assert count_image_uses(conn, db, A) == 3


def _add_media_image_attribute(db, code, attribute_id=201):
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(
            t.attribute.insert().values(
                attribute_id=attribute_id,
                entity_type_id=PRODUCT_ENTITY_TYPE_ID,
                attribute_code=code,
                backend_type="varchar",
                frontend_input="media_image",
                frontend_label=code,
            )
        )
    db.refresh_schema()


def test_a_custom_media_image_attribute_is_a_role(db, tmp_path):
    # Product\Media\Config::getMediaAttributeCodes: every media_image attribute is a role
    _add_media_image_attribute(db, "hero_image")
    assert list(db.attribute_ids().roles) == [
        "image",
        "small_image",
        "thumbnail",
        "swatch_image",
        "hero_image",
    ]
    sync(db, [("S1", A, "front", 1, False, "image|hero_image"), ("S1", B, "back", 2, False, "hero_image")])
    assert varchar(db, "S1")["hero_image"] == B  # the last image carrying it
    sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_2", mode="append")
    assert varchar(db, "S1")["hero_image"] == B  # a batch not naming it leaves it as it is
    sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_3")
    assert varchar(db, "S1")["hero_image"] == "no_selection"  # B removed: cleared like the four
    # and Magento's admin clears it the same way when it removes the image
    sync(db, [("S1", A, "front", 1, False, "image|hero_image")], batch_key="media_4")
    admin_remove_image(db, "S1", A, LocalFolderStore(tmp_path / "bucket"))
    assert varchar(db, "S1")["hero_image"] == "no_selection" and varchar(db, "S1")["image"] == "no_selection"


def test_a_native_csv_column_of_a_custom_media_image_attribute_sets_that_role(db):
    """Magento's import reads a column per media_image attribute (`Import\\Product::getImagesFromRow` over
    `_imagesArrayKeys`, `ImageTypeProcessor::getImageTypes`), custom ones included, with its `<code>_label`
    column as the image's label; the attribute's value becomes the image (a store row: in that store)."""
    from nacento_pipeline.core.batch.parse import BunchSource, parse_batch

    _add_media_image_attribute(db, "hero_image")
    asked = []

    def custom_roles():
        asked.append(1)
        return tuple(
            c
            for c in db.attribute_ids().roles
            if c not in ("image", "small_image", "thumbnail", "swatch_image")
        )

    csv = (
        "sku,name,store_view_code,base_image,hero_image,hero_image_label,villain_image\n"
        "S1,Shirt,,f/i/front.jpg,b/a/back.jpg,Held,s/i/side.jpg\n"
        "S1,Hemd,de,,f/i/front.jpg,Vorne,\n"
    )
    parsed = parse_batch(
        [BunchSource.from_bytes("import-media_n_01.csv", csv.encode())], custom_roles=custom_roles
    )
    assert (
        asked == [1] and parsed.rejections.empty
    )  # villain_image is no attribute of the shop: not a column read
    etags = etag_frame({v: "1-" + v for v in (A, B)})
    sync_gallery(db, parsed, etags, mode=parsed.default_mode, batch_key="media_n", batch_time=T1)
    assert varchar(db, "S1")["hero_image"] == B and varchar(db, "S1")["image"] == A
    assert varchar(db, "S1", DE) == {
        "hero_image": A,
        "image_label": "Vorne",
    }  # A, the base image, is "Vorne" in de
    assert gallery(db, "S1") == [(B, "Held", 2, 0), (A, None, 1, 0)]
    assert gallery(db, "S1", DE) == [(A, "Vorne", 1, 0)]
    # A CSV with the standard columns only never asks for the shop's attributes.
    parse_batch(
        [BunchSource.from_bytes("import-media_m_01.csv", b"sku,base_image\nS1,f/i/front.jpg\n")],
        custom_roles=custom_roles,
    )
    assert asked == [1]


def test_a_role_the_shop_does_not_have_is_a_warning_with_file_and_line(db):
    result = sync(db, [("S1", A, "front", 1, False, "image|villain_image")])
    warned = result.delta.warnings[result.delta.warnings["field"] == "roles"]
    assert warned[["severity", "file", "line", "sku", "value"]].values.tolist() == [
        ["warning", "import-media_t_01.csv", 2, "S1", "villain_image"]
    ]  # line 2: after the header
    assert varchar(db, "S1")["image"] == A and "villain_image" not in varchar(db, "S1")


def test_without_magento_swatches_there_is_no_swatch_role_and_no_schema_error(db):
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(sa.delete(t.attribute).where(t.attribute.c.attribute_code == "swatch_image"))
    db.refresh_schema()
    assert list(db.attribute_ids().roles) == ["image", "small_image", "thumbnail"]
    result = sync(db, [("S1", A, "front", 1, False, "image|swatch_image")])
    assert varchar(db, "S1") == {
        "image": A,
        "image_label": "front",
        "small_image": "no_selection",
        "thumbnail": "no_selection",
    }
    assert result.delta.warnings[result.delta.warnings["field"] == "roles"]["value"].tolist() == [
        "swatch_image"
    ]


def test_a_gallery_row_disabled_at_row_level_is_not_present(db):
    # Gallery::createBatchBaseSelect reads `main.disabled = 0` only: such a row shows nothing in Magento
    admin_add_image(db, "S1", A, label="hidden", position=1)
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.media_gallery).values(disabled=1))
    assert load_gallery(db, "S1") == []
    result = sync(db, [("S1", A, "front", 1, False, "image")])
    assert result.counts()["inserted"] == 1
    assert [row[:4] for row in load_gallery(db, "S1")] == [(A, "front", 1, 0)]
    assert varchar(db, "S1")["image"] == A
    assert sync(db, [("S1", A, "front", 1, False, "image")]).write_statements == 0


def test_new_images_go_after_the_videos_too(db):
    # MediaGalleryProcessor::getLastMediaPositionPerProduct reads every value row, videos included
    sync(db, [("S1", A, "", 1)])
    admin_add_image(db, "S1", "/v/i/video.jpg", position=5, media_type="external-video")
    sync(db, [("S1", A, "", 1), ("S1", B, "", None)], batch_key="media_2")
    assert [(row[0], row[2], row[4]) for row in load_gallery(db, "S1")] == [
        (A, 1, "image"),
        ("/v/i/video.jpg", 5, "external-video"),
        (B, 6, "image"),
    ]


def test_a_path_equal_to_a_video_of_the_product_is_refused(db):
    # a second row of the same value would be deleted by Gallery::removeDuplicates on the next product load
    video = "/v/i/video.jpg"
    admin_add_image(db, "S1", video, position=1, media_type="external-video")
    result = sync(db, [("S1", A, "", 2), ("S1", video, "", 3)])
    item = result.items.set_index("value").loc[video]
    assert item["action"] == "invalid" and "external-video" in item["reason"]
    assert [(row[0], row[4]) for row in load_gallery(db, "S1")] == [(video, "external-video"), (A, "image")]


def test_duplicate_store0_value_rows_collapse_into_the_one_magento_shows(db):
    # createBatchBaseSelect returns a row per store-0 value row; ReadHandler keys them by value_id, so the
    # last in position order is the one shown: the write keeps that one and deletes the others
    rows = [("S1", A, "front", 1, False, "image")]
    sync(db, rows)
    t = db.tables
    with db.engine.begin() as conn:
        value_id = conn.execute(sa.select(t.media_gallery.c.value_id)).scalar()
        conn.execute(
            t.media_gallery_value.insert().values(
                value_id=value_id,
                store_id=0,
                label="dup",
                position=5,
                disabled=0,
                **{t.link: link_of(db, "S1")},
            )
        )
    # (read in store 0 the select joins both value rows twice: four rows, the last one "dup")
    assert [row[:3] for row in load_gallery(db, "S1")][-1] == (A, "dup", 5)
    # (a batch with new content for S1: one whose content was applied already is left out of the plan)
    rows = [("S1", A, "front 2", 1, False, "image")]
    result = sync(db, rows, batch_key="media_2")
    # the kept row gets the batch's label and position, and the ETag row the deleted one had
    assert len(result.delta.extra_value_rows) == 1 and result.counts()["updated_value"] == 1
    assert [row[:3] for row in load_gallery(db, "S1")] == [(A, "front 2", 1)]
    assert sync(db, rows, batch_key="media_2").write_statements == 0


def test_the_audit_collapses_duplicate_store0_value_rows(db):
    sync(db, [("S1", A, "front", 1, False, "image")])
    t = db.tables
    with db.engine.begin() as conn:
        value_id = conn.execute(sa.select(t.media_gallery.c.value_id)).scalar()
        conn.execute(
            t.media_gallery_value.insert().values(
                value_id=value_id,
                store_id=0,
                label="dup",
                position=5,
                disabled=0,
                **{t.link: link_of(db, "S1")},
            )
        )
    found = duplicate_default_value_rows(db)
    assert found["position"].tolist() == [1, 5] and found["extra"].tolist() == [True, False]
    assert collapse_duplicate_default_value_rows(db) == 1
    assert duplicate_default_value_rows(db).empty
    assert gallery(db, "S1") == [(A, "dup", 5, 0)]  # the row Magento showed stays


# --- issue 21, "done when": every batch of the suite written a second time writes 0 rows ------------------

_NATIVE = (
    "sku,store_view_code,base_image,base_image_label,small_image,thumbnail_image,additional_images,"
    "additional_image_labels,hide_from_product_page\n"
)
_SUITE_BATCHES = {
    "gallery-csv": [
        (
            "import-media_g_01.csv",
            "sku,file_path,label,position,disabled,roles\n"
            f"S1,{A},front,1,0,base|small_image|thumbnail\nS1,{B},,2,1,\nS2,{C},side,,0,swatch_image\n",
        )
    ],
    "native-csv-with-store-rows": [
        (
            "import-media_n_01.csv",
            _NATIVE
            + "S1,,f/i/front.jpg,Front,f/i/front.jpg,b/a/back.jpg,s/i/side.jpg,Side,\n"
            + "S1,de,b/a/back.jpg,Hinten,,,s/i/side.jpg,Seite,s/i/side.jpg\n",
        )
    ],
    "native-csv-store-view-only": [
        ("import-media_s_01.csv", _NATIVE + "S3,de,f/i/front.jpg,Vorne,,,b/a/back.jpg,Hinten,\n")
    ],
    "json-bulk-with-stores": [
        (
            "import-media_j_01.json",
            json.dumps(
                {
                    "request": {
                        "request_id": "r1",
                        "items": [
                            {
                                "sku": "S2",
                                "images": [
                                    {
                                        "file_path": A,
                                        "label": "front",
                                        "position": 1,
                                        "roles": ["base", "thumbnail"],
                                        "stores": {
                                            "de": {
                                                "label": "Vorne",
                                                "position": 3,
                                                "disabled": True,
                                                "roles": ["small_image"],
                                            }
                                        },
                                    },
                                    {"file_path": B, "label": "", "position": 2},
                                ],
                            }
                        ],
                    }
                }
            ),
        )
    ],
    "jsonl": [
        (
            "import-media_l_01.jsonl",
            json.dumps({"sku": "S3", "images": [{"file_path": C, "roles": ["base"]}]}) + "\n",
        )
    ],
}


def _dump(db):
    """Every row of Magento's gallery, value, link and varchar tables and of our ETag table, ids included."""
    t = db.tables
    tables = [t.media_gallery, t.media_gallery_value, t.value_to_entity, t.varchar, t.gallery_meta]
    with db.engine.connect() as conn:
        return {
            table.name: sorted(
                tuple(str(v) for v in row if not isinstance(v, datetime))
                for row in conn.execute(sa.select(table))
            )
            for table in tables
        }


@pytest.mark.parametrize("name", sorted(_SUITE_BATCHES))
def test_every_suite_batch_written_a_second_time_writes_nothing(db, name):
    """The sample batches of every format, store-level values included, planned again with `force` (past the
    digests, so the delta rules themselves decide): 0 statements, and Magento's tables as the first write left
    them; the post-write check of the first write agrees with the tables."""
    from nacento_pipeline.core.batch.parse import BunchSource, parse_batch

    parsed = parse_batch([BunchSource.from_bytes(file, text.encode()) for file, text in _SUITE_BATCHES[name]])
    assert parsed.rejections.empty, parsed.rejections
    etags = etag_frame({v: "1-" + v for v in set(parsed.images["value"])})
    mode = parsed.default_mode or "replace_owned"
    first = sync_gallery(db, parsed, etags, mode=mode, batch_key="media_x", batch_time=T1)
    assert first.write_statements > 0 and set(first.sku_results["status"]) == {"ok"}
    assert check_written(db, first.items, first.entity_ids(), first.delta.store_values).mismatches.empty
    before = _dump(db)
    again = sync_gallery(db, parsed, etags, mode=mode, batch_key="media_x", batch_time=T1, force=True)
    assert again.write_statements == 0, again.items[["sku", "value", "action"]]
    assert again.delta.store_values.empty and again.delta.roles.empty
    assert _dump(db) == before
