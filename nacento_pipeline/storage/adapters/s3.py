"""S3-compatible object store (AWS S3, Cloudflare R2, MinIO) behind the ObjectStore protocol, via boto3.

Credentials come from the standard AWS chain (env, profile, instance role) and are never logged.
MinIO needs `path_style=True`; R2 and MinIO need `endpoint_url`.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote_plus, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from nacento_pipeline.core.objects import parse_object_time
from nacento_pipeline.storage.adapters.base import ObjectInfo, RequestCounter, StorageError, strip_etag

LIST_PAGE_SIZE = 1000  # ListObjectsV2 MaxKeys and DeleteObjects batch limit
STREAM_CHUNK_BYTES = 1024 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


_FAST_LIST = "NacentoObjects"  # where the fast LIST-page parse leaves its ObjectInfo list in the response


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def fast_list_parse(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Botocore `before-parse` hook for ListObjectsV2: the page's <Contents> read with a plain ElementTree.

    The pass turns them into ObjectInfo records and hands botocore the page without them (botocore's
    shape-driven parser costs ~10x more per key). Signing, retries and error responses stay botocore's: only a
    200 response is touched, and anything unexpected leaves the page to botocore untouched.
    """
    if response_dict.get("status_code") != 200:
        return
    try:
        root = ET.fromstring(response_dict["body"])
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        if root.tag != f"{ns}ListBucketResult":
            return
        encoded = root.findtext(f"{ns}EncodingType") == "url"  # botocore asks for it; it decodes the rest
        nodes = root.findall(f"{ns}Contents")
        objects = []
        for node in nodes:
            key = node.findtext(f"{ns}Key") or ""
            objects.append(
                ObjectInfo(
                    key=unquote_plus(key) if encoded else key,
                    etag=strip_etag(node.findtext(f"{ns}ETag")),
                    size=int(node.findtext(f"{ns}Size") or 0),
                    last_modified=parse_object_time(node.findtext(f"{ns}LastModified")),
                )
            )
        for node in nodes:
            root.remove(node)
        body = ET.tostring(root)
    except (ET.ParseError, ValueError, KeyError, TypeError):
        return
    response_dict["body"] = body
    customized_response_dict[_FAST_LIST] = objects


def add_content_md5(request: Any, **_: Any) -> None:
    """Botocore `before-sign` hook for DeleteObjects: send Content-MD5 beside botocore's CRC32 checksum.

    Botocore sends the CRC32 since 1.36. AWS S3 accepts either; MinIO-based servers (the JuiceFS gateway of
    the test suite, MinIO releases before 2025) refuse a DeleteObjects without Content-MD5
    (`MissingContentMD5`).
    """
    body = request.body
    if "Content-MD5" in request.headers or not body:
        return
    data = body.encode() if isinstance(body, str) else bytes(body)
    request.headers["Content-MD5"] = base64.b64encode(
        hashlib.md5(data, usedforsecurity=False).digest()
    ).decode()


class S3ObjectStore:
    """One bucket on an S3-compatible endpoint; counts every request it makes in `requests`."""

    list_page_size = LIST_PAGE_SIZE

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        client: Any = None,
        max_pool_connections: int = 32,
        fast_list: bool = True,
    ) -> None:
        """A store on `bucket`, through a given boto3 client or one built from the connection arguments.

        `client`: a boto3 S3 client to use (e.g. from `dagster_aws`'s S3Resource) instead of building one from
        `endpoint_url`, `region`, `path_style` and `max_pool_connections`; `fast_list=False` leaves its LIST
        pages to botocore's own parser.
        """
        if not bucket:
            raise ValueError("S3ObjectStore needs a bucket name")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.requests = RequestCounter()
        if client is None:
            config = Config(
                retries={"mode": "adaptive", "max_attempts": 8},
                s3={"addressing_style": "path" if path_style else "auto"},
                max_pool_connections=max_pool_connections,
            )
            # A private session: boto3's default session is not safe to share across threads.
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
        if fast_list:
            client.meta.events.register("before-parse.s3.ListObjectsV2", fast_list_parse)
        client.meta.events.register("before-sign.s3.DeleteObjects", add_content_md5)
        self._client = client

    @property
    def display_name(self) -> str:
        """`s3://bucket`, with the endpoint's host (never its credentials) when one is set."""
        if not self.endpoint_url:
            return f"s3://{self.bucket}"
        host = urlparse(self.endpoint_url).netloc.rsplit("@", 1)[-1] or self.endpoint_url
        return f"s3://{self.bucket} ({host})"

    def _fail(self, operation: str, key: str, exc: Exception) -> StorageError:
        detail = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return StorageError(f"{operation} s3://{self.bucket}/{key} failed: {detail}: {exc}")

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under `prefix` in key order, ListObjectsV2 page by page (one LIST counted per page)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE_SIZE}
        if start_after:
            kwargs["StartAfter"] = start_after
        while True:
            try:
                page = self._client.list_objects_v2(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("LIST", prefix, exc) from exc
            self.requests.add("LIST")
            if _FAST_LIST in page:
                yield from page[_FAST_LIST]
            for item in page.get("Contents", ()):
                yield ObjectInfo(
                    key=item["Key"],
                    etag=strip_etag(item.get("ETag")),
                    size=int(item.get("Size", 0)),
                    last_modified=item.get("LastModified"),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def head(self, key: str) -> ObjectInfo | None:
        """The object's info from HeadObject, or None when it does not exist."""
        self.requests.add("HEAD")
        try:
            resp = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return None
            raise self._fail("HEAD", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("HEAD", key, exc) from exc
        return ObjectInfo(
            key=key,
            etag=strip_etag(resp.get("ETag")),
            size=int(resp.get("ContentLength", 0)),
            last_modified=resp.get("LastModified"),
            content_type=str(resp.get("ContentType") or ""),
        )

    def _get_body(self, key: str) -> Any:
        self.requests.add("GET")
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise KeyError(f"s3://{self.bucket}/{key} does not exist") from exc
            raise self._fail("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("GET", key, exc) from exc

    def get(self, key: str) -> bytes:
        """The object's content; raises KeyError when missing."""
        body = self._get_body(key)
        try:
            return body.read()
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("GET", key, exc) from exc
        finally:
            body.close()

    def open(self, key: str) -> Iterator[bytes]:
        """The object's content in STREAM_CHUNK_BYTES chunks; raises KeyError when missing."""
        body = self._get_body(key)
        try:
            yield from body.iter_chunks(STREAM_CHUNK_BYTES)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("GET", key, exc) from exc
        finally:
            body.close()

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """PutObject; the object's info with the ETag S3 returned."""
        self.requests.add("PUT")
        try:
            resp = self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("PUT", key, exc) from exc
        return ObjectInfo(key=key, etag=strip_etag(resp.get("ETag")), size=len(data))

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side CopyObject (single request; objects up to 5 GB, far above any image)."""
        self.requests.add("COPY")
        try:
            self._client.copy_object(
                Bucket=self.bucket, Key=dst_key, CopySource={"Bucket": self.bucket, "Key": src_key}
            )
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise KeyError(f"s3://{self.bucket}/{src_key} does not exist") from exc
            raise self._fail(f"COPY to {dst_key} from", src_key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"COPY to {dst_key} from", src_key, exc) from exc

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects per LIST_PAGE_SIZE keys; a key S3 could not delete (other than missing) raises."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), LIST_PAGE_SIZE):
            batch = unique[start : start + LIST_PAGE_SIZE]
            self.requests.add("DELETE")
            try:
                resp = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("DELETE", batch[0], exc) from exc
            errors = [e for e in resp.get("Errors", ()) if e.get("Code") not in _NOT_FOUND_CODES]
            if errors:
                first = errors[0]
                raise StorageError(
                    f"DELETE s3://{self.bucket}/{first.get('Key')} failed: {first.get('Code')}: "
                    f"{first.get('Message')} ({len(errors)} key(s) not deleted)"
                )
