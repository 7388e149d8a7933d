"""Shared fixtures: a real MariaDB database per test session, SQLite files, and a moto S3 server on loopback.

MariaDB: 127.0.0.1:3306, root without password (override with NACENTO_TEST_MYSQL_URL, a server URL without
database). Each test session creates its own database and drops it at the end. When CI is set and MariaDB
is unreachable the integration tests fail instead of skipping.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

logging.getLogger("werkzeug").setLevel(logging.WARNING)

MYSQL_SERVER_URL = os.environ.get("NACENTO_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
POSTGRES_SERVER_URL = os.environ.get("NACENTO_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")


def _unreachable(what: str, exc: Exception) -> None:
    message = f"{what} is unreachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: integration tests must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[sa.Engine]:
    engine = sa.create_engine(MYSQL_SERVER_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection problem means the same thing here
        engine.dispose()
        _unreachable("MariaDB", exc)
    yield engine
    engine.dispose()


@pytest.fixture
def mysql_database_factory(mysql_server: sa.Engine) -> Iterator:
    """Creates fresh, empty MariaDB databases (URLs) on demand; all are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = f"nacento_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with mysql_server.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"))
        created.append(name)
        return f"{MYSQL_SERVER_URL}/{name}?charset=utf8mb4"

    yield create
    with mysql_server.connect() as conn:
        for name in created:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def mysql_url(mysql_database_factory) -> str:
    """A fresh, empty MariaDB database for one test; dropped afterwards."""
    return mysql_database_factory()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'magento.sqlite'}"


@pytest.fixture(params=["sqlite", "mariadb"])
def magento_url(request) -> str:
    """Runs a test on both databases the project supports."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("mysql_url")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto's threaded server) on loopback, spoken to with boto3."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3

    name = f"nacento-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name
