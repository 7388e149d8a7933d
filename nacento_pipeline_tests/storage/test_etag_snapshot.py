"""ETag snapshot: LIST for dense prefixes, HEAD for sparse keys, budget fallback, one answer on all stores."""

from __future__ import annotations

import hashlib
import threading
import time

import pandas as pd
import pytest

from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore, StorageError
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore
from nacento_pipeline.storage.etag_snapshot import (
    SnapshotInputError,
    key_before,
    parent_prefix,
    snapshot_etags,
)
from nacento_pipeline_tests.conftest import seed_objects

pytestmark = pytest.mark.every_s3_server

MEDIA = "media/catalog/product/"


def _seed(store: ObjectStore, objects: dict[str, bytes]) -> None:
    if isinstance(store, S3ObjectStore):
        seed_objects(store.bucket, objects)
    else:
        for key, data in objects.items():
            store.put(key, data)


def _wanted(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"value": ["/" + key.removeprefix(MEDIA) for key in keys], "key": keys})


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def local_store(tmp_path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "bucket")


@pytest.fixture
def s3_store(s3_endpoint: str, s3_bucket: str) -> S3ObjectStore:
    return S3ObjectStore(s3_bucket, endpoint_url=s3_endpoint, region="us-east-1", path_style=True)


@pytest.fixture(params=["local", "s3"])
def store(request) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


def test_dense_layout_is_listed_not_headed(store: ObjectStore) -> None:
    keys = [f"{MEDIA}{a}/{b}/{a}{b}-{i:04d}.jpg" for a, b in ("ab", "cd", "ef") for i in range(1000)]
    objects = {key: f"img {key}".encode() for key in keys}
    _seed(store, {**objects, f"{MEDIA}a/b/zz-not-wanted.jpg": b"x", f"{MEDIA}c/e/other.jpg": b"y"})

    snap = snapshot_etags(store, _wanted(keys))

    assert snap.requests["HEAD"] == 0
    assert snap.requests["LIST"] == 3  # one page per 1000-image prefix
    assert snap.strategy["listed_prefixes"] == 3
    assert snap.strategy["headed_keys"] == 0
    assert snap.strategy["list_pages"] == 3
    frame = snap.frame
    assert len(frame) == 3000
    assert frame["exists"].all()
    assert frame["key"].tolist() == keys
    assert frame["etag"].tolist() == [_md5(objects[key]) for key in keys]
    assert frame["size"].tolist() == [len(objects[key]) for key in keys]
    assert frame.loc[0, "value"] == "/a/b/ab-0000.jpg"


def test_sparse_keys_are_headed(store: ObjectStore) -> None:
    keys = [f"{MEDIA}{c}/{c}/{c}{c}-single.jpg" for c in "abcdef"]
    _seed(store, {key: key.encode() for key in keys})
    snap = snapshot_etags(store, _wanted(keys))
    assert snap.requests["HEAD"] == 6
    assert snap.requests["LIST"] == 0
    assert snap.strategy["headed_keys"] == 6
    assert snap.frame["exists"].all()
    assert snap.frame["etag"].tolist() == [_md5(key.encode()) for key in keys]


def test_missing_keys_are_reported(store: ObjectStore) -> None:
    present = [f"{MEDIA}m/y/my-{i:02d}.jpg" for i in range(1, 9)]
    _seed(store, {key: b"content" for key in present})
    missing_dense = [f"{MEDIA}m/y/my-00.jpg", f"{MEDIA}m/y/my-04b.jpg", f"{MEDIA}m/y/my-99.jpg"]
    missing_sparse = f"{MEDIA}n/o/nope.jpg"
    snap = snapshot_etags(store, _wanted([*present, *missing_dense, missing_sparse]))

    frame = snap.frame.set_index("key")
    assert frame.loc[present, "exists"].all()
    assert (frame.loc[present, "etag"] == _md5(b"content")).all()
    gone = frame.loc[[*missing_dense, missing_sparse]]
    assert not gone["exists"].any()
    assert gone["etag"].tolist() == [""] * 4
    assert gone["size"].tolist() == [0] * 4
    assert snap.requests["HEAD"] == 1  # only the sparse one; the listing proves the dense ones absent
    assert snap.requests["LIST"] == 1
    assert snap.strategy["missing_keys"] == 4


def test_crowded_prefix_falls_back_to_head(store: ObjectStore) -> None:
    crowd = [f"{MEDIA}x/b/xb-{i:05d}.jpg" for i in range(5000)]
    _seed(store, {key: key.encode() for key in crowd})
    wanted = [crowd[0], crowd[2500], crowd[4999]]
    snap = snapshot_etags(store, _wanted(wanted))
    # page 1 finds the first key; after page 2 the budget (2 pages >= 2 keys left) says HEAD the rest
    assert snap.requests["LIST"] == 2
    assert snap.requests["HEAD"] == 2
    assert snap.strategy["budget_fallbacks"] == 1
    assert snap.frame["exists"].all()
    assert snap.frame["etag"].tolist() == [_md5(key.encode()) for key in wanted]


def test_same_results_on_local_and_s3(local_store: LocalFolderStore, s3_store: S3ObjectStore) -> None:
    objects = {f"{MEDIA}p/q/pq-{i:03d}.jpg": bytes([i % 251]) * (i + 1) for i in range(300)}
    objects |= {f"{MEDIA}s/o/solo.png": b"solo", f"{MEDIA}p/q/pq-050.jpg.bak": b"not wanted"}
    wanted = [*sorted(objects)[::3], f"{MEDIA}s/o/solo.png", f"{MEDIA}p/q/pq-999.jpg", f"{MEDIA}z/z/zz.jpg"]
    for target in (local_store, s3_store):
        _seed(target, objects)
    local = snapshot_etags(local_store, _wanted(wanted))
    remote = snapshot_etags(s3_store, _wanted(wanted))
    # Content-Type is what the backend reports on HEAD (a folder has none): compared apart. Uploaded without
    # one, moto reports binary/octet-stream and MinIO (the JuiceFS gateway) guesses from the extension.
    pd.testing.assert_frame_equal(
        local.frame.drop(columns="content_type"), remote.frame.drop(columns="content_type")
    )
    assert set(remote.frame["content_type"]) <= {"", "binary/octet-stream", "image/png"}
    assert set(local.frame["content_type"]) == {""}
    assert local.requests == remote.requests
    assert local.strategy == remote.strategy
    assert local.frame["exists"].sum() == len(wanted) - 2


def test_frame_contract_and_duplicates(local_store: LocalFolderStore) -> None:
    _seed(local_store, {f"{MEDIA}a/a/aa.jpg": b"1", f"{MEDIA}b/b/bb.jpg": b"22"})
    wanted = pd.DataFrame(
        {
            "sku": ["S1", "S2", "S3"],
            "value": ["/b/b/bb.jpg", "/a/a/aa.jpg", "b/b/bb.jpg"],  # 3rd: legacy value, same key
            "key": [f"{MEDIA}b/b/bb.jpg", f"{MEDIA}a/a/aa.jpg", f"{MEDIA}b/b/bb.jpg"],
        }
    )
    frame = snapshot_etags(local_store, wanted).frame
    assert tuple(frame.columns) == ETAG_COLUMNS
    assert frame["value"].tolist() == ["/b/b/bb.jpg", "/a/a/aa.jpg"]  # first occurrence wins, input order
    assert frame["size"].tolist() == [2, 1]
    assert frame["exists"].dtype == bool
    assert frame["size"].dtype == "int64"


def test_empty_and_invalid_input(local_store: LocalFolderStore) -> None:
    snap = snapshot_etags(local_store, pd.DataFrame({"value": [], "key": []}))
    assert tuple(snap.frame.columns) == ETAG_COLUMNS
    assert snap.frame.empty
    assert sum(snap.requests.values()) == 0
    with pytest.raises(SnapshotInputError) as excinfo:
        snapshot_etags(local_store, pd.DataFrame({"value": ["/a.jpg"]}))
    assert excinfo.value.field == "key"
    with pytest.raises(SnapshotInputError):
        snapshot_etags(local_store, _wanted(["/abs/key.jpg"]))


def test_list_min_keys_switches_strategy(local_store: LocalFolderStore) -> None:
    keys = [f"{MEDIA}k/k/kk-{i}.jpg" for i in range(5)]
    _seed(local_store, {key: b"k" for key in keys})
    headed = snapshot_etags(local_store, _wanted(keys), list_min_keys=6)
    assert (headed.requests["HEAD"], headed.requests["LIST"]) == (5, 0)
    listed = snapshot_etags(local_store, _wanted(keys[:1]), list_min_keys=1)
    assert (listed.requests["HEAD"], listed.requests["LIST"]) == (0, 1)
    assert headed.frame["exists"].all() and listed.frame["exists"].all()


class SlowHeadStore(LocalFolderStore):
    """A store whose HEAD takes 50 ms, to see the thread pool at work."""

    def __init__(self, root, fail_on: str | None = None) -> None:
        super().__init__(root)
        self.fail_on = fail_on
        self.threads: set[int] = set()

    def head(self, key: str) -> ObjectInfo | None:
        self.threads.add(threading.get_ident())
        time.sleep(0.05)
        if key == self.fail_on:
            raise StorageError(f"HEAD {key} failed: SlowDown")
        return super().head(key)


def test_heads_run_concurrently(tmp_path) -> None:
    store = SlowHeadStore(tmp_path / "bucket")
    keys = [f"{MEDIA}{i:02d}/x.jpg" for i in range(32)]
    _seed(store, {key: b"x" for key in keys})
    started = time.perf_counter()
    snap = snapshot_etags(store, _wanted(keys), head_concurrency=16)
    elapsed = time.perf_counter() - started
    assert snap.frame["exists"].all()
    assert len(store.threads) > 1
    assert elapsed < 32 * 0.05 / 2  # serial would take 1.6 s


def test_storage_errors_propagate(tmp_path) -> None:
    store = SlowHeadStore(tmp_path / "bucket", fail_on=f"{MEDIA}03/x.jpg")
    keys = [f"{MEDIA}{i:02d}/x.jpg" for i in range(8)]
    with pytest.raises(StorageError, match="03/x.jpg"):
        snapshot_etags(store, _wanted(keys), head_concurrency=4)


@pytest.mark.parametrize("key", [f"{MEDIA}a/b/ab.jpg", "k", "a/b/x ", "a/é", f"{MEDIA}a/b/"])
def test_key_before_sorts_just_before(key: str) -> None:
    before = key_before(key)
    assert key[:-1] <= before < key
    assert before.startswith(key[:-1])


def test_listing_from_key_before_starts_at_the_key(local_store: LocalFolderStore) -> None:
    keys = [f"{MEDIA}a/b/ab.jpe", f"{MEDIA}a/b/ab.jpf", f"{MEDIA}a/b/ab.jpg", f"{MEDIA}a/b/ab.jpg2"]
    _seed(local_store, {key: b"x" for key in keys})
    listed = [info.key for info in local_store.list(f"{MEDIA}a/b/", start_after=key_before(keys[2]))]
    assert listed == keys[2:]


def test_parent_prefix() -> None:
    assert parent_prefix(f"{MEDIA}m/y/my.jpg") == f"{MEDIA}m/y/"
    assert parent_prefix("top.jpg") == ""


def test_a_big_folder_is_listed_in_concurrent_key_ranges(local_store: LocalFolderStore, monkeypatch) -> None:
    monkeypatch.setattr(local_store, "list_page_size", 100, raising=False)
    keys = [f"{MEDIA}a/b/ab-{i:05d}.jpg" for i in range(2000)]
    _seed(local_store, {key: key.encode() for key in keys})
    _seed(local_store, {f"{MEDIA}a/b/zz-unwanted-{i}.jpg": b"x" for i in range(300)})  # after the last range
    running, peak, lock = [0], [0], threading.Lock()
    original = local_store.list

    def slow_list(prefix, start_after=None):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            yield from original(prefix, start_after)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(local_store, "list", slow_list)
    snap = snapshot_etags(local_store, _wanted(keys), head_concurrency=4)
    assert (
        snap.strategy["list_ranges"] == 4 and snap.strategy["listed_prefixes"] == 1
    )  # 2000 keys / 4 workers
    assert snap.frame["exists"].all() and list(snap.frame["etag"]) == [_md5(k.encode()) for k in keys]
    assert snap.strategy["headed_keys"] == 0 and peak[0] > 1
    assert snap.strategy["list_pages"] <= 2000 // 100 + 4  # at most one extra page per range
