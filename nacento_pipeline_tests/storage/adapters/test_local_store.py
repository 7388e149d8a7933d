"""LocalFolderStore: S3-like ETags, key order, pagination counts, safety of keys, atomic writes."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC

import pytest

from nacento_pipeline.config import Settings
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.local import TMP_MARKER, LocalFolderStore, UnsafeKeyError

# Keys whose S3 (byte) order differs from a naive directory walk: '-' and '.' sort before '/'.
# (A file and a folder cannot share a name on disk, so "a/b" and "a/b/c" cannot both exist here.)
TRICKY_KEYS = [
    "a/b",
    "a-b",
    "a.c",
    "a/a/x",
    "ab",
    "b",
    "a/b0",
    "a/c/d",
    "a0",
    "d/x/1",
    "d/x-1",
    "d/x.1",
    "d/x0",
    "media/catalog/product/m/y/z.jpg",
]


@pytest.fixture
def store(tmp_path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "bucket")


def _fill(store: LocalFolderStore, keys: list[str]) -> None:
    for key in keys:
        store.put(key, key.encode())


def test_protocol_and_display_name(store: LocalFolderStore, tmp_path) -> None:
    assert isinstance(store, ObjectStore)
    assert store.display_name == (tmp_path / "bucket").resolve().as_uri()
    assert store.display_name.startswith("file:///")


def test_put_head_get_etag_is_md5(store: LocalFolderStore) -> None:
    data = b"\x89PNG fake image bytes" * 100
    info = store.put("media/catalog/product/m/y/my-image.png", data)
    expected = hashlib.md5(data).hexdigest()
    assert (info.etag, info.size) == (expected, len(data))
    head = store.head("media/catalog/product/m/y/my-image.png")
    assert head is not None
    assert (head.key, head.etag, head.size) == ("media/catalog/product/m/y/my-image.png", expected, len(data))
    assert head.last_modified is not None and head.last_modified.tzinfo == UTC
    assert store.get("media/catalog/product/m/y/my-image.png") == data
    assert b"".join(store.open("media/catalog/product/m/y/my-image.png")) == data
    assert store.requests.snapshot() == {"LIST": 0, "HEAD": 1, "GET": 2, "PUT": 1, "COPY": 0, "DELETE": 0}


def test_missing_objects(store: LocalFolderStore) -> None:
    assert store.head("nope/x.jpg") is None
    store.put("dir/file.jpg", b"x")
    assert store.head("dir") is None  # a folder is not an object
    assert store.head("dir/file.jpg/deeper") is None
    with pytest.raises(KeyError):
        store.get("nope/x.jpg")
    with pytest.raises(KeyError):
        list(store.open("nope/x.jpg"))
    with pytest.raises(KeyError):
        store.copy("nope/x.jpg", "dst.jpg")


def test_list_in_s3_key_order_with_prefix(store: LocalFolderStore) -> None:
    _fill(store, TRICKY_KEYS)
    assert [info.key for info in store.list("")] == sorted(TRICKY_KEYS)
    assert [info.key for info in store.list("a")] == sorted(k for k in TRICKY_KEYS if k.startswith("a"))
    assert [info.key for info in store.list("a/")] == ["a/a/x", "a/b", "a/b0", "a/c/d"]
    assert [info.key for info in store.list("a/b")] == ["a/b", "a/b0"]
    assert [info.key for info in store.list("d/x")] == ["d/x-1", "d/x.1", "d/x/1", "d/x0"]
    assert [info.key for info in store.list("missing/")] == []
    listed = {info.key: info.etag for info in store.list("")}
    assert listed == {k: hashlib.md5(k.encode()).hexdigest() for k in TRICKY_KEYS}


@pytest.mark.parametrize(
    "start_after",
    ["", "a", "a/", "a/a", "a/a/x", "a/b", "a/b/", "a-b", "a/c", "a/c/", "az", "d/x.1", "d/x/", "zzz"],
)
def test_list_start_after(store: LocalFolderStore, start_after: str) -> None:
    _fill(store, TRICKY_KEYS)
    expected = sorted(k for k in TRICKY_KEYS if k > start_after)
    assert [info.key for info in store.list("", start_after=start_after)] == expected
    assert [info.key for info in store.list("a/", start_after=start_after)] == [
        k for k in expected if k.startswith("a/")
    ]


def test_list_counts_one_request_per_1000_keys(store: LocalFolderStore) -> None:
    _fill(store, [f"p/{i:05d}.jpg" for i in range(2500)])
    before = store.requests.snapshot()
    assert sum(1 for _ in store.list("p/")) == 2500
    assert store.requests.since(before)["LIST"] == 3
    # lazily paginated: consuming only the first page costs one request
    before = store.requests.snapshot()
    listing = store.list("p/")
    assert [next(listing).key for _ in range(1000)][-1] == "p/00999.jpg"
    listing.close()
    assert store.requests.since(before)["LIST"] == 1
    before = store.requests.snapshot()
    assert list(store.list("q/")) == []
    assert store.requests.since(before)["LIST"] == 1


@pytest.mark.parametrize(
    "key",
    ["../escape.jpg", "/etc/passwd", "a/../../b", "a//b", "a/./b", "", "a/b/", "x\x00y", f"a/{TMP_MARKER}1"],
)
def test_unsafe_keys_are_rejected(store: LocalFolderStore, key: str, tmp_path) -> None:
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.head(key)):
        with pytest.raises(UnsafeKeyError) as excinfo:
            call()
        assert excinfo.value.key == key
    with pytest.raises(UnsafeKeyError):
        store.delete([key])
    assert not (tmp_path / "escape.jpg").exists()


def test_unsafe_list_prefix_rejected(store: LocalFolderStore) -> None:
    with pytest.raises(UnsafeKeyError):
        list(store.list("../"))
    with pytest.raises(UnsafeKeyError):
        list(store.list("/abs/"))


def test_delete_missing_is_ok_and_counts_batches(store: LocalFolderStore) -> None:
    keys = [f"d/{i:04d}" for i in range(1500)]
    _fill(store, keys)
    before = store.requests.snapshot()
    store.delete([*keys, "d/missing", "never/there.jpg"])
    assert store.requests.since(before)["DELETE"] == 2
    assert list(store.list("d/")) == []
    store.delete(["d/missing"])  # nothing to delete: still fine


def test_copy_and_overwrite(store: LocalFolderStore) -> None:
    store.put("src/a.jpg", b"one")
    store.copy("src/a.jpg", "dst/deep/a.jpg")
    assert store.get("dst/deep/a.jpg") == b"one"
    store.put("dst/deep/a.jpg", b"two-two")
    head = store.head("dst/deep/a.jpg")
    assert head is not None and head.etag == hashlib.md5(b"two-two").hexdigest() and head.size == 7
    assert store.requests.snapshot()["COPY"] == 1


def test_put_is_atomic_and_leaves_no_temp_files(store: LocalFolderStore) -> None:
    store.put("x/y.jpg", b"data")
    (store.root / "x" / f"{TMP_MARKER}in-flight").write_bytes(b"half")  # a concurrent writer's temp file
    assert [info.key for info in store.list("")] == ["x/y.jpg"]
    assert sorted(os.listdir(store.root / "x")) == sorted([f"{TMP_MARKER}in-flight", "y.jpg"])


def test_md5_is_cached_until_the_file_changes(store: LocalFolderStore, monkeypatch) -> None:
    store.put("c/a.jpg", b"aaa")
    (store.root / "c" / "b.jpg").write_bytes(b"written by someone else")
    first = {info.key: info.etag for info in store.list("c/")}
    assert first["c/b.jpg"] == hashlib.md5(b"written by someone else").hexdigest()

    import nacento_pipeline.storage.adapters.local as local_module

    class NoHashing:
        @staticmethod
        def md5(*args, **kwargs):
            raise AssertionError("re-hashed an unchanged file")

    monkeypatch.setattr(local_module, "hashlib", NoHashing)
    assert {info.key: info.etag for info in store.list("c/")} == first
    monkeypatch.undo()
    (store.root / "c" / "b.jpg").write_bytes(b"changed content, new size")
    assert store.head("c/b.jpg").etag == hashlib.md5(b"changed content, new size").hexdigest()


def test_md5_cache_keeps_the_most_recent_files_only(store: LocalFolderStore, monkeypatch) -> None:
    import nacento_pipeline.storage.adapters.local as local_module

    monkeypatch.setattr(local_module, "MD5_CACHE_ENTRIES", 3)
    contents = {f"d/{n}.jpg": f"image {n}".encode() for n in range(5)}
    for key, data in contents.items():
        (store.root / "d").mkdir(exist_ok=True)
        (store.root / key).write_bytes(data)
    listed = {info.key: info.etag for info in store.list("d/")}
    assert listed == {key: hashlib.md5(data).hexdigest() for key, data in contents.items()}
    assert len(store._md5_cache) == 3  # the last three listed
    assert [p.rsplit("/", 1)[-1] for p in store._md5_cache] == ["2.jpg", "3.jpg", "4.jpg"]
    # an evicted file is hashed again, with the same result
    assert store.head("d/0.jpg").etag == hashlib.md5(b"image 0").hexdigest()
    assert [p.rsplit("/", 1)[-1] for p in store._md5_cache] == ["3.jpg", "4.jpg", "0.jpg"]


def test_factory_builds_local_store_by_default(tmp_path) -> None:
    settings = Settings(var_dir=tmp_path, local_bucket_dir=tmp_path / "my-bucket")
    store = object_store_resource(settings).get_store()
    assert isinstance(store, LocalFolderStore)
    assert store.root == (tmp_path / "my-bucket").resolve()
    assert store.root.is_dir()
