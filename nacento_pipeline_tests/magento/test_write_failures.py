"""How the writer treats a failure on MariaDB: a permanent error of one SKU stays that SKU's error (never
retried, never a run failure), whatever words its message or statement carries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nacento_pipeline_tests.magento.conftest import demo_database
from nacento_pipeline_tests.magento.gallery_helpers import A, B, C, gallery, sync


@pytest.fixture
def mariadb(mysql_url):
    yield from demo_database(mysql_url)


def test_a_label_saying_deadlock_timeout_in_a_one_sku_error_is_not_retried(mariadb):
    """A trigger refuses one label with a message full of "deadlock" and "timeout" (SIGNAL: error 1644); the
    statement's parameters carry the label too. The chunk falls back to one SKU per transaction at once, the
    other SKUs are written, the SKU gets a clear error without the statement or its values."""
    table = mariadb.tables.media_gallery_value.name
    with mariadb.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TRIGGER refuse_label BEFORE INSERT ON {table} FOR EACH ROW BEGIN "
                "IF NEW.label = 'deadlock timeout' THEN SIGNAL SQLSTATE '45000' "
                "SET MESSAGE_TEXT = 'Lock wait timeout exceeded; deadlock found (label refused)'; END IF; END"
            )
        )
    result = sync(mariadb, [("S1", A, "fine"), ("S2", B, "deadlock timeout"), ("S3", C, "fine too")])
    assert result.retries == 0
    statuses = dict(zip(result.sku_results["sku"], result.sku_results["status"], strict=True))
    assert statuses == {"S1": "ok", "S2": "error", "S3": "ok"}
    assert [g[:2] for g in gallery(mariadb, "S1")] == [(A, "fine")]
    assert [g[:2] for g in gallery(mariadb, "S3")] == [(C, "fine too")]
    assert gallery(mariadb, "S2") == []
    [message] = result.sku_results.loc[result.sku_results["sku"] == "S2", "message"]
    assert "1644" in message and "label refused" in message
    assert all("[SQL:" not in e and "INSERT INTO" not in e for e in [*result.errors, message])
