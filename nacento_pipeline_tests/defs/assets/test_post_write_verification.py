"""The post-write verification (magento/gallery/verify.py): the database against what the write says it wrote,
one SELECT per chunk of products, and how the magento_gallery check reports it."""

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.magento.gallery import verify as gallery_verify
from nacento_pipeline.magento.gallery import verify_numbers
from nacento_pipeline.magento.gallery.audit import roles_outside_gallery
from nacento_pipeline.magento.gallery.verify import read_gallery_links, written_rows_mismatches
from nacento_pipeline.storage.drop.samples import drop_sample_batch, image_value, put_demo_images


def _written_items(p) -> pd.DataFrame:
    """What a write of the current store-0 gallery would report: one `inserted` row per image, its ETag."""
    t = p.db.tables
    with p.db.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(t.product.c.sku, t.product.c[t.link])).all())
    gallery = p.gallery()
    return pd.DataFrame(
        {
            "sku": gallery["sku"],
            "value": gallery["value"],
            "entity_id": gallery["sku"].map(ids),
            "action": "inserted",
            "etag": gallery["etag"],
        }
    )


def _check_metadata(result, name: str) -> tuple[bool, dict]:
    [event] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name
    ]
    return event.passed, {k: v.value for k, v in event.metadata.items()}


def test_the_check_reads_the_database_and_only_a_sample_of_storage(
    s3_mariadb_pipeline, instance, monkeypatch
):
    p = s3_mariadb_pipeline
    monkeypatch.setattr(gallery_verify, "CHUNK", 5)  # 12 products: 3 statements, one per chunk
    monkeypatch.setattr(verify_numbers, "CHUNK", 5)
    chunks: list[int] = []
    read_back: list[int] = []
    numbers_query, links_query = verify_numbers._chunk_numbers_query, gallery_verify._links_query

    def counted(db, links, expected):
        chunks.append(len(links))
        return numbers_query(db, links, expected)

    def counted_read_back(db, links):
        read_back.append(len(links))
        return links_query(db, links)

    monkeypatch.setattr(verify_numbers, "_chunk_numbers_query", counted)
    monkeypatch.setattr(gallery_verify, "_links_query", counted_read_back)
    before = p.store.requests.snapshot()
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    passed, meta = _check_metadata(result, "written_paths_exist_in_storage")
    assert passed
    assert meta["checked"] == 36 and meta["not_in_database"] == 0
    assert meta["sampled_in_storage"] == 36 and meta["missing"] == 0  # 36 <= the sample size: all of them
    # one statement per chunk of products, whatever the number of images (two connections on MariaDB: any
    # order)
    assert sorted(chunks) == [2, 5, 5]
    assert read_back == []  # every chunk's numbers agreed: no row-by-row read-back (the slow path)
    # the run's storage requests: the sensor, the archive, the snapshot and the small re-check, no 2nd
    # snapshot
    assert p.store.requests.since(before)["HEAD"] <= 36


def test_a_second_batch_updating_and_purging_verifies_clean(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    put_demo_images(p.store, p.settings.media_prefix, generation=1)
    drop_sample_batch(p.store, p.settings.drop_prefix, generation=1)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    passed, meta = _check_metadata(result, "written_paths_exist_in_storage")
    assert passed and meta["not_in_database"] == 0 and meta["missing"] == 0
    assert meta["checked"] >= 3  # 2 new contents, relabelled backs, 1 purged: each compared with the database


def test_what_the_database_does_not_hold_is_reported(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    items = _written_items(p)
    assert written_rows_mismatches(items, read_gallery_links(p.db, items["entity_id"])).empty

    t = p.db.tables
    changed = ("NAC-1001", image_value("NAC-1001", "front"))
    unlinked = ("NAC-1002", image_value("NAC-1002", "back"))
    kept = ("NAC-1003", image_value("NAC-1003", "side"))
    ids = dict(zip(items["sku"], items["entity_id"], strict=False))
    with p.db.engine.begin() as conn:
        record_of = dict(
            conn.execute(
                sa.select(t.media_gallery.c.value, t.media_gallery_value.c.record_id)
                .join(t.media_gallery, t.media_gallery.c.value_id == t.media_gallery_value.c.value_id)
                .where(t.media_gallery_value.c[t.link] == ids[changed[0]])
            ).all()
        )
        conn.execute(
            t.gallery_meta.update()
            .where(t.gallery_meta.c.record_id == record_of[changed[1]])
            .values(s3_etag="0" * 32)
        )
        value_id = conn.execute(
            sa.select(t.media_gallery.c.value_id).where(t.media_gallery.c.value == unlinked[1])
        ).scalar_one()
        conn.execute(
            t.value_to_entity.delete().where(
                t.value_to_entity.c.value_id == value_id, t.value_to_entity.c[t.link] == ids[unlinked[0]]
            )
        )
    items.loc[(items["sku"] == kept[0]) & (items["value"] == kept[1]), "action"] = "purged"

    found = written_rows_mismatches(items, read_gallery_links(p.db, items["entity_id"]))
    problems = {(r.sku, r.value): r.problem for r in found.itertuples()}
    assert set(problems) == {changed, unlinked, kept}
    assert problems[changed].startswith("stored ETag 000")
    assert problems[unlinked] == "not linked to the product"
    assert problems[kept] == "still linked"


def test_roles_compare_paths_byte_for_byte_on_mariadb(s3_mariadb_pipeline, instance):
    """MariaDB compares strings case-insensitively (and a NOT EXISTS with CAST(... AS BINARY) gave wrong
    answers on 10.11 when tried as a prefilter): the roles check keeps comparing paths in Python."""
    p = s3_mariadb_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    t = p.db.tables
    with p.db.engine.begin() as conn:
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == "NAC-1001")).scalar_one()
        conn.execute(
            t.varchar.insert().values(
                **{t.link: link},
                attribute_id=p.db.attribute_ids().roles["thumbnail"],
                store_id=1,
                value=image_value("NAC-1001", "front").upper(),
            )
        )
        conn.execute(
            t.varchar.insert().values(
                **{t.link: link},
                attribute_id=p.db.attribute_ids().roles["image"],
                store_id=1,
                value=image_value("NAC-1001", "back").lstrip("/"),
            )
        )
    bad = roles_outside_gallery(p.db, [link])
    # a case-different path is another file; a missing leading slash is the same path (canonical form)
    assert bad[["role", "value", "store_id"]].values.tolist() == [
        ["thumbnail", image_value("NAC-1001", "front").upper(), 1]
    ]
