"""A generated Akeneo product export folder, shaped as Akeneo's CSV/XLSX export writes it with `with_media`.

Columns: `sku;categories;enabled;family;groups;parent;name-de_DE;name-en_US;picture;image-de_DE-ecommerce;
image-en_US-ecommerce;image-en_US-print`: `picture` neither localizable nor scopable, `image` localizable
and scopable, `name` localizable (the label). Media cells are `files/<sku>/<attribute>[/<locale>][/<channel>]/
<file name>` and the files lie there (8x8 PNGs, see sample_drop.png). Nothing is downloaded.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.drop.samples import png

AKENEO_DEMO_SKUS = tuple(f"AKN-{n:04d}" for n in range(2001, 2005))  # the demo catalog's Akeneo products
HEADER = (
    "sku",
    "categories",
    "enabled",
    "family",
    "groups",
    "parent",
    "name-de_DE",
    "name-en_US",
    "picture",
    "image-de_DE-ecommerce",
    "image-en_US-ecommerce",
    "image-en_US-print",
)


def _colour(seed: str, generation: int) -> tuple[int, int, int]:
    value = sum(ord(c) * (i + 7) for i, c in enumerate(f"{seed}:{generation}"))
    return (value % 251, (value // 7) % 241, (value // 13) % 239)


def export_rows(skus: tuple[str, ...], generation: int = 0) -> tuple[list[list[str]], dict[str, bytes]]:
    """(data rows in HEADER order, media files by path in the export folder)."""
    rows: list[list[str]] = []
    media: dict[str, bytes] = {}
    for sku in skus:
        folder = sku.replace("/", "_")  # as Akeneo writes an identifier in a media path
        name = folder.lower()
        front = f"files/{folder}/picture/{name}-front.png"
        detail_en = f"files/{folder}/image/en_US/ecommerce/{name}-detail.png"
        detail_de = f"files/{folder}/image/de_DE/ecommerce/{name}-detail-de.png"
        detail_print = f"files/{folder}/image/en_US/print/{name}-print.png"
        for path in (front, detail_en, detail_de, detail_print):
            media[path] = png(_colour(path, generation if path == front else 0))
        rows.append(
            [
                sku,
                "master",
                "1",
                "shoes",
                "",
                "",
                f"{sku} Schuh",
                f"{sku} shoe",
                front,
                detail_de,
                detail_en,
                detail_print,
            ]
        )
    return rows, media


def export_csv(rows: list[list[str]], header: tuple[str, ...] = HEADER) -> bytes:
    """Akeneo's CSV: `;` between cells, `"` around cells that need it, a header row."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quotechar='"', lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def export_xlsx(rows: list[list[str]], header: tuple[str, ...] = HEADER) -> bytes:
    """Akeneo's XLSX: one sheet, a header row, the same cells."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sample_export(
    skus: tuple[str, ...], generation: int = 0, xlsx: bool = False, lines_per_file: int = 10_000
) -> dict[str, bytes]:
    """The files of one export folder (path -> content): the data file(s) and `files/...`.

    XLSX exports are split every `lines_per_file` rows into `export_1.xlsx`, `export_2.xlsx`, ... as Akeneo
    splits them.
    """
    rows, media = export_rows(skus, generation)
    files: dict[str, bytes] = {}
    if xlsx:
        for n, start in enumerate(range(0, max(len(rows), 1), lines_per_file), start=1):
            files[f"export_{n}.xlsx"] = export_xlsx(rows[start : start + lines_per_file])
    else:
        files["export.csv"] = export_csv(rows)
    return {**files, **media}


def drop_export(
    store: ObjectStore, drop_prefix: str, batch_key: str, files: dict[str, bytes], ok_text: bytes = b""
) -> str:
    """Write an export folder `import-<batch key>/` and then its OK file; returns the OK file's key."""
    folder = f"{drop_prefix}import-{batch_key}/"
    for path, data in files.items():
        store.put(folder + path, data)
    ok_key = f"{drop_prefix}import-{batch_key}.ok"
    store.put(ok_key, ok_text)
    return ok_key


def drop_demo_export(store: ObjectStore, drop_prefix: str, now: datetime | None = None) -> tuple[str, int]:
    """The demo's Akeneo export folder (CSV + files/) and its OK file: (the folder's name, files written)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    files = sample_export(AKENEO_DEMO_SKUS)
    drop_export(store, drop_prefix, f"akeneo_demo-{stamp}", files)
    return f"import-akeneo_demo-{stamp}", len(files)
