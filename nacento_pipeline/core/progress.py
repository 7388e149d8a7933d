"""Progress of a long write, as one run-log line per chunk: `x of y SKUs`, rate and ETA."""

from __future__ import annotations


def progress_line(done: int, total: int, elapsed: float, chunk: int, chunks: int) -> str:
    """`chunk 3/10: 1,500 of 5,000 SKUs (30%), 250 SKUs/s, ETA 14 s` (rate and ETA once something is done)."""
    share = f"{done / total:.0%}" if total else "100%"
    line = f"chunk {chunk}/{chunks}: {done:,} of {total:,} SKUs ({share})"
    if done and elapsed > 0:
        rate = done / elapsed
        line += f", {rate:,.0f} SKUs/s, ETA {_duration((total - done) / rate)}"
    return line


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
