"""JSON bunch files: the connector's bulk payload (streamed with ijson) and JSON Lines (one item a line)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal

import ijson

from nacento_pipeline.core.batch_validate import RawChunk, items_frame, raw_frame
from nacento_pipeline.core.errors import BatchFileError

JSON_CHUNK_IMAGES = 50_000
ITEM_PREFIX = "request.items.item"
IMAGE_FIELDS = ("file_path", "label", "position", "disabled", "roles")


def looks_like_json_lines(first_line: bytes) -> bool:
    """A `.json` file is JSON Lines when its first non-blank line is a whole item object (`sku`/`images`)."""
    try:
        value = json.loads(first_line.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
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
    kind = "a list of strings" if field == "roles" else "a string" if field in ("file_path", "label") else \
        "a scalar"
    return json.dumps(value, default=str), f"{field} must be {kind}"


class _ItemCollector:
    """Turns item objects into raw-row and item column lists, flushed as RawChunks."""

    def __init__(self, file: str, file_idx: int) -> None:
        self.file = file
        self.file_idx = file_idx
        self._reset()

    def _reset(self) -> None:
        self.raw: dict[str, list] = {k: [] for k in ("item_no", "line", "sku") + IMAGE_FIELDS
                                     + ("pre_field", "pre_value", "pre_reason")}
        self.items: dict[str, list] = {k: [] for k in ("item_no", "line", "sku", "problem_field",
                                                         "problem_value", "problem_reason")}

    def add(self, item_no: int, item: object) -> None:
        problem = ("", "", "")
        sku = ""
        images: object = None
        if not isinstance(item, dict):
            problem = ("sku", json.dumps(item, default=str)[:200], "item is not an object")
        else:
            sku_text, sku_problem = _text(item.get("sku"), "sku")
            sku = sku_text.strip()
            images = item.get("images")
            if sku_problem or not sku:
                problem = ("sku", sku_text, "SKU is empty" if not sku_problem else "SKU must be a string")
                sku = "" if sku_problem else sku
            elif not isinstance(images, list):
                problem = ("images", json.dumps(images, default=str)[:200],
                           "images is missing" if images is None else "images must be a list")
            elif not images:
                problem = ("images", "[]", "no images")
        for key, value in zip(("item_no", "line", "sku", "problem_field", "problem_value", "problem_reason"),
                              (item_no, item_no, sku) + problem, strict=True):
            self.items[key].append(value)
        if problem[0]:
            return
        assert isinstance(images, list)
        for image in images:
            pre = ("", "", "")
            fields = {name: "" for name in IMAGE_FIELDS}
            if not isinstance(image, dict):
                pre = ("images", json.dumps(image, default=str), "image is not an object")
            else:
                for name in IMAGE_FIELDS:
                    text, reason = _text(image.get(name), name)
                    fields[name] = text
                    if reason and not pre[0]:
                        pre = (name, text, reason)
            for key, value in zip(("item_no", "line", "sku"), (item_no, item_no, sku), strict=True):
                self.raw[key].append(value)
            for name in IMAGE_FIELDS:
                self.raw[name].append(fields[name])
            for key, value in zip(("pre_field", "pre_value", "pre_reason"), pre, strict=True):
                self.raw[key].append(value)

    @property
    def full(self) -> bool:
        return len(self.raw["file_path"]) >= JSON_CHUNK_IMAGES

    def flush(self, request_id: str | None = None) -> RawChunk:
        n_items = len(self.items["sku"])
        chunk = RawChunk(
            raw_frame({**self.raw, "file_idx": self.file_idx, "file": self.file}),
            items_frame({**self.items, "file_idx": [self.file_idx] * n_items, "file": [self.file] * n_items}),
            request_id=request_id,
        )
        self._reset()
        return chunk


def read_json_bulk(stream: io.BufferedReader, file: str, file_idx: int) -> Iterator[RawChunk]:
    """The bulk payload `{"request": {"request_id", "items": [...]}}`; line = 1-based item number."""
    collector = _ItemCollector(file, file_idx)
    request_id: str | None = None
    found_items = False
    item_no = 0
    builder: ijson.ObjectBuilder | None = None
    try:
        for prefix, event, value in ijson.parse(stream):
            if builder is not None:
                builder.event(event, value)
                if prefix == ITEM_PREFIX and event in ("end_map", "end_array"):
                    collector.add(item_no, builder.value)
                    builder = None
                    if collector.full:
                        yield collector.flush(request_id)
                continue
            if prefix == ITEM_PREFIX:
                item_no += 1
                if event in ("start_map", "start_array"):
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                else:
                    collector.add(item_no, value)
            elif prefix == "request.items" and event == "start_array":
                found_items = True
            elif prefix == "request.request_id" and event in ("string", "number"):
                request_id = str(value)
    except ijson.JSONError as exc:
        raise BatchFileError(file, f"malformed JSON after item {item_no}: {exc}", line=0) from exc
    except UnicodeDecodeError as exc:
        raise BatchFileError(file, f"not valid UTF-8 after item {item_no} ({exc.reason})") from exc
    if not found_items:
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
            collector.add(line, item)
            if collector.full:
                yield collector.flush()
    except UnicodeDecodeError as exc:
        raise BatchFileError(file, f"not valid UTF-8 near line {line + 1} ({exc.reason})", line=line + 1) from exc
    yield collector.flush()
