"""bulk_sql: literal escaping (NULLs, bytes, unicode, backslashes, quotes, %), statement splitting, upserts,
joined updates, and new ids from the driver (consecutive path) or re-selected (fallback), also through the
gallery writer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from nacento_pipeline.magento import bulk_sql
from nacento_pipeline_tests.magento.gallery_helpers import A, B, C, sync

TRICKY = [
    None,
    "",
    "plain",
    "it's",
    'say "hi"',
    "back\\slash",
    "ends with \\",
    "\\'",
    "''",
    "100%",
    "%s %(x)s",
    "üñíçødé ☃ 😀",
    "line\nbreak\r\ttab",
    "nul\x00byte",
    "ctrl-z\x1a",
    "-- comment",
    "'); DROP TABLE t; --",
]
BYTES = [None, b"", b"\x00\x01'\\\"\xff", "😀".encode()]


@pytest.fixture(params=["sqlite", "mariadb"])
def engine(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def _table(engine: sa.Engine, name: str = "bulk_t") -> sa.Table:
    meta = sa.MetaData()
    table = sa.Table(
        name,
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("blob", sa.LargeBinary, nullable=True),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    meta.create_all(engine)
    return table


def _read(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.select(table).order_by(table.c.id))
        return pd.DataFrame(result.all(), columns=list(result.keys()), dtype=object)


def _codes(n: int, start: int = 0) -> list[str]:
    return [f"c{i:05d}" for i in range(start, start + n)]


def test_literals_round_trip_nulls_bytes_unicode_backslashes_quotes_and_percent(engine):
    table = _table(engine)
    n = len(TRICKY)
    blobs = (BYTES * n)[:n]
    numbers = pd.Series([None if i % 3 == 0 else i - 5 for i in range(n)], dtype="Int64")
    with engine.begin() as conn:
        assert (
            bulk_sql.insert(
                conn, table, {"code": _codes(n), "text": TRICKY, "blob": blobs, "number": numbers}
            )
            == n
        )
    rows = _read(engine, table)
    assert rows["text"].tolist() == TRICKY
    assert [None if b is None else bytes(b) for b in rows["blob"]] == blobs
    assert [None if pd.isna(x) else int(x) for x in rows["number"]] == [
        None if pd.isna(x) else int(x) for x in numbers
    ]


def test_backslashes_and_quotes_under_no_backslash_escapes(mysql_url):
    engine = sa.create_engine(mysql_url)
    try:
        table = _table(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            bulk_sql.insert(conn, table, {"code": _codes(len(TRICKY)), "text": TRICKY})
            conn.exec_driver_sql("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        assert _read(engine, table)["text"].tolist() == TRICKY
    finally:
        engine.dispose()


def test_statements_split_by_size_keep_every_row_and_its_id(engine, monkeypatch):
    table = _table(engine)
    with engine.begin() as conn:
        limits = bulk_sql.settings(conn)
        small = replace(limits, max_statement_bytes=2000, max_variables=60)
        monkeypatch.setitem(bulk_sql.SETTINGS_CACHE, engine, small)
        statements = []
        sa.event.listen(conn, "before_cursor_execute", lambda *args: statements.append(args[2]))
        texts = [f"row {i} {'x' * (i % 50)} '\\ 😀" for i in range(400)]
        ids = bulk_sql.insert_with_ids(
            conn, table, {"code": _codes(400), "text": texts, "number": np.arange(400)}
        )
    assert len(statements) > 5  # really split
    rows = _read(engine, table)
    assert rows["text"].tolist() == texts
    assert ids is not None and ids.tolist() == rows["id"].tolist()


def test_new_ids_match_the_rows_after_existing_rows_and_with_a_trigger_inserting_elsewhere(engine):
    table = _table(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE bulk_log (version_id INTEGER PRIMARY KEY "
            + ("AUTO_INCREMENT" if engine.dialect.name != "sqlite" else "AUTOINCREMENT")
            + ", code VARCHAR(64))"
        )
        insert_log = "INSERT INTO bulk_log (code) VALUES (NEW.code)"
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER bulk_t_log AFTER INSERT ON bulk_t BEGIN {insert_log}; END")
        else:
            conn.exec_driver_sql(
                f"CREATE TRIGGER bulk_t_log AFTER INSERT ON bulk_t FOR EACH ROW {insert_log}"
            )
        conn.exec_driver_sql(
            "INSERT INTO bulk_log (code) VALUES ('x'), ('y'), ('z')"
        )  # ids differ from bulk_t's
        bulk_sql.insert(conn, table, {"code": _codes(7), "text": "seed"})
        conn.execute(sa.delete(table).where(table.c.code == "c00006"))  # a gap at the top
        codes = _codes(50, start=100)
        ids = bulk_sql.insert_with_ids(conn, table, {"code": pd.Series(codes), "text": "new"})
    rows = _read(engine, table)
    by_code = dict(zip(rows["code"], rows["id"], strict=True))
    assert ids is not None and ids.tolist() == [by_code[c] for c in codes]
    assert min(ids) > max(by_code[c] for c in _codes(6))


def test_fallback_when_ids_are_not_consecutive_returns_none_and_still_inserts(engine, monkeypatch):
    table = _table(engine)
    with engine.begin() as conn:
        monkeypatch.setitem(
            bulk_sql.SETTINGS_CACHE, engine, replace(bulk_sql.settings(conn), consecutive_ids=False)
        )
        assert bulk_sql.insert_with_ids(conn, table, {"code": _codes(3), "text": ["a", "b", None]}) is None
    assert _read(engine, table)["text"].tolist() == ["a", "b", None]


def test_mysql_settings_follow_the_autoinc_lock_mode(mysql_url):
    engine = sa.create_engine(mysql_url)
    try:
        with engine.connect() as conn:
            mode, step = conn.exec_driver_sql(
                "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment"
            ).one()
            limits = bulk_sql.settings(conn)
        assert limits.consecutive_ids == (int(mode) in (0, 1)) and limits.id_step == int(step)
        assert 0 < limits.max_statement_bytes <= bulk_sql.MAX_STATEMENT_BYTES
    finally:
        engine.dispose()


def test_upsert_updates_the_listed_columns_touches_and_inserts_the_rest(engine):
    table = _table(engine)
    with engine.begin() as conn:
        bulk_sql.insert(conn, table, {"code": ["a", "b"], "text": ["old a", "old b"], "number": [1, 2]})
        bulk_sql.upsert(
            conn,
            table,
            {"code": ["b", "c"], "text": ["new 'b'", None], "number": [20, 30]},
            ["code"],
            ["text"],
            touch="updated_at",
        )
        bulk_sql.upsert(
            conn, table, {"code": ["a", "d"], "text": ["ignored", "d"], "number": [9, 4]}, ["code"], []
        )
    rows = _read(engine, table).set_index("code")
    assert rows.loc[["a", "b", "c", "d"], "text"].tolist() == ["old a", "new 'b'", None, "d"]
    assert rows.loc[["a", "b", "c", "d"], "number"].tolist() == [1, 2, 30, 4]  # number not in `update`
    assert rows["updated_at"].notna().tolist() == [False, True, False, False]


def test_update_sets_values_on_matching_keys_including_a_key_column_itself(engine):
    table = _table(engine)
    with engine.begin() as conn:
        bulk_sql.insert(conn, table, {"code": ["a", "b", "c"], "text": ["x", "y", "z"], "number": [1, 2, 3]})
        bulk_sql.update(
            conn,
            table,
            {"code": pd.Series(["a", "c"])},
            {"text": ["it's \\ 😀", None], "number": pd.Series([None, 33], dtype="Int64")},
        )
        bulk_sql.update(conn, table, {"code": ["b"], "number": [2]}, {"code": ["b2"]})  # the key itself moves
    rows = _read(engine, table)
    assert rows["code"].tolist() == ["a", "b2", "c"]
    assert rows["text"].tolist() == ["it's \\ 😀", "y", None]
    assert [None if pd.isna(x) else int(x) for x in rows["number"]] == [None, 2, 33]


@pytest.mark.parametrize("consecutive", [True, False], ids=["driver-ids", "reselect"])
def test_gallery_writer_ids_match_rows_on_both_paths(db, monkeypatch, consecutive):
    with db.engine.connect() as conn:
        monkeypatch.setitem(
            bulk_sql.SETTINGS_CACHE, db.engine, replace(bulk_sql.settings(conn), consecutive_ids=consecutive)
        )
    sync(db, [("S3", A, "", 0, False, "")])  # rows before: new ids start above them
    result = sync(
        db,
        [
            ("S1", A, "a", 1, False, "image"),
            ("S1", B, "b", 2, False, ""),
            ("S2", A, "", 1, False, ""),
            ("S2", C, "c", 3, True, "image"),
        ],
    )
    assert result.counts()["inserted"] == 4
    t = db.tables
    with db.engine.connect() as conn:
        rows = pd.DataFrame(
            conn.execute(
                sa.select(
                    t.product.c.sku,
                    t.media_gallery.c.value,
                    t.media_gallery.c.value_id,
                    t.media_gallery_value.c.record_id,
                    t.media_gallery_value.c.label,
                    t.gallery_meta.c.s3_etag,
                )
                .join(t.value_to_entity, t.value_to_entity.c[t.link] == t.product.c[t.link])
                .join(t.media_gallery, t.media_gallery.c.value_id == t.value_to_entity.c.value_id)
                .join(
                    t.media_gallery_value,
                    (t.media_gallery_value.c.value_id == t.media_gallery.c.value_id)
                    & (t.media_gallery_value.c[t.link] == t.product.c[t.link])
                    & (t.media_gallery_value.c.store_id == 0),
                )
                .join(t.gallery_meta, t.gallery_meta.c.record_id == t.media_gallery_value.c.record_id)
            ).all(),
            columns=["sku", "value", "value_id", "record_id", "label", "etag"],
            dtype=object,
        )
    # Joined on the ids the writer used: a wrong value_id would pair a product with another path, a wrong
    # record_id would put a label or an ETag on another path's row.
    assert sorted(zip(rows["sku"], rows["value"], strict=True)) == [
        ("S1", A),
        ("S1", B),
        ("S2", A),
        ("S2", C),
        ("S3", A),
    ]
    assert rows["value_id"].is_unique and rows["record_id"].is_unique  # never a shared row
    assert (rows["etag"] == "1-" + rows["value"]).all()  # ETag meta rows on the value rows just inserted
    labels = dict(zip(zip(rows["sku"], rows["value"], strict=True), rows["label"], strict=True))
    assert labels == {("S1", A): "a", ("S1", B): "b", ("S2", A): None, ("S2", C): "c", ("S3", A): None}
