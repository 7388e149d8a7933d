"""Bunch file sources: a name plus a callable that streams the content as byte chunks."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nacento_pipeline.core.errors import BatchFileError

SOURCE_CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class BunchSource:
    """One bunch file to parse. `chunks()` yields its content; it may be called again to re-read it."""

    name: str
    chunks: Callable[[], Iterator[bytes]]

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> BunchSource:
        """A source over bytes already in memory, yielded in SOURCE_CHUNK_SIZE pieces."""

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), SOURCE_CHUNK_SIZE):
                yield data[start : start + SOURCE_CHUNK_SIZE]

        return cls(name, chunks)


class ChunkStream(io.RawIOBase):
    """A read-only binary file over an iterator of byte chunks, so pandas/ijson can stream a bunch file."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        """Always true: the stream exists to be read."""
        return True

    def readinto(self, buffer: Any) -> int:  # a writable buffer (bytearray, memoryview)
        """Fill `buffer` from the pending chunk (the next one when it is used up); 0 at the end."""
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.bytes_read += n
        return n


class PassThroughStream(io.RawIOBase):
    """A read-only binary stream reading through `inner`; subclasses watch each piece read in `seen`."""

    def __init__(self, inner: io.BufferedReader) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        """Always true: the stream exists to be read."""
        return True

    def readinto(self, buffer: Any) -> int:  # a writable buffer (bytearray, memoryview)
        """Fill `buffer` from the inner stream, showing what was read to `seen`; 0 at the end."""
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            self.seen(data)
        return n

    def seen(self, data: bytes) -> None:
        """Called with every non-empty piece read."""


def peek_first_line(chunks: Iterator[bytes], limit: int = 1 << 20) -> tuple[bytes, Iterator[bytes]]:
    """(the first non-blank line, without its newline and cut at `limit` bytes; an iterator replaying all).

    Used to sniff a CSV header or tell JSON Lines from a bulk payload without reading the whole file.
    """
    head = b""
    consumed: list[bytes] = []
    for chunk in chunks:
        consumed.append(chunk)
        head += chunk
        if len(head) >= limit or any(line.strip() for line in head.split(b"\n")[:-1]):
            break
    line = next((line for line in head.split(b"\n") if line.strip()), b"")[:limit]

    def replay() -> Iterator[bytes]:
        yield from consumed
        yield from chunks

    return line.rstrip(b"\r"), replay()


def open_binary(chunks: Iterator[bytes]) -> io.BufferedReader:
    """A buffered binary file reading the chunks in turn (what pandas and ijson take)."""
    return io.BufferedReader(ChunkStream(chunks), buffer_size=SOURCE_CHUNK_SIZE)


def utf8_checked(chunks: Iterator[bytes], file: str) -> Iterator[bytes]:
    """Pass chunks through, raising BatchFileError with the exact line of the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    for chunk in chunks:
        pending = decoder.getstate()[0]
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            at = max(0, exc.start - len(pending))
            bad_line = line + chunk[:at].count(b"\n")
            raise BatchFileError(
                file, f"not valid UTF-8 on line {bad_line} ({exc.reason})", line=bad_line
            ) from exc
        line += chunk.count(b"\n")
        yield chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BatchFileError(
            file, f"not valid UTF-8 at the end of line {line} (truncated character)", line=line
        ) from exc
