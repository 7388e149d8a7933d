"""Synthetic catalog for the benchmark: SKUs, image paths, gallery CSV bunch files and an ObjectStore.

Image paths follow Magento's `<a>/<b>/` layout; the in-process ObjectStore answers LIST/HEAD for a million
images without holding them.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nacento_pipeline.core.paths import MEDIA_PREFIX, object_key
from nacento_pipeline.storage.adapters.base import ObjectInfo, RequestCounter

HEX = "0123456789abcdef"
ALL_DIRS = tuple(a + b for a in HEX for b in HEX)  # 256 Magento dispersion folders
CSV_HEADER = "sku,file_path,label,position,disabled,roles\n"
ROLES_OF_FIRST = "base|small_image|thumbnail|swatch_image"
LAYOUTS = ("dense", "spread")
DENSE_DIRS = 16


@dataclass(frozen=True)
class CatalogSpec:
    """P products with I images each, in one of two layouts.

    `dense`: images spread over 16 dispersion folders (a PIM that names files after products); `spread`: over
    all 256 (hash-like names).
    """

    products: int
    images_per_product: int
    layout: str = "dense"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: expected one of {LAYOUTS}")
        if self.products < 1 or not 1 <= self.images_per_product <= 99:
            raise ValueError("products must be >= 1 and images per product within 1..99")

    @property
    def images(self) -> int:
        """Images of the catalog."""
        return self.products * self.images_per_product

    @property
    def dirs(self) -> tuple[str, ...]:
        """The dispersion folders (`ab`) the layout uses."""
        if self.layout == "spread":
            return ALL_DIRS
        step = len(ALL_DIRS) // DENSE_DIRS
        return ALL_DIRS[::step][:DENSE_DIRS]

    def sku(self, i: int) -> str:
        """SKU of product i."""
        return f"BENCH-{i:08d}"

    def folder(self, i: int) -> str:
        """Dispersion folder of product i's images."""
        return self.dirs[i % len(self.dirs)]

    def value(self, i: int, j: int) -> str:
        """Gallery value of image j (0-based) of product i: `/a/3/a3<product>-<j>.jpg`."""
        d = self.folder(i)
        return f"/{d[0]}/{d[1]}/{d}{i:08d}-{j:02d}.jpg"

    def key(self, i: int, j: int) -> str:
        """Object key of image j of product i."""
        return object_key(self.value(i, j))

    def skus(self, indexes: Sequence[int] | range | None = None) -> list[str]:
        """SKUs of the products `indexes` (all when None)."""
        return [self.sku(i) for i in (range(self.products) if indexes is None else indexes)]


def image_content(key: str, version: int) -> bytes:
    """A small object whose ETag (MD5) changes with `version`."""
    return f"synthetic image {key} v{version}\n".encode()


def is_changed(i: int, j: int, percent: int, salt: int) -> bool:
    """Deterministic ~percent% choice of images, different per salt, spread over all products."""
    return (i * 31 + j * 7 + salt * 13) % 100 < percent


def _label(i: int, j: int, variant: int) -> str:
    """Label of image j of product i; a variant > 0 makes a changed label."""
    return f"Product {i} view {j}" + (f" (rev {variant})" if variant else "")


def csv_rows(spec: CatalogSpec, products: range, meta_percent: int = 0, meta_salt: int = 0) -> Iterator[str]:
    """Gallery CSV lines (no header) for products; meta_percent% of images get a new label."""
    for i in products:
        sku = spec.sku(i)
        for j in range(spec.images_per_product):
            variant = meta_salt if meta_percent and is_changed(i, j, meta_percent, meta_salt) else 0
            roles = ROLES_OF_FIRST if j == 0 else ""
            yield f"{sku},{spec.value(i, j)},{_label(i, j, variant)},{j + 1},0,{roles}\n"


def csv_chunks(
    spec: CatalogSpec, products: range, meta_percent: int = 0, meta_salt: int = 0, chunk_bytes: int = 1 << 20
) -> Iterator[bytes]:
    """One gallery CSV bunch file as a stream of ~chunk_bytes pieces (never the whole file in memory)."""
    buffer = [CSV_HEADER]
    size = len(CSV_HEADER)
    for line in csv_rows(spec, products, meta_percent, meta_salt):
        buffer.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def bunch_ranges(products: int, products_per_file: int) -> list[range]:
    """The product ranges of the bunch files, `products_per_file` each."""
    return [range(s, min(products, s + products_per_file)) for s in range(0, products, products_per_file)]


def bunch_name(batch_key: str, counter: int) -> str:
    """Name of a batch's bunch file by the drop convention."""
    return f"import-{batch_key}_{counter:02d}.csv"


def ok_name(batch_key: str) -> str:
    """Name of a batch's OK file by the drop convention."""
    return f"import-{batch_key}.ok"


class _FolderKeys:
    """The sorted keys of one dispersion folder, computed on demand (a sequence for bisect)."""

    def __init__(self, spec: CatalogSpec, folder_index: int) -> None:
        self.spec = spec
        n_dirs = len(spec.dirs)
        self.first = folder_index
        self.step = n_dirs
        self.products = len(range(folder_index, spec.products, n_dirs))

    def __len__(self) -> int:
        return self.products * self.spec.images_per_product

    def __getitem__(self, p: int) -> str:
        per = self.spec.images_per_product
        return self.spec.key(self.first + self.step * (p // per), p % per)


class SyntheticImageStore:
    """A read-only ObjectStore over the synthetic catalog: every image exists, ETag = MD5 of its content.

    LIST pages (page_size keys each) and HEADs are answered arithmetically and counted like S3 requests, so
    the snapshot of a million images costs no memory here. Bunch files are generated while they are read.
    """

    list_page_size = 1000

    def __init__(self, spec: CatalogSpec, bunches: dict[str, tuple[range, int, int]] | None = None) -> None:
        self.spec = spec
        self.requests = RequestCounter()
        self._bunches = dict(bunches or {})  # key -> (products, meta_percent, meta_salt)
        self._folders = {
            f"{MEDIA_PREFIX.strip('/')}/{d[0]}/{d[1]}/": _FolderKeys(spec, n) for n, d in enumerate(spec.dirs)
        }

    @property
    def display_name(self) -> str:
        """`synthetic://<images>-images`."""
        return f"synthetic://{self.spec.images}-images"

    @staticmethod
    def _etag(key: str) -> str:
        return hashlib.md5(image_content(key, 1)).hexdigest()

    def _info(self, key: str) -> ObjectInfo:
        return ObjectInfo(key=key, etag=self._etag(key), size=len(image_content(key, 1)))

    def _listed(self, prefix: str, start_after: str | None) -> Iterator[str]:
        for folder in sorted(self._folders):
            if not (folder.startswith(prefix) or prefix.startswith(folder)):
                continue
            keys = self._folders[folder]
            start = bisect_right(keys, start_after) if start_after else 0
            for p in range(start, len(keys)):
                key = keys[p]
                if key.startswith(prefix):
                    yield key

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """The catalog's image keys under `prefix` in key order, one LIST counted per page."""
        for n, key in enumerate(self._listed(prefix, start_after)):
            if n % self.list_page_size == 0:
                self.requests.add("LIST")
            yield self._info(key)

    def head(self, key: str) -> ObjectInfo | None:
        """The image's info, or None when the catalog has no such key."""
        self.requests.add("HEAD")
        folder = key[: key.rfind("/") + 1]
        keys = self._folders.get(folder)
        if keys is None:
            return None
        p = bisect_right(keys, key) - 1
        return self._info(key) if p >= 0 and keys[p] == key else None

    def open(self, key: str) -> Iterator[bytes]:
        """A registered bunch file's content, generated while it is read; KeyError for any other key."""
        self.requests.add("GET")
        if key not in self._bunches:
            raise KeyError(key)
        products, meta_percent, meta_salt = self._bunches[key]
        yield from csv_chunks(self.spec, products, meta_percent, meta_salt)

    def get(self, key: str) -> bytes:
        """A registered bunch file's whole content."""
        return b"".join(self.open(key))

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Refused: the store is read-only."""
        raise NotImplementedError("the synthetic store is read-only")

    def copy(self, src_key: str, dst_key: str) -> None:
        """Refused: the store is read-only."""
        raise NotImplementedError("the synthetic store is read-only")

    def delete(self, keys: Sequence[str]) -> None:
        """Refused: the store is read-only."""
        raise NotImplementedError("the synthetic store is read-only")
