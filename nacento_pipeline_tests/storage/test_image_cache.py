"""Resized-image cache purge: matching cache keys, one paginated listing, batched deletes, dry run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd

from nacento_pipeline.core.frames import DELTA_COLUMNS, empty_frame
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore, RequestCounter
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline.storage.image_cache import cached_value, content_changed_values, purge_resized_images

CACHE = "media/catalog/product/cache/"


class MemoryStore:
    """A tiny in-memory ObjectStore: pages of `page_size` keys per LIST request, like S3."""

    def __init__(self, keys: Sequence[str] = (), page_size: int = 1000) -> None:
        self.objects = {key: b"x" for key in keys}
        self.page_size = page_size
        self.requests = RequestCounter()
        self.delete_calls: list[int] = []

    @property
    def display_name(self) -> str:
        return "memory://"

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        keys = sorted(
            k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after)
        )
        for i, key in enumerate(keys):
            if i % self.page_size == 0:
                self.requests.add("LIST")
            yield ObjectInfo(key, "etag", 1)

    def head(self, key: str) -> ObjectInfo | None:
        self.requests.add("HEAD")
        return ObjectInfo(key, "etag", 1) if key in self.objects else None

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def open(self, key: str) -> Iterator[bytes]:
        yield self.objects[key]

    def put(self, key: str, data: bytes) -> ObjectInfo:
        self.objects[key] = data
        return ObjectInfo(key, "etag", len(data))

    def copy(self, src_key: str, dst_key: str) -> None:
        self.objects[dst_key] = self.objects[src_key]

    def delete(self, keys: Sequence[str]) -> None:
        assert len(keys) <= 1000
        self.requests.add("DELETE")
        self.delete_calls.append(len(keys))
        for key in keys:
            self.objects.pop(key, None)


def test_purge_on_local_folder_store(tmp_path):
    store = LocalFolderStore(tmp_path / "bucket")
    keys = [
        "media/catalog/product/m/y/my-image.jpg",
        f"{CACHE}0a1b2c/m/y/my-image.jpg",
        f"{CACHE}ffee99/m/y/my-image.jpg",
        f"{CACHE}0a1b2c/m/y/my-image.jpg.webp",  # another file
        f"{CACHE}0a1b2c/o/t/my-image.jpg",  # same file name, other dispersion folders
        f"{CACHE}0a1b2c/o/t/other.jpg",
        "media/catalog/product/o/t/other.jpg",
    ]
    for key in keys:
        store.put(key, b"img")
    before = store.requests.snapshot()
    report = purge_resized_images(store, ["/m/y/my-image.jpg", "/n/o/never-cached.jpg"], CACHE)
    assert sorted(report.keys) == [f"{CACHE}0a1b2c/m/y/my-image.jpg", f"{CACHE}ffee99/m/y/my-image.jpg"]
    assert (report.values, report.listed, report.matched, report.deleted, report.values_with_cache) == (
        2,
        5,
        2,
        2,
        1,
    )
    remaining = sorted(info.key for info in store.list("media/"))
    assert remaining == sorted(set(keys) - set(report.keys))
    assert store.requests.since(before)["DELETE"] == 1
    assert "deleted 2 of 5 objects" in report.summary()


def test_dry_run_deletes_nothing_and_empty_values_list_nothing():
    store = MemoryStore([f"{CACHE}h1/a/b/x.jpg", f"{CACHE}h2/a/b/x.jpg"])
    assert isinstance(store, ObjectStore)
    report = purge_resized_images(store, ["/a/b/x.jpg"], CACHE, dry_run=True)
    assert (report.matched, report.deleted, report.dry_run) == (2, 0, True)
    assert len(store.objects) == 2 and store.delete_calls == []
    assert "would delete 2" in report.summary()

    before = store.requests.snapshot()
    empty = purge_resized_images(store, [], CACHE)
    assert (empty.listed, empty.matched) == (0, 0)
    assert store.requests.since(before) == {k: 0 for k in before}


def test_one_paginated_listing_and_batched_deletes():
    wanted = [f"/p/{i % 10}/img-{i}.jpg" for i in range(600)]
    keys = [f"{CACHE}{h}{v}" for h in ("aaaa", "bbbb") for v in wanted]  # 1200 resized copies to purge
    keys += [f"{CACHE}aaaa/q/{i % 10}/keep-{i}.jpg" for i in range(1300)]
    store = MemoryStore(keys)
    report = purge_resized_images(store, wanted, CACHE.rstrip("/"))  # prefix without slash is fine
    assert (report.listed, report.matched, report.deleted, report.values_with_cache) == (
        2500,
        1200,
        1200,
        600,
    )
    assert store.requests.snapshot()["LIST"] == 3  # 2500 keys = 3 pages, one listing
    assert store.delete_calls == [1000, 200]
    assert len(store.objects) == 1300 and all("/keep-" in k for k in store.objects)


def test_cache_key_layouts():
    wanted = {"m/y/my-image.jpg"}
    assert cached_value(f"{CACHE}abc/m/y/my-image.jpg", CACHE, wanted) == "m/y/my-image.jpg"
    # older Magento layout: store/type/size before the hash
    assert (
        cached_value(f"{CACHE}1/small_image/265x265/abc/m/y/my-image.jpg", CACHE, wanted)
        == "m/y/my-image.jpg"
    )
    assert cached_value(f"{CACHE}m/y/my-image.jpg", CACHE, {"y/my-image.jpg"}) == "y/my-image.jpg"
    assert cached_value(f"{CACHE}abc/m/y/my-image.jpg", CACHE, {"my-image.jpg"}) is None  # copy of /m/y/...
    assert cached_value(f"{CACHE}abc/m/y/my-image.png", CACHE, wanted) is None
    assert cached_value("media/catalog/product/m/y/my-image.jpg", CACHE, wanted) is None


def test_content_changed_values():
    delta = pd.DataFrame(
        [
            {"sku": "A", "value": "/a/b/one.jpg", "action": "updated_value"},
            {"sku": "B", "value": "/a/b/one.jpg", "action": "updated_value"},
            {"sku": "B", "value": "/a/b/two.jpg", "action": "updated_meta"},
            {"sku": "C", "value": "/a/b/three.jpg", "action": "inserted"},
        ]
    ).reindex(columns=list(DELTA_COLUMNS))
    assert content_changed_values(delta) == {"/a/b/one.jpg"}
    assert content_changed_values(empty_frame(DELTA_COLUMNS)) == set()


HASH = "9df78eab33525d08d6e5fb8d27136e95"


def test_cache_match_is_exact_path_after_the_hash():
    wanted = {"a/b/x.jpg"}
    assert cached_value(f"{CACHE}{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}1/small_image/265x265/{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}1/image/{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}{HASH}/a/b/ax.jpg", CACHE, wanted) is None
    # a resized copy of /foo/a/b/x.jpg is not one of /a/b/x.jpg, nor is a copy of /a/b/x.jpg one of /x.jpg
    assert cached_value(f"{CACHE}{HASH}/foo/a/b/x.jpg", CACHE, wanted) is None
    assert cached_value(f"{CACHE}{HASH}/a/b/x.jpg", CACHE, {"x.jpg", "b/x.jpg"}) is None
