"""Fixtures for the Dagster-layer tests: a seeded Magento database, an image bucket, Definitions, instance."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline_tests.conftest import POSTGRES_SERVER_URL, unreachable
from nacento_pipeline_tests.defs.harness import Pipeline, make_pipeline


@pytest.fixture
def s3_mariadb_factory(tmp_path, mysql_database_factory, s3_endpoint, s3_bucket) -> Iterator:
    """Pipelines of the production shape (MariaDB + an S3 server: see `s3_endpoint`), settings overridden."""
    made: list[Pipeline] = []

    def make(**overrides) -> Pipeline:
        settings = (
            Settings(
                var_dir=tmp_path / f"var{len(made)}",
                magento_db_url=mysql_database_factory(),
                s3_bucket=s3_bucket,
                s3_endpoint_url=s3_endpoint,
                s3_region="us-east-1",
            )
            .with_overrides(**overrides)
            .validate()
        )
        made.append(make_pipeline(tmp_path, settings))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.db.dispose()


@pytest.fixture
def s3_mariadb_pipeline(s3_mariadb_factory) -> Pipeline:
    """The production shape: MariaDB as Magento's database, a bucket on an S3 server (see `s3_endpoint`)."""
    return s3_mariadb_factory()


@pytest.fixture
def local_pipeline(tmp_path) -> Iterator[Pipeline]:
    """The embedded default: a local folder as the bucket, SQLite as Magento's database."""
    settings = Settings(var_dir=tmp_path / "var").validate()
    pipeline = make_pipeline(tmp_path, settings)
    yield pipeline
    pipeline.db.dispose()


@pytest.fixture
def instance(tmp_path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def postgres_url():
    server = sa.create_engine(f"{POSTGRES_SERVER_URL}/postgres", isolation_level="AUTOCOMMIT")
    name = f"nacento_dagster_{uuid.uuid4().hex[:8]}"
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        server.dispose()
        unreachable("PostgreSQL", exc)
    yield f"{POSTGRES_SERVER_URL}/{name}"
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()
