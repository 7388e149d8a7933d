"""A toy bunch format for tests: `.toy` files hold one image a line, `sku<TAB>file_path[<TAB>label]`.

It exists to show that a format is added by registering it plus its reader, nothing else: the tests that use
it register it (`toy_format_registered`) and remove it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nacento_pipeline.core.batch.formats import BunchFormat, ReadContext, register_format, unregister_format
from nacento_pipeline.core.batch.validation import RawChunk, items_frame, raw_frame
from nacento_pipeline.core.errors import BatchFileError

TOY_SHAPE = "a toy line is sku<TAB>file_path[<TAB>label]"


def _cells(file: str, text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank lines; BatchFileError for a line without a tab."""
    rows = [
        (number, line.split("\t")) for number, line in enumerate(text.splitlines(), start=1) if line.strip()
    ]
    for number, cells in rows:
        if len(cells) < 2:
            raise BatchFileError(file, TOY_SHAPE, line=number)
    return rows


def read_toy(chunks: Iterator[bytes], context: ReadContext) -> Iterator[RawChunk]:
    """The whole file as one chunk; an item is every line of one SKU (item 0), as in a gallery CSV."""
    context.kind = "toy"
    rows = _cells(context.file, b"".join(chunks).decode("utf-8"))
    raw = raw_frame(
        {
            "file_idx": context.file_idx,
            "file": context.file,
            "line": [number for number, _ in rows],
            "sku": [cells[0] for _, cells in rows],
            "file_path": [cells[1] for _, cells in rows],
            "label": [cells[2] if len(cells) > 2 else "" for _, cells in rows],
        }
    )
    firsts = raw.loc[raw["sku"].str.strip() != ""].drop_duplicates("sku")
    items = items_frame(
        {
            "file_idx": [context.file_idx] * len(firsts),
            "item_no": [0] * len(firsts),
            "line": firsts["line"].tolist(),
            "file": [context.file] * len(firsts),
            "sku": firsts["sku"].tolist(),
        }
    )
    yield RawChunk(raw, items)


def check_toy_start(file: str, head: bytes) -> None:
    """The first line of a large toy file must already have the toy shape."""
    _cells(file, head.split(b"\n", 1)[0].decode("utf-8", errors="replace"))


TOY_FORMAT = BunchFormat(("toy",), read_toy, check_toy_start, "toy lines sku<TAB>file_path[<TAB>label]")


@contextmanager
def toy_format_registered() -> Iterator[BunchFormat]:
    """The toy format known to the drop convention, the sniff and the parser for the `with` block only."""
    register_format(TOY_FORMAT)
    try:
        yield TOY_FORMAT
    finally:
        unregister_format(TOY_FORMAT)
