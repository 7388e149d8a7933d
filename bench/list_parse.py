"""Client CPU of parsing one 1,000-key ListObjectsV2 page, without any server.

Botocore's parser on the whole page against our ElementTree pass plus botocore's parser on what is left of
the page (what the S3 store does).

Run alone: `python bench/list_parse.py`; gallery_bench prints it too.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.parsers import create_parser

from nacento_pipeline.storage.adapters.s3 import fast_list_parse


def _sample_page(keys: int = 1000) -> bytes:
    """A truncated ListObjectsV2 response body with `keys` keys, as S3 sends it."""
    items = "".join(
        f"<Contents><Key>media/catalog/product/a/b/ab{i:08d}-1.jpg</Key>"
        f"<LastModified>2026-11-23T10:00:00.000Z</LastModified><ETag>&quot;{i:032x}&quot;</ETag>"
        f"<Size>{1000 + i}</Size><StorageClass>STANDARD</StorageClass></Contents>"
        for i in range(keys)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<Name>catalog</Name><Prefix>media/catalog/product/a/b/</Prefix><KeyCount>1000</KeyCount>"
        "<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        f"<NextContinuationToken>token</NextContinuationToken>{items}</ListBucketResult>"
    ).encode()


def measure(pages: int = 20) -> dict[str, float]:
    """CPU milliseconds per 1,000-key page: botocore alone, ours (fast pass + botocore on the rest)."""
    model = boto3.session.Session().client("s3", region_name="us-east-1").meta.service_model
    shape = model.operation_model("ListObjectsV2").output_shape
    body = _sample_page()

    def response() -> dict:
        return {"status_code": 200, "headers": {}, "body": body}

    def botocore_only() -> None:
        parsed = create_parser("rest-xml").parse(response(), shape)
        assert len(parsed["Contents"]) == 1000

    def ours() -> None:
        resp, extra = response(), {}
        fast_list_parse(resp, extra)
        parsed = create_parser("rest-xml").parse(resp, shape)
        assert len(extra["NacentoObjects"]) == 1000 and "Contents" not in parsed and parsed["IsTruncated"]

    out = {}
    for name, work in (("botocore_ms_per_page", botocore_only), ("ours_ms_per_page", ours)):
        work()  # warm up
        started = time.process_time()
        for _ in range(pages):
            work()
        out[name] = 1000 * (time.process_time() - started) / pages
    return out


if __name__ == "__main__":
    figures = measure()
    print(
        f"LIST page parse, 1,000 keys, client CPU: botocore {figures['botocore_ms_per_page']:.1f} ms, "
        f"ours {figures['ours_ms_per_page']:.1f} ms "
        f"({figures['botocore_ms_per_page'] / figures['ours_ms_per_page']:.1f}x less)"
    )
