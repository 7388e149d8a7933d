"""The fast LIST-page parse gives exactly what botocore's parser gives, and is the one used."""

from __future__ import annotations

import boto3
import pytest

from nacento_pipeline.storage.adapters.s3 import S3ObjectStore
from nacento_pipeline_tests.conftest import seed_objects

pytestmark = pytest.mark.every_s3_server


def test_fast_parse_matches_botocore(s3_endpoint: str, s3_bucket: str) -> None:
    keys = [f"media/x/k-{i:04d}.jpg" for i in range(1500)]
    keys += ["media/x/a space+plus%25é.jpg", "media/x/ünï/cödé.jpg", "media/x/amp&lt.jpg"]
    seed_objects(s3_bucket, {key: key.encode() for key in keys})
    fast = S3ObjectStore(s3_bucket, endpoint_url=s3_endpoint, region="us-east-1", path_style=True)
    plain = S3ObjectStore(
        s3_bucket,
        client=boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1"),
        fast_list=False,
    )

    got, expected = list(fast.list("media/x/")), list(plain.list("media/x/"))
    assert got == expected and len(got) == len(keys)  # keys decoded, ETags unquoted, sizes, times (UTC)
    assert {info.key for info in got} == set(keys)
    assert fast.requests.snapshot()["LIST"] == plain.requests.snapshot()["LIST"] == 2
    assert list(fast.list("media/x/", start_after="media/x/k-1498.jpg"))[0].key == "media/x/k-1499.jpg"

    raw = fast._client.list_objects_v2(Bucket=s3_bucket, Prefix="media/x/", MaxKeys=5)
    assert "Contents" not in raw and len(raw["NacentoObjects"]) == 5 and raw["IsTruncated"] is True
