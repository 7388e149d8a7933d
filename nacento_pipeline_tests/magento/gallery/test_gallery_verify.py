"""The post-write check's fast path (magento/gallery_verify.check_written): one aggregate statement per chunk
of products; a chunk whose numbers disagree, and only that one, is compared row by row and reported as before.
"""

from __future__ import annotations

import time
import zlib

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.demo import DEMO_ATTRIBUTE_IDS
from nacento_pipeline.magento.gallery import verify as gallery_verify
from nacento_pipeline.magento.gallery import verify_numbers, verify_write
from nacento_pipeline.magento.gallery.audit import roles_outside_gallery
from nacento_pipeline.magento.gallery.verify import check_written
from nacento_pipeline.magento.gallery.verify_numbers import checksum
from nacento_pipeline_tests.magento.gallery_helpers import sync

A, B, C = "/v/f/a.jpg", "/v/f/b.jpg", "/v/f/c.jpg"
NON_ASCII = "/ñ/ü/ñandú-straße-日本.jpg"
SKUS = ("S1", "S2", "S3")


@pytest.fixture
def one_product_per_chunk(monkeypatch):
    monkeypatch.setattr(gallery_verify, "CHUNK", 1)
    monkeypatch.setattr(verify_numbers, "CHUNK", 1)


def _link(db, sku: str) -> int:
    t = db.tables
    with db.engine.connect() as conn:
        return conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar_one()


def _two_writes(db):
    """A and B for each product, then a replace with A and C (C inserted with roles, B purged): the second
    write's result, the one checked."""
    sync(db, [(s, v) for s in SKUS for v in (A, B)])
    result = sync(
        db,
        [(s, v, "", 0, False, "image|small_image|thumbnail" if v == C else "") for s in SKUS for v in (A, C)],
        batch_key="media_2",
    )
    assert result.counts()["inserted"] == 3 and result.counts()["purged"] == 3
    return result


def _value_id(conn, db, value: str, link: int) -> int:
    t = db.tables
    vte, g = t.value_to_entity, t.media_gallery
    return conn.execute(
        sa.select(g.c.value_id)
        .join(vte, vte.c.value_id == g.c.value_id)
        .where(g.c.value == value, vte.c[t.link] == link)
    ).scalar_one()


def _record_id(conn, db, value: str, link: int) -> int:
    t = db.tables
    v = t.media_gallery_value
    return conn.execute(
        sa.select(v.c.record_id).where(
            v.c.value_id == _value_id(conn, db, value, link), v.c[t.link] == link, v.c.store_id == 0
        )
    ).scalar_one()


def test_a_correct_write_is_verified_by_the_numbers_and_its_purges_by_reading_back(
    db, one_product_per_chunk, monkeypatch
):
    result = _two_writes(db)
    read_back: list[list[int]] = []
    read = gallery_verify.read_gallery_links

    def counted(db, entity_ids):
        read_back.append(sorted(entity_ids))
        return read(db, entity_ids)

    monkeypatch.setattr(gallery_verify, "read_gallery_links", counted)
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches.empty and found.bad_roles.empty
    assert (found.chunks, found.slow_chunks) == (3, 0)
    purging = sorted(set(result.items.loc[result.items["action"] == "purged", "entity_id"].astype(int)))
    assert len(purging) == 3 and read_back == [
        purging
    ]  # one read-back, of the products with a purged row only


def test_a_write_that_changed_nothing_is_verified_by_the_numbers_alone(db):
    _two_writes(db)
    again = sync(
        db,
        [(s, v, "", 0, False, "image|small_image|thumbnail" if v == C else "") for s in SKUS for v in (A, C)],
        batch_key="media_3",
        force=True,
    )  # force: planned again
    assert again.counts()["inserted"] == again.counts()["purged"] == 0
    found = check_written(db, again.items, again.entity_ids())
    assert found.mismatches.empty and found.bad_roles.empty and (found.chunks, found.slow_chunks) == (1, 0)


def test_a_chunk_closes_early_on_products_with_many_written_rows(db, monkeypatch):
    monkeypatch.setattr(verify_numbers, "ROWS_PER_STATEMENT", 3)  # 2 written rows per product: one per chunk
    result = _two_writes(db)
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches.empty and (found.chunks, found.slow_chunks) == (3, 0)


def _delete_link(conn, db, link):
    t = db.tables
    conn.execute(
        t.value_to_entity.delete().where(
            t.value_to_entity.c.value_id == _value_id(conn, db, C, link), t.value_to_entity.c[t.link] == link
        )
    )


def _delete_store0_row(conn, db, link):
    t = db.tables
    record = _record_id(conn, db, C, link)
    conn.execute(t.gallery_meta.delete().where(t.gallery_meta.c.record_id == record))
    conn.execute(t.media_gallery_value.delete().where(t.media_gallery_value.c.record_id == record))


def _change_etag_of(conn, db, value, link):
    t = db.tables
    conn.execute(
        t.gallery_meta.update()
        .where(t.gallery_meta.c.record_id == _record_id(conn, db, value, link))
        .values(s3_etag="0" * 32)
    )


def _change_etag(conn, db, link):
    _change_etag_of(conn, db, C, link)


def _relink_purged_as(spelling: str):
    def damage(conn, db, link):
        t = db.tables
        value_id = conn.execute(
            t.media_gallery.insert().values(attribute_id=DEMO_ATTRIBUTE_IDS["media_gallery"], value=spelling)
        ).inserted_primary_key[0]
        conn.execute(t.value_to_entity.insert().values(value_id=value_id, **{t.link: link}))

    return damage


def _role_outside(value: str):
    def damage(conn, db, link):
        t = db.tables
        conn.execute(
            t.varchar.insert().values(
                attribute_id=DEMO_ATTRIBUTE_IDS["thumbnail"], store_id=1, value=value, **{t.link: link}
            )
        )

    return damage


ROLES_OF_C = [["image", C, 0], ["small_image", C, 0], ["thumbnail", C, 0]]


# A purged path still linked is found by reading back the links of the products with a purged row (whatever
# its spelling: `//p` or ` /p` is the same image to the storefront), not by the chunk's numbers: slow 0.
@pytest.mark.parametrize(
    ("damage", "mismatches", "bad_roles", "slow"),
    [
        (
            _delete_link,
            [[C, "inserted", "not linked to the product"]],
            ROLES_OF_C,
            1,
        ),  # its roles now point outside
        (_delete_store0_row, [[C, "inserted", "no store-0 value row"]], [], 1),
        (_change_etag, [[C, "inserted", "stored ETag " + "0" * 32 + " != written 1-" + C]], [], 1),
        (_relink_purged_as(B), [[B, "purged", "still linked"]], [], 0),
        (_relink_purged_as("/" + B), [[B, "purged", "still linked"]], [], 0),
        (_relink_purged_as(" " + B.lstrip("/")), [[B, "purged", "still linked"]], [], 0),
        (_role_outside("/x/y/elsewhere.jpg"), [], [["thumbnail", "/x/y/elsewhere.jpg", 1]], 1),
        (
            _role_outside(C.upper()),
            [],
            [["thumbnail", C.upper(), 1]],
            1,
        ),  # another file, though MariaDB's collation agrees
    ],
    ids=[
        "link_deleted",
        "store0_row_deleted",
        "etag_changed",
        "purged_relinked",
        "purged_relinked_double_slash",
        "purged_relinked_spaced",
        "role_outside",
        "role_case",
    ],
)
def test_damage_sends_only_its_chunk_to_the_slow_path_and_is_reported(
    db, one_product_per_chunk, damage, mismatches, bad_roles, slow
):
    result = _two_writes(db)
    link = _link(db, "S2")
    with db.engine.begin() as conn:
        damage(conn, db, link)
    found = check_written(db, result.items, result.entity_ids())
    assert (found.chunks, found.slow_chunks) == (3, slow)
    assert found.mismatches.values.tolist() == [["S2", *row] for row in mismatches]
    assert sorted(found.bad_roles.values.tolist()) == sorted([link, *row] for row in bad_roles)


@pytest.mark.parametrize("dialect", ["sqlite", "mariadb"])
def test_crc32_of_python_and_the_databases_agree_on_non_ascii(request, dialect):
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "mysql_url")
    engine = MagentoDatabase(url).engine
    texts = [NON_ASCII, "12|" + NON_ASCII + '|"etag"', "plain"]
    with engine.connect() as conn:
        ensure_crc32(conn)
        found = [conn.execute(sa.select(sa.func.crc32(sa.literal(t, sa.String)))).scalar_one() for t in texts]
    assert [int(f) for f in found] == [zlib.crc32(t.encode()) for t in texts]
    assert checksum(texts) == sum(found)
    engine.dispose()


QUOTED = "/q/u/o'neil\\back.jpg"  # a quote and a backslash: the paths are rendered into the statement


def test_non_ascii_and_quoted_paths_are_verified_by_the_numbers_alone(db):
    result = sync(
        db, [("S1", NON_ASCII, "", 0, False, "image"), ("S2", A), ("S3", QUOTED, "", 0, False, "image")]
    )
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches.empty and found.bad_roles.empty and found.slow_chunks == 0
    with db.engine.begin() as conn:  # and a damaged one is still found
        _change_etag_of(conn, db, QUOTED, _link(db, "S3"))
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches[["sku", "value"]].values.tolist() == [["S3", QUOTED]] and found.slow_chunks == 1


def test_row_id_schema_is_checked_by_the_live_row_id(row_id_db):
    """Content staging: links carry row_id, the write reports entity_id; the two differ here."""
    db = row_id_db
    t = db.tables
    now = int(time.time())
    with db.engine.begin() as conn:  # R1's live version is row 10 (a newer one is scheduled); R2 is row 12
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
                {"row_id": 12, "entity_id": 6, "sku": "R2", "created_in": 1, "updated_in": 2147483647},
            ],
        )
    result = sync(db, [("R1", A, "", 1, False, "image"), ("R1", B), ("R2", C, "", 1, False, "thumbnail")])
    assert result.entity_ids() == [5, 6]
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches.empty and found.bad_roles.empty and found.slow_chunks == 0
    assert roles_outside_gallery(db, [5, 6]).empty
    if db.is_mysql:  # the roles statement's index hint names the row_id key
        assert (
            _unique_key_columns(db, db.link_key_hint(t.varchar)[len("FORCE INDEX (") : -1].strip("`"))[0]
            == "row_id"
        )

    with db.engine.begin() as conn:  # R1 loses B and gets a role outside its gallery
        conn.execute(
            t.value_to_entity.delete().where(t.value_to_entity.c.value_id == _value_id(conn, db, B, 10))
        )
        conn.execute(
            t.varchar.insert().values(
                attribute_id=DEMO_ATTRIBUTE_IDS["thumbnail"], store_id=1, value="/x/y/z.jpg", row_id=10
            )
        )
    found = check_written(db, result.items, result.entity_ids())
    assert found.mismatches.values.tolist() == [["R1", B, "inserted", "not linked to the product"]]
    assert found.bad_roles.values.tolist() == [[5, "thumbnail", "/x/y/z.jpg", 1]]
    assert roles_outside_gallery(db, [5, 6]).values.tolist() == [[5, "thumbnail", "/x/y/z.jpg", 1]]


def _unique_key_columns(db, name: str) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = '{db.tables.varchar.name}' AND INDEX_NAME = '{name}' ORDER BY SEQ_IN_INDEX"
        )
        return [r[0] for r in rows]


def test_the_roles_statement_is_pinned_to_the_unique_key_of_the_link_column(db):
    """Right after a big write MariaDB's statistics may be the empty table's and it would scan the varchar
    table per chunk: the roles statement names the (link, attribute_id, store_id) unique key on MySQL/MariaDB.
    """
    hint = db.link_key_hint(db.tables.varchar)
    if not db.is_mysql:
        assert hint is None
        return
    assert hint is not None and hint.startswith("FORCE INDEX (")
    name = hint[len("FORCE INDEX (") : -1].strip("`")
    assert _unique_key_columns(db, name) == [db.tables.link, "attribute_id", "store_id"]
    sql = str(verify_numbers._roles_outside_numbers(db, [1, 2]).compile(db.engine))
    assert hint in sql
    with db.engine.connect() as conn:  # the hinted statement runs
        assert conn.execute(verify_numbers._roles_outside_numbers(db, [1, 2])).one()[1] == 0


def test_chunks_checked_during_the_write_find_what_a_check_after_it_finds(db, monkeypatch):
    """ChunkVerifier: each chunk's delta checked as its transaction commits (chunks of 2 SKUs: 2 chunks), the
    same verdict as one check after the write; damage done between the write and the check is still found."""
    from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
    from nacento_pipeline_tests.helpers import FakeBatch, image_frame
    from nacento_pipeline_tests.magento.gallery_helpers import T1, etags_for

    sync(db, [(s, v) for s in SKUS for v in (A, B)])
    rows = [
        (s, v, "", 0, False, "image|small_image|thumbnail" if v == C else "") for s in SKUS for v in (A, C)
    ]
    plan = plan_gallery(
        db,
        FakeBatch(image_frame(rows)),
        etags_for({A, C}),
        mode="replace",
        batch_time=T1,
        chunk_size=2,
        batch_key="media_2",
    )
    seen: list[int] = []
    with verify_write.ChunkVerifier(db) as verifier:

        def submit(delta):
            seen.append(len(delta.sku_results))
            verifier.submit(delta)

        result = write_gallery(db, plan, run_id="run-2", on_written=submit)
        during = verifier.result()
    assert seen == [2, 1]
    after = check_written(db, result.items, result.entity_ids())
    assert (
        during.mismatches.empty and during.bad_roles.empty and during.slow_chunks == 0 and during.chunks == 2
    )
    assert after.mismatches.empty and after.chunks == 1

    link = _link(db, "S3")
    with db.engine.begin() as conn:  # the inserted C of S3 loses its link after the write
        conn.execute(
            sa.delete(db.tables.value_to_entity).where(
                db.tables.value_to_entity.c.value_id == _value_id(conn, db, C, link)
            )
        )
    with verify_write.ChunkVerifier(db) as verifier:
        for part in (result.delta,):
            verifier.submit(part)
        found = verifier.result()
    assert found.mismatches.values.tolist() == [["S3", C, "inserted", "not linked to the product"]]
