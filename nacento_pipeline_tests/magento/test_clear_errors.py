"""Errors that name the real problem: a wrong table prefix, an unencoded `@` in the database password."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from nacento_pipeline.cli import main
from nacento_pipeline.magento.database import DatabaseUrlError, MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema
from nacento_pipeline.magento.schema import SchemaError


def test_wrong_table_prefix_names_the_missing_magento_table_and_creates_nothing(mysql_url):
    engine = sa.create_engine(mysql_url)
    create_demo_schema(engine)
    before = set(sa.inspect(engine).get_table_names())
    db = MagentoDatabase(mysql_url, prefix="nope_")
    with pytest.raises(SchemaError, match="Magento table `nope_catalog_product_entity` not found"):
        db.ensure_own_tables()
    assert set(sa.inspect(engine).get_table_names()) == before
    db.dispose()
    engine.dispose()


def test_doctor_reports_the_missing_table_for_a_wrong_prefix(mysql_url, tmp_path, monkeypatch, capsys):
    engine = sa.create_engine(mysql_url)
    create_demo_schema(engine)
    engine.dispose()
    monkeypatch.setenv("NACENTO_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NACENTO_MAGENTO_DB_URL", mysql_url)
    monkeypatch.setenv("NACENTO_TABLE_PREFIX", "nope_")
    assert main(["doctor"]) == 1
    assert "Magento table `nope_catalog_product_entity` not found" in capsys.readouterr().out


SECRET = "s3cr@t-tail-XYZ"


@pytest.mark.parametrize(
    "url",
    [
        f"mysql+pymysql://magento:{SECRET}@127.0.0.1:3306/magento",
        f"mysql+pymysql://magento:{SECRET}@127.0.0.1:notaport/magento",
    ],
)
def test_unencoded_at_in_the_password_never_shows_any_part_of_it(url, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUrlError) as raised:
        MagentoDatabase(url)
    assert "%40" in str(raised.value) or "not a valid" in str(raised.value)
    monkeypatch.setenv("NACENTO_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NACENTO_MAGENTO_DB_URL", url)
    assert main(["doctor"]) == 1
    out = capsys.readouterr()
    shown = str(raised.value) + out.out + out.err + caplog.text
    for piece in ("s3cr", "tail-XYZ", "t-tail", "XYZ"):
        assert piece not in shown
