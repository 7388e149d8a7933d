"""S3ObjectStore against real S3 HTTP endpoints (moto's server and the JuiceFS gateway), through boto3."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError

from nacento_pipeline.config import Settings
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.adapters.base import ObjectStore, StorageError
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore
from nacento_pipeline_tests.conftest import seed_objects

pytestmark = pytest.mark.every_s3_server


@pytest.fixture
def store(s3_endpoint: str, s3_bucket: str) -> S3ObjectStore:
    return S3ObjectStore(s3_bucket, endpoint_url=s3_endpoint, region="us-east-1", path_style=True)


def test_protocol_display_name_and_config(store: S3ObjectStore, s3_bucket: str, s3_endpoint: str) -> None:
    assert isinstance(store, ObjectStore)
    host = s3_endpoint.removeprefix("http://")
    assert store.display_name == f"s3://{s3_bucket} ({host})"
    assert S3ObjectStore("plain-bucket", region="us-east-1").display_name == "s3://plain-bucket"
    config = store._client.meta.config
    assert config.s3["addressing_style"] == "path"
    # botocore turns max_attempts=8 (retries) into total_max_attempts=9 (first try included)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 9}
    assert config.max_pool_connections == 32


def test_put_head_get_open_etag_without_quotes(store: S3ObjectStore) -> None:
    data = b"fake jpeg " * 1000
    expected = hashlib.md5(data).hexdigest()
    info = store.put("media/catalog/product/m/y/my-image.jpg", data)
    assert (info.etag, info.size) == (expected, len(data))
    head = store.head("media/catalog/product/m/y/my-image.jpg")
    assert head is not None
    assert (head.etag, head.size) == (expected, len(data))
    assert '"' not in head.etag
    assert head.last_modified is not None
    assert store.get("media/catalog/product/m/y/my-image.jpg") == data
    assert b"".join(store.open("media/catalog/product/m/y/my-image.jpg")) == data
    [listed] = list(store.list("media/"))
    assert (listed.key, listed.etag, listed.size) == (
        "media/catalog/product/m/y/my-image.jpg",
        expected,
        len(data),
    )
    assert store.requests.snapshot() == {"LIST": 1, "HEAD": 1, "GET": 2, "PUT": 1, "COPY": 0, "DELETE": 0}


def test_missing_objects(store: S3ObjectStore) -> None:
    assert store.head("media/catalog/product/n/o/nope.jpg") is None
    with pytest.raises(KeyError):
        store.get("media/catalog/product/n/o/nope.jpg")
    with pytest.raises(KeyError):
        list(store.open("media/catalog/product/n/o/nope.jpg"))
    with pytest.raises(KeyError):
        store.copy("media/catalog/product/n/o/nope.jpg", "dst.jpg")
    assert list(store.list("media/")) == []
    assert store.requests.snapshot()["LIST"] == 1


def test_list_paginates_lazily_and_counts_pages(store: S3ObjectStore, s3_bucket: str) -> None:
    keys = [f"media/catalog/product/a/b/ab-{i:05d}.jpg" for i in range(2100)]
    seed_objects(s3_bucket, {key: key.encode() for key in keys})
    seed_objects(s3_bucket, {"media/catalog/product/a/c/other.jpg": b"x", "pim-drop/import-x.ok": b""})

    listed = list(store.list("media/catalog/product/a/b/"))
    assert [info.key for info in listed] == keys
    assert listed[1234].etag == hashlib.md5(keys[1234].encode()).hexdigest()
    assert store.requests.snapshot()["LIST"] == 3

    before = store.requests.snapshot()
    after = [info.key for info in store.list("media/catalog/product/a/b/", start_after=keys[1499])]
    assert after == keys[1500:]
    assert store.requests.since(before)["LIST"] == 1

    before = store.requests.snapshot()
    listing = store.list("media/")
    first_page = [next(listing).key for _ in range(1000)]
    listing.close()
    assert first_page == keys[:1000]
    assert store.requests.since(before)["LIST"] == 1


def test_copy_and_delete_in_batches(store: S3ObjectStore, s3_bucket: str) -> None:
    store.put("pim-drop/import-media_1_01.csv", b"sku,file_path\n")
    store.copy("pim-drop/import-media_1_01.csv", "pim-archive/media_1/import-media_1_01.csv")
    assert store.get("pim-archive/media_1/import-media_1_01.csv") == b"sku,file_path\n"
    assert store.requests.snapshot()["COPY"] == 1

    keys = [f"tmp/{i:04d}" for i in range(1500)]
    seed_objects(s3_bucket, {key: b"x" for key in keys})
    before = store.requests.snapshot()
    store.delete([*keys, "tmp/never-existed", "pim-drop/import-media_1_01.csv"])
    assert store.requests.since(before)["DELETE"] == 2
    assert list(store.list("tmp/")) == []
    assert store.head("pim-drop/import-media_1_01.csv") is None
    assert store.head("pim-archive/media_1/import-media_1_01.csv") is not None
    store.delete([])
    assert store.requests.since(before)["DELETE"] == 2


def test_errors_name_bucket_and_key_and_chain_boto_error(moto_endpoint: str) -> None:
    store = S3ObjectStore(
        "no-such-bucket-nacento", endpoint_url=moto_endpoint, region="us-east-1", path_style=True
    )
    with pytest.raises(StorageError) as excinfo:
        list(store.list("media/"))
    assert "s3://no-such-bucket-nacento/media/" in str(excinfo.value)
    assert "NoSuchBucket" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, ClientError)
    with pytest.raises(StorageError) as excinfo:
        store.put("a/b.jpg", b"x")
    assert "s3://no-such-bucket-nacento/a/b.jpg" in str(excinfo.value)


def test_injected_client_is_used(s3_endpoint: str, s3_bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    store = S3ObjectStore(s3_bucket, client=client)
    store.put("k.txt", b"v")
    assert client.get_object(Bucket=s3_bucket, Key="k.txt")["Body"].read() == b"v"


def test_factory_builds_s3_store_from_settings(s3_endpoint: str, s3_bucket: str) -> None:
    settings = Settings(
        s3_bucket=s3_bucket, s3_endpoint_url=s3_endpoint, s3_region="us-east-1", s3_path_style=True
    )
    store = object_store_resource(settings).get_store()
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == s3_bucket
    assert store._client.meta.config.s3["addressing_style"] == "path"
    store.put("via-factory.txt", b"ok")
    assert store.get("via-factory.txt") == b"ok"


def test_the_definitions_and_the_settings_build_the_same_store(tmp_path):
    """One builder: a head concurrency above 16 gets a pool that fits it, through the definitions too."""
    from nacento_pipeline.resources import build_resources

    settings = Settings.from_env(
        {
            "NACENTO_S3_BUCKET": "catalog",
            "NACENTO_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "NACENTO_HEAD_CONCURRENCY": "40",
            "NACENTO_VAR_DIR": str(tmp_path),
        }
    )
    via_settings = object_store_resource(settings).get_store()
    via_resource = build_resources(settings)["object_store"].get_store()
    for store in (via_settings, via_resource):
        assert isinstance(store, S3ObjectStore) and store.bucket == "catalog"
        config = store._client.meta.config
        assert config.max_pool_connections == 80
        assert config.retries == {"mode": "adaptive", "total_max_attempts": 9}
        assert store._client.meta.endpoint_url == "http://127.0.0.1:9"


def test_the_client_is_built_through_dagster_aws_s3_resource():
    from dagster_aws.s3 import S3Resource

    from nacento_pipeline.resources.wiring import s3_client_resource

    resource = s3_client_resource(
        region_name="auto", endpoint_url="http://127.0.0.1:9", path_style=True, concurrency=16
    )
    assert isinstance(resource, S3Resource)
    assert (resource.endpoint_url, resource.region_name, resource.path_style) == (
        "http://127.0.0.1:9",
        "auto",
        True,
    )
    client = resource.get_client()
    assert client.meta.config.s3["addressing_style"] == "path" and client.meta.region_name == "auto"
