"""Fixtures of the Magento adapter tests: a demo Magento database (SQLite and MariaDB) with three products."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products


@pytest.fixture(params=[""], ids=["noprefix"])
def prefix(request) -> str:
    return request.param


def demo_database(url: str, prefix: str = "") -> Iterator[MagentoDatabase]:
    """The demo Magento schema with products S1, S2 and S3 at `url`, disposed after the test."""
    database = MagentoDatabase(url, prefix=prefix)
    create_demo_schema(database.engine, prefix)
    database.refresh_schema()
    seed_demo_products(database.engine, ["S1", "S2", "S3"], prefix)
    yield database
    database.dispose()


@pytest.fixture
def db(magento_url, prefix):
    yield from demo_database(magento_url, prefix)


@pytest.fixture
def row_id_db(magento_url):
    """Adobe Commerce's content-staging schema (links carry row_id), no products: tests seed versions."""
    database = MagentoDatabase(magento_url)
    create_demo_schema(database.engine, link="row_id")
    database.refresh_schema()
    yield database
    database.dispose()
