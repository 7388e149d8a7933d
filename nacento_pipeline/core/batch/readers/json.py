"""JSON bunch files: the connector's bulk payload (streamed with ijson) and JSON Lines (one item a line)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from functools import partial
from itertools import chain

import ijson
import numpy as np

from nacento_pipeline.core.batch.source import SOURCE_CHUNK_SIZE, PassThroughStream, open_binary
from nacento_pipeline.core.batch.validation import (
    NO_PROBLEM,
    RawChunk,
    append_item,
    collected_chunk,
    item_lists,
)
from nacento_pipeline.core.errors import BatchFileError

JSON_CHUNK_IMAGES = 50_000
MAX_JSON_DEPTH = 64  # a bulk payload needs 8 (request, items, item, images, image, stores, store, roles)
ITEM_PREFIX = "request.items.item"
IMAGE_FIELDS = ("file_path", "label", "position", "disabled", "roles")
STORE_FIELDS = ("label", "position", "disabled", "roles")  # of an image's `stores` map entry


def looks_like_json_lines(first_line: bytes) -> bool:
    """A `.json` file is JSON Lines when its first non-blank line is a whole item object (`sku`/`images`)."""
    try:
        value = json.loads(first_line.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and ("sku" in value or "images" in value)


def _text(value: object, field: str) -> tuple[str, str]:
    """(string form, problem reason) of a scalar payload value; None becomes ""."""
    if value is None:
        return "", ""
    if isinstance(value, bool):
        if field == "disabled":
            return ("1" if value else "0"), ""
        return str(value).lower(), (f"{field} must be an integer" if field == "position" else "")
    if isinstance(value, str):
        return value, ""
    if isinstance(value, int):
        return str(value), ""
    if isinstance(value, float | Decimal):
        try:
            return (str(int(value)) if value == int(value) else str(value)), ""
        except (OverflowError, ValueError):  # inf / nan
            return str(value), ""
    if field == "roles" and isinstance(value, list):
        if all(isinstance(v, str | int) for v in value):
            return "|".join(str(v) for v in value), ""
        return json.dumps(value, default=str), "roles must be a list of strings"
    kind = (
        "a list of strings"
        if field == "roles"
        else "a string"
        if field in ("file_path", "label")
        else "a scalar"
    )
    return json.dumps(value, default=str), f"{field} must be {kind}"


def _fast_text(value: object, field: str) -> str | None:
    """The common, well-typed cases of `_text` without its checks; None means "ask `_text`"."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if value is None:
        return ""
    if kind is int and field != "disabled":
        return str(value)
    if kind is bool and field == "disabled":
        return "1" if value else "0"
    if kind is list and field == "roles" and all(type(v) is str for v in value):  # type: ignore[attr-defined]
        return "|".join(value)  # type: ignore[arg-type]
    return None


def _texts(obj: dict, names: Sequence[str], prefix: str) -> tuple[list[str], tuple[str, str, str]]:
    """The fields `names` of one JSON object as text, and its first problem or `NO_PROBLEM`.

    The problem's field is named with `prefix`.
    """
    texts: list[str] = []
    problem = NO_PROBLEM
    for name in names:
        text = _fast_text(obj.get(name), name)
        if text is None:
            text, reason = _text(obj.get(name), name)
            if reason and problem is NO_PROBLEM:
                problem = (prefix + name, text, reason)
        texts.append(text)
    return texts, problem


_RAW_KEYS = ("item_no", "line", "sku", *IMAGE_FIELDS, "pre_field", "pre_value", "pre_reason")


class _ItemCollector:
    """Turns item objects into raw-row and item column lists, flushed as RawChunks."""

    def __init__(self, file: str, file_idx: int) -> None:
        self.file = file
        self.file_idx = file_idx
        self._reset()

    def _reset(self) -> None:
        self.raw: dict[str, list] = {k: [] for k in _RAW_KEYS}
        self.items: dict[str, list] = item_lists()
        self.stores: list[tuple] = []  # batch_validate.STORE_RAW_COLUMNS records

    def _add_stores(self, image_row: int, line: int, stores: object) -> tuple[str, str, str]:
        """Store-level values of one image (`{"<code>": {"label", "position", "disabled", "roles"}}`).

        Returns the image's problem when `stores` is not an object.
        """
        if type(stores) is not dict:
            return ("stores", json.dumps(stores, default=str), "stores must be an object keyed by store code")
        for code, entry in stores.items():
            field = f"stores.{code}"
            label_given = ""
            if type(entry) is dict:
                texts, pre = _texts(entry, STORE_FIELDS, f"{field}.")
                label_given = "1" if entry.get("label") is not None else ""
            else:
                texts = [""] * len(STORE_FIELDS)
                pre = (field, json.dumps(entry, default=str), "a store's values must be an object")
            label, position, disabled, roles = texts
            self.stores.append(
                (
                    image_row,
                    line,
                    str(code),
                    field,
                    field + ".",
                    label,
                    label_given,
                    position,
                    disabled,
                    roles,
                    *pre,
                )
            )
        return NO_PROBLEM

    def add(self, item_no: int, item: object) -> None:
        """One item (line = item number or physical line): recorded with its problem, or with its images."""
        sku, images, problem = _item_problem(item)
        append_item(self.items, item_no, item_no, sku, problem)
        if problem[0]:
            return
        for image in images:
            self._add_image(item_no, sku, image)

    def _add_image(self, item_no: int, sku: str, image: object) -> None:
        fields: list[str]
        if type(image) is dict:
            fields, pre = _texts(image, IMAGE_FIELDS, "")
        else:
            fields = [""] * len(IMAGE_FIELDS)
            pre = ("images", json.dumps(image, default=str), "image is not an object")
        stores = image.get("stores") if type(image) is dict else None
        raw = self.raw
        if stores is not None and pre is NO_PROBLEM:
            pre = self._add_stores(len(raw["sku"]), item_no, stores)
        raw["item_no"].append(item_no)  # appended one by one: this runs once per image
        raw["line"].append(item_no)
        raw["sku"].append(sku)
        for name, value in zip(IMAGE_FIELDS, fields, strict=True):
            raw[name].append(value)
        raw["pre_field"].append(pre[0])
        raw["pre_value"].append(pre[1])
        raw["pre_reason"].append(pre[2])

    @property
    def full(self) -> bool:
        return len(self.raw["file_path"]) >= JSON_CHUNK_IMAGES

    def flush(self, request_id: str | None = None) -> RawChunk:
        chunk = collected_chunk(
            self.file, self.file_idx, self.raw, self.items, self.stores, request_id=request_id
        )
        self._reset()
        return chunk


def _item_problem(item: object) -> tuple[str, list, tuple[str, str, str]]:
    """(SKU, images, problem) of one item object; the problem is NO_PROBLEM for an item to import."""
    if not isinstance(item, dict):
        return "", [], ("sku", json.dumps(item, default=str)[:200], "item is not an object")
    sku_text, sku_problem = _text(item.get("sku"), "sku")
    sku = sku_text.strip()
    images = item.get("images")
    if sku_problem or not sku:
        return (
            "" if sku_problem else sku,
            [],
            ("sku", sku_text, "SKU is empty" if not sku_problem else "SKU must be a string"),
        )
    if not isinstance(images, list):
        return (
            sku,
            [],
            (
                "images",
                json.dumps(images, default=str)[:200],
                "images is missing" if images is None else "images must be a list",
            ),
        )
    if not images:
        return sku, [], ("images", "[]", "no images")
    return sku, images, NO_PROBLEM


def _add_item(collector: _ItemCollector, line: int, item: object, file: str) -> None:
    """collector.add, refusing an item nested too deeply to be turned back into text (json.dumps recurses)."""
    try:
        collector.add(line, item)
    except RecursionError as exc:
        raise BatchFileError(file, f"JSON nested too deeply in item {line}", line=line) from exc


UTF8_BOM = b"\xef\xbb\xbf"


def without_bom(data: bytes) -> bytes:
    """The bytes without a leading UTF-8 BOM."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


class _TooDeep(Exception):
    """Raised by _DepthGuard: the document nests deeper than MAX_JSON_DEPTH."""


class _DepthGuard(PassThroughStream):
    """Passes a JSON byte stream through, raising _TooDeep once it nests deeper than `limit`.

    ijson's builder takes time quadratic in the nesting depth (50,000 levels: seconds, 100 KiB more: minutes),
    so depth is checked on the bytes first, vectorised: brackets outside strings, a quote escaped by an odd
    run of backslashes not closing its string.
    """

    def __init__(self, inner: io.BufferedReader, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(inner)
        self._limit = limit
        self._depth = 0
        self._in_string = False
        self._backslashes = 0  # run of backslashes at the end of the previous read

    def seen(self, data: bytes) -> None:
        b = np.frombuffer(data, dtype=np.uint8)
        kinds = _BYTE_KIND[b]  # 0 other, 1 opening bracket, 2 closing bracket, 3 quote, 4 backslash
        quotes = np.flatnonzero(kinds == 3)
        if len(quotes):
            escaped = np.zeros(len(quotes), dtype=bool)
            for k in np.flatnonzero(_backslash_before(kinds, quotes, self._backslashes)):
                at, run = int(quotes[k]) - 1, 0  # rare: count the run of backslashes before this quote
                while at >= 0 and kinds[at] == 4:
                    run, at = run + 1, at - 1
                escaped[k] = (run + (self._backslashes if at < 0 else 0)) % 2 == 1
            quotes = quotes[~escaped]
        brackets = np.flatnonzero((kinds == 1) | (kinds == 2))
        inside = (np.searchsorted(quotes, brackets) + self._in_string) % 2 == 1
        steps = np.where(kinds[brackets] == 1, 1, -1)[~inside]
        if len(steps):
            depth = self._depth + np.cumsum(steps)
            if int(depth.max()) > self._limit:
                raise _TooDeep()
            self._depth = int(depth[-1])
        self._in_string = (len(quotes) + self._in_string) % 2 == 1
        tail = (
            len(b) - 1 - int(np.flatnonzero(kinds != 4)[-1])
            if (kinds != 4).any()
            else len(b) + self._backslashes
        )
        self._backslashes = tail


_BYTE_KIND = np.zeros(256, dtype=np.int8)
_BYTE_KIND[[0x5B, 0x7B]] = 1
_BYTE_KIND[[0x5D, 0x7D]] = 2
_BYTE_KIND[0x22] = 3
_BYTE_KIND[0x5C] = 4


def _backslash_before(kinds: np.ndarray, positions: np.ndarray, carried: int) -> np.ndarray:
    """Whether the byte before each position is a backslash (at position 0: one carried from before)."""
    before = np.zeros(len(positions), dtype=bool)
    inner = positions > 0
    before[inner] = kinds[positions[inner] - 1] == 4
    before[~inner] = carried > 0
    return before


def _bom_skipped(stream: io.BufferedReader) -> io.BufferedReader:
    """The stream without its leading UTF-8 BOM (ijson, unlike Python's utf-8-sig codec, refuses one)."""
    first = without_bom(stream.read(len(UTF8_BOM)))
    return open_binary(chain([first], iter(partial(stream.read, SOURCE_CHUNK_SIZE), b"")))


class _TailStream(PassThroughStream):
    """Passes a binary stream through, keeping its first and last bytes (to find `request_id` by items)."""

    def __init__(self, inner: io.BufferedReader, keep: int = 1 << 16) -> None:
        super().__init__(inner)
        self._keep = keep
        self.head = b""
        self.tail = b""

    def seen(self, data: bytes) -> None:
        if len(self.head) < self._keep:
            self.head += data[: self._keep - len(self.head)]
        self.tail = (self.tail + data)[-self._keep :]


_REQUEST_ID_AT_END = re.compile(rb'"request_id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)\s*}\s*}\s*$')


def _head_facts(head: bytes) -> tuple[str | None, bool]:
    """(request_id, whether `request.items` opens) from the first bytes of a bulk payload."""
    request_id, has_items = None, False
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(head)):
            if prefix == "request.request_id" and event in ("string", "number"):
                request_id = str(value)
            elif prefix == "request.items" and event == "start_array":
                has_items = True
            if request_id is not None and has_items:
                break
    except ijson.JSONError:
        pass  # the head is cut in the middle of the document
    return request_id, has_items


def read_json_bulk(stream: io.BufferedReader, file: str, file_idx: int) -> Iterator[RawChunk]:
    """The bulk payload `{"request": {"request_id", "items": [...]}}`; line = 1-based item number.

    Items are streamed one object at a time (ijson's C builder); `request_id` is read from the first 64 KiB,
    or from the end of the document when the PIM writes it after the items.
    """
    collector = _ItemCollector(file, file_idx)
    tee = _TailStream(io.BufferedReader(_DepthGuard(_bom_skipped(stream))))
    item_no = 0
    try:
        for item in ijson.items(io.BufferedReader(tee), ITEM_PREFIX):
            item_no += 1
            _add_item(collector, item_no, item, file)
            if collector.full:
                yield collector.flush(_head_facts(tee.head)[0])
    except ijson.JSONError as exc:
        raise BatchFileError(file, f"malformed JSON after item {item_no}: {exc}", line=item_no + 1) from exc
    except (RecursionError, _TooDeep) as exc:
        raise BatchFileError(
            file,
            f"JSON nested too deeply in item {item_no + 1} (more than {MAX_JSON_DEPTH} levels)",
            line=item_no + 1,
        ) from exc
    except UnicodeDecodeError as exc:
        raise BatchFileError(file, f"not valid UTF-8 after item {item_no} ({exc.reason})") from exc
    request_id, has_items = _head_facts(tee.head)
    if request_id is None:
        found = _REQUEST_ID_AT_END.search(tee.tail)
        request_id = str(json.loads(found.group(1))) if found else None
    if not item_no and not has_items:
        raise BatchFileError(file, 'JSON has no "request": {"items": [...]} array')
    yield collector.flush(request_id)


def read_json_lines(stream: io.BufferedReader, file: str, file_idx: int) -> Iterator[RawChunk]:
    """JSON Lines: one item object a line; blank lines are skipped; line = physical line number."""
    collector = _ItemCollector(file, file_idx)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="\n")
    line = 0
    try:
        for line, content in enumerate(text, start=1):
            if not content.strip():
                continue
            try:
                item = json.loads(content)
            except ValueError as exc:
                raise BatchFileError(file, f"malformed JSON on line {line}: {exc}", line=line) from exc
            except RecursionError as exc:
                raise BatchFileError(file, f"JSON nested too deeply on line {line}", line=line) from exc
            _add_item(collector, line, item, file)
            if collector.full:
                yield collector.flush()
    except UnicodeDecodeError as exc:
        raise BatchFileError(
            file, f"not valid UTF-8 near line {line + 1} ({exc.reason})", line=line + 1
        ) from exc
    yield collector.flush()
