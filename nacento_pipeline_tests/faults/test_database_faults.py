"""Database faults injected for real on MariaDB: each ends in the tables of an uninterrupted run, no SKU
half-written. The fault is fired from a second connection (KILL) while the writer is inside a chunk."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase, WriterLockLost
from nacento_pipeline_tests.faults.scenario import (
    SKUS,
    gallery_state,
    half_written,
    prepare,
    reference_state,
    write_version,
)

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def urls(mysql_database_factory):
    return mysql_database_factory(), mysql_database_factory()


@pytest.fixture
def killer(mysql_server):
    return mysql_server


def kill_at_write(db: MagentoDatabase, killer: sa.Engine, nth: int, target) -> list[int]:
    """Before the writer's nth write statement, KILL a session (target(conn) -> connection id) from another
    connection; returns the killed ids."""
    seen, killed = [0], []

    def hook(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().split(None, 1)[0].upper() not in WRITE_VERBS:
            return
        seen[0] += 1
        if seen[0] == nth:
            victim = target(conn)
            with killer.connect() as k:
                k.execute(sa.text(f"KILL {int(victim)}"))
            killed.append(victim)

    sa.event.listen(db.engine, "before_cursor_execute", hook)
    return killed


def own_session(conn: sa.Connection) -> int:
    return conn.connection.dbapi_connection.thread_id()


def scenario_with_fault(urls, killer, target):
    url, ref_url = urls
    db = prepare(url)
    write_version(db, 1)
    before = gallery_state(db)
    killed = kill_at_write(db, killer, 30, target)  # chunk 2 or 3 of 10, after some of its statements
    result = write_version(db, 2)
    final = gallery_state(db)
    db.dispose()
    return result, killed, before, final, reference_state(ref_url, [(1, None), (2, None)])


def test_writer_connection_killed_mid_chunk(urls, killer):
    result, killed, before, final, expected = scenario_with_fault(urls, killer, own_session)
    assert len(killed) == 1 and result.retries >= 1 and not result.errors
    assert final == expected
    assert half_written(final, before, expected) == []


def test_lock_session_killed_mid_chunk(urls, killer):
    """The session named by IS_USED_LOCK is the one carrying the writes: killing it rolls the chunk back and
    the writer takes the lock again on a new session."""

    def lock_holder(conn: sa.Connection) -> int:
        with killer.connect() as k:
            name = MagentoDatabase(urls[0]).lock_name()
            holder = k.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
        assert holder == own_session(conn)  # the lock is held by the writing session itself
        return holder

    result, killed, before, final, expected = scenario_with_fault(urls, killer, lock_holder)
    assert len(killed) == 1 and result.retries >= 1 and not result.errors
    assert final == expected
    assert half_written(final, before, expected) == []


def test_lost_lock_aborts_the_chunk_and_rolls_it_back(mysql_url, mysql_server):
    """A session that no longer holds the lock at commit time (taken by another) writes nothing; the next
    transaction waits for the lock on a new session."""
    db = prepare(mysql_url)
    write_version(db, 1)
    before = gallery_state(db)
    t = db.tables
    other = mysql_server.connect()
    try:
        with db.writer_lock() as lock:
            with (
                pytest.raises(WriterLockLost, match="writer lock lost.*rolled back"),
                lock.transaction() as conn,
            ):
                conn.execute(sa.delete(t.value_to_entity))
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": lock.name})
                assert other.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": lock.name}).scalar() == 1
            assert gallery_state(db) == before
            release = threading.Timer(
                0.5, lambda: other.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": lock.name})
            )
            release.start()
            with lock.transaction() as conn:  # waits for the other session, then holds the lock again
                assert conn.execute(
                    sa.text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()"), {"n": lock.name}
                ).scalar()
            release.join()
            assert lock.acquisitions == 2
    finally:
        other.close()
        db.dispose()


def test_release_failure_after_a_complete_write_is_not_an_error(mysql_url, mysql_server, caplog):
    db = prepare(mysql_url)
    t = db.tables
    with db.writer_lock() as lock:
        with lock.transaction() as conn:
            conn.execute(sa.update(t.product).values(updated_at=sa.func.current_timestamp()))
            session = own_session(conn)
        with mysql_server.connect() as k:
            k.execute(sa.text(f"KILL {session}"))
    assert "release failed" in caplog.text
    with db.writer_lock(timeout=5) as again, again.transaction() as conn:  # the server freed the lock
        assert conn.execute(sa.select(sa.func.count()).select_from(t.product)).scalar() == len(SKUS)
    db.dispose()


def test_two_concurrent_writers_with_overlapping_skus_end_in_a_serial_order(urls):
    """Writer A (another process) writes version 2 of SKUs 0-44 while writer B writes version 3 of SKUs 15-59:
    the result is the serial one, whichever took the lock first (the newer batch wins on the overlap)."""
    url, ref_url = urls
    db = prepare(url)
    write_version(db, 1)
    before = gallery_state(db)
    other = subprocess.Popen(
        [sys.executable, "-m", "nacento_pipeline_tests.faults.scenario", url, "2", "0", "45"]
    )
    try:
        write_version(db, 3, SKUS[15:])
        assert other.wait(timeout=120) == 0
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    final = gallery_state(db)
    db.dispose()
    expected = reference_state(ref_url, [(1, None), (2, SKUS[:45]), (3, SKUS[15:])])
    assert final == expected
    assert half_written(final, before, expected) == []
