"""A local folder used as the bucket: keys are files under a root, listed in S3 key order with MD5 ETags.

It behaves like a single-part S3 bucket (same ETags, same listing order, same page-based request counts),
so the pipeline and its tests run on a laptop without any S3 endpoint.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from nacento_pipeline.storage.adapters.base import ObjectInfo, RequestCounter, StorageError

LIST_PAGE_SIZE = 1000  # counted like S3: one LIST request per 1000 keys listed
STREAM_CHUNK_BYTES = 1024 * 1024
TMP_MARKER = ".nacento-tmp-"  # in-flight writes; never listed, never a valid key segment
# MD5s remembered (least recently used dropped first): a listing of a million images must not keep a million
# entries (~250 bytes each) for the store's lifetime; re-hashing a file evicted is one read of it.
MD5_CACHE_ENTRIES = 65_536


class UnsafeKeyError(StorageError, ValueError):
    """A key that cannot map to a file inside the bucket folder (absolute, `..`, empty segment, NUL)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"unsafe object key {key!r}: {reason}")
        self.key = key
        self.reason = reason


def _check_segments(key: str, segments: list[str]) -> None:
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeKeyError(key, f"segment {segment!r} is not allowed")
        if segment.startswith(TMP_MARKER):
            raise UnsafeKeyError(key, f"segments starting with {TMP_MARKER!r} are reserved")


def _check_text(key: str) -> None:
    if key.startswith("/"):
        raise UnsafeKeyError(key, "absolute keys are not allowed")
    if "\x00" in key:
        raise UnsafeKeyError(key, "NUL byte")


class LocalFolderStore:
    """The bucket is the folder `root`; key `a/b/c.jpg` is the file `root/a/b/c.jpg`."""

    list_page_size = LIST_PAGE_SIZE

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests = RequestCounter()
        self._md5_cache: OrderedDict[str, tuple[int, int, str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def display_name(self) -> str:
        """The folder as a `file://` URI."""
        return self.root.as_uri()

    # --- key <-> path ------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        _check_text(key)
        if not key:
            raise UnsafeKeyError(key, "empty key")
        _check_segments(key, key.split("/"))
        return self.root.joinpath(*key.split("/"))

    def _prefix_dir(self, prefix: str) -> tuple[Path, str]:
        """The deepest folder a prefix pins down, and its key (`""` or ending with `/`)."""
        _check_text(prefix)
        dir_key = prefix[: prefix.rfind("/") + 1]
        segments = dir_key.split("/")[:-1] if dir_key else []
        _check_segments(prefix, segments)
        return self.root.joinpath(*segments), dir_key

    # --- ETags -------------------------------------------------------------------------------------------
    def _etag(self, path: str, size: int, mtime_ns: int) -> str:
        """MD5 hex of the content (S3's single-part ETag), cached by (path, size, mtime_ns)."""
        with self._cache_lock:
            cached = self._md5_cache.get(path)
            if cached is not None:
                self._md5_cache.move_to_end(path)
        if cached is not None and cached[0] == size and cached[1] == mtime_ns:
            return cached[2]
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            while chunk := handle.read(STREAM_CHUNK_BYTES):
                digest.update(chunk)
        etag = digest.hexdigest()
        self._remember_md5(path, size, mtime_ns, etag)
        return etag

    def _remember_md5(self, path: str, size: int, mtime_ns: int, etag: str) -> None:
        with self._cache_lock:
            self._md5_cache[path] = (size, mtime_ns, etag)
            self._md5_cache.move_to_end(path)
            while len(self._md5_cache) > MD5_CACHE_ENTRIES:
                self._md5_cache.popitem(last=False)

    def _info(self, key: str, path: str, stat: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            etag=self._etag(path, stat.st_size, stat.st_mtime_ns),
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
        )

    # --- listing -----------------------------------------------------------------------------------------
    def _walk(
        self, folder: str, dir_key: str, prefix: str, start_after: str | None
    ) -> Iterator[tuple[str, str]]:
        """(key, path) of the files under `folder` in S3 key order.

        A sub-folder sorts as `name/`: every key below it shares that prefix, so sorting siblings by
        `name` (files) and `name/` (folders) and descending depth-first yields full keys in byte order. A
        folder's names are held while it is walked, not its DirEntry objects (each caches a stat result:
        ~1 KB per file, times every folder the snapshot's threads list at once), and files outside the
        prefix or not after `start_after` are not held at all.
        """
        try:
            with os.scandir(folder) as scan:
                entries = []
                for entry in scan:
                    if entry.name.startswith(TMP_MARKER):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        entries.append((f"{dir_key}{entry.name}/", True))
                    elif entry.is_file():
                        key = f"{dir_key}{entry.name}"
                        if key.startswith(prefix) and (start_after is None or key > start_after):
                            entries.append((key, False))
        except (FileNotFoundError, NotADirectoryError):
            return
        entries.sort(key=lambda item: item[0])
        for key, is_dir in entries:
            path = os.path.join(folder, key[len(dir_key) :].rstrip("/"))
            if not is_dir:
                yield key, path
                continue
            if not (key.startswith(prefix) or prefix.startswith(key)):
                continue
            # Whole sub-tree sorts at or before start_after unless start_after lies inside it.
            if start_after is not None and start_after >= key and not start_after.startswith(key):
                continue
            yield from self._walk(path, key, prefix, start_after)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Files under `prefix` in key order, one LIST counted per LIST_PAGE_SIZE files as S3 pages them."""
        folder, dir_key = self._prefix_dir(prefix)
        self.requests.add("LIST")
        listed = 0
        for key, path in self._walk(str(folder), dir_key, prefix, start_after):
            if listed and listed % LIST_PAGE_SIZE == 0:
                self.requests.add("LIST")
            listed += 1
            try:
                yield self._info(key, path, os.stat(path))
            except FileNotFoundError:
                continue  # deleted while listing: S3 would not have listed it either

    # --- single objects ----------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo | None:
        """The file's info (its MD5 as ETag), or None when there is no such file."""
        path = self._path(key)
        self.requests.add("HEAD")
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return self._info(key, str(path), stat)

    def get(self, key: str) -> bytes:
        """The file's content; raises KeyError when missing."""
        path = self._path(key)
        self.requests.add("GET")
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise KeyError(f"{self.display_name}/{key} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"GET {self.display_name}/{key} failed: {exc}") from exc

    def open(self, key: str) -> Iterator[bytes]:
        """The file's content in chunks; raises KeyError when missing."""
        path = self._path(key)
        self.requests.add("GET")
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below, after streaming
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise KeyError(f"{self.display_name}/{key} does not exist") from exc
        try:
            while chunk := handle.read(STREAM_CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    def _atomic_write(self, path: Path, key: str, write: Callable[[Path], object]) -> os.stat_result:
        """Write via a temp file in the target folder and rename, so readers never see half a file."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f"{TMP_MARKER}{uuid.uuid4().hex}"
            try:
                write(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            return path.stat()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise StorageError(f"cannot write {self.display_name}/{key}: {exc}") from exc

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Write the file atomically (a temporary file renamed); its info with the content's MD5 as ETag."""
        path = self._path(key)
        self.requests.add("PUT")
        stat = self._atomic_write(path, key, lambda tmp: tmp.write_bytes(data))
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self._remember_md5(str(path), stat.st_size, stat.st_mtime_ns, etag)
        return ObjectInfo(
            key=key,
            etag=etag,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
        )

    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy a file atomically; raises KeyError when the source is missing."""
        src, dst = self._path(src_key), self._path(dst_key)
        self.requests.add("COPY")
        if not src.is_file():
            raise KeyError(f"{self.display_name}/{src_key} does not exist")
        self._atomic_write(dst, dst_key, lambda tmp: shutil.copyfile(src, tmp))

    def delete(self, keys: Sequence[str]) -> None:
        """Delete the files (missing ones and folders are skipped), one DELETE counted per LIST_PAGE_SIZE."""
        paths = [self._path(key) for key in dict.fromkeys(keys)]
        for start in range(0, len(paths), LIST_PAGE_SIZE):
            self.requests.add("DELETE")
            for path in paths[start : start + LIST_PAGE_SIZE]:
                try:
                    path.unlink()
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except IsADirectoryError:
                    continue  # a "folder" is not an object; S3 would report nothing to delete
                with self._cache_lock:
                    self._md5_cache.pop(str(path), None)
