"""Time limits on MySQL/MariaDB: no statement of a run waits for ever (a lock held elsewhere, a server that
does not answer); each fails in bounded time with the driver's clear error."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from nacento_pipeline.core.retry import is_retriable
from nacento_pipeline.magento.database import DatabaseTimeouts, MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline_tests.helpers import FakeBatch, image_frame
from nacento_pipeline_tests.magento.gallery_helpers import A, etags_for, gallery


def _database(url: str, timeouts: DatabaseTimeouts) -> MagentoDatabase:
    db = MagentoDatabase(url, timeouts=timeouts)
    create_demo_schema(db.engine)
    db.refresh_schema()
    seed_demo_products(db.engine, ["S1", "S2"])
    return db


def test_a_metadata_lock_held_by_another_connection_fails_the_write_in_bounded_time(mysql_url):
    db = _database(mysql_url, DatabaseTimeouts(lock_wait=1))
    images = image_frame([("S1", A, "a"), ("S2", A, "b")])
    plan = plan_gallery(
        db, FakeBatch(images), etags_for({A}), mode="replace", chunk_size=10, batch_key="media_1"
    )
    holder = sa.create_engine(mysql_url)  # the default session: waits a year for a metadata lock
    table = db.tables.media_gallery_value.name
    with holder.connect() as conn:
        conn.execute(sa.text(f"LOCK TABLES {table} WRITE"))
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError) as failed:
            write_gallery(db, plan, run_id="run-1")
        seconds = time.monotonic() - started
        conn.execute(sa.text("UNLOCK TABLES"))
    holder.dispose()
    assert failed.value.orig.args[0] == 1205 and "Lock wait timeout" in str(failed.value.orig)
    assert is_retriable(failed.value)  # retried (three attempts of one second each), then the run fails
    assert seconds < 15
    assert gallery(db, "S1") == [] and gallery(db, "S2") == []  # nothing of the chunk written
    db.dispose()


def test_a_server_that_does_not_answer_fails_after_the_read_timeout(mysql_url):
    db = MagentoDatabase(mysql_url, timeouts=DatabaseTimeouts(read=1))
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError) as failed, db.engine.connect() as conn:
        conn.execute(sa.text("SELECT SLEEP(5)"))
    assert failed.value.orig.args[0] == 2013 and time.monotonic() - started < 4
    with db.engine.connect() as conn:
        limits = conn.execute(sa.text("SELECT @@innodb_lock_wait_timeout, @@lock_wait_timeout")).one()
    assert tuple(limits) == (50, 50)
    db.dispose()


def test_database_timeouts_come_from_the_settings():
    from nacento_pipeline.config import ConfigError, Settings
    from nacento_pipeline.definitions import build_definitions

    settings = Settings.from_env(
        {
            "NACENTO_DB_LOCK_WAIT_TIMEOUT_SECONDS": "7",
            "NACENTO_DB_READ_TIMEOUT_SECONDS": "90",
            "NACENTO_RUN_MAX_RUNTIME_SECONDS": "3600",
        }
    )
    assert (settings.db_lock_wait_timeout_seconds, settings.db_read_timeout_seconds) == (7, 90)
    job = build_definitions(settings).resolve_job_def("pim_batch_job")
    assert job.run_tags["dagster/max_runtime"] == "3600"
    with pytest.raises(ConfigError, match="NACENTO_DB_READ_TIMEOUT_SECONDS"):
        Settings.from_env({"NACENTO_DB_READ_TIMEOUT_SECONDS": "30"})
