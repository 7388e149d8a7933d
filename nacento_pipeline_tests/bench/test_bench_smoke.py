"""The benchmark at tiny sizes, so bench/gallery_bench.py never rots: its figures must make sense."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.gallery_bench import main

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _by(results: list[dict], scenario: str, engine: str = "ours") -> dict:
    return next(r for r in results if r["scenario"] == scenario and r["engine"] == engine)


def test_bench_smoke_figures(mysql_url, moto_endpoint, s3_bucket, capsys):
    out = main(
        [
            "--smoke",
            "--db-url",
            mysql_url,
            "--s3-endpoint",
            moto_endpoint,
            "--bucket",
            s3_bucket,
            "--million-images",
            "1500",
        ]
    )
    printed = capsys.readouterr().out
    assert "| first sync" in printed and "| target" in printed
    results = out["results"]
    images = 60 * 3

    first = _by(results, "first sync")
    assert first["images"] == images and first["counts"] == {"inserted": images}
    assert first["requests"]["HEAD"] == 0 and 0 < first["requests"]["LIST"] <= 16  # dense layout: 16 folders
    assert first["gallery_rows"] > 0 and first["writes"] > 0

    noop = _by(results, "no-op re-sync")
    assert noop["writes"] == 0 and noop["gallery_rows"] == 0 and noop["bookkeeping_rows"] == 0
    assert noop["counts"] == {}  # every SKU's digest unchanged: none planned, no delta row
    assert noop["figures"]["planned_skus"] == 0 and noop["figures"]["unchanged_skus"] == images / 3

    changed = _by(results, "10% changed content")
    n_changed = changed["counts"]["updated_value"]
    planned = changed["figures"]["planned_skus"]  # only the SKUs carrying a re-uploaded image
    assert (
        0 < n_changed < images / 5
        and changed["counts"].get("skipped_no_change", 0) == 3 * planned - n_changed
    )
    assert changed["figures"]["unchanged_skus"] == images / 3 - planned
    meta = _by(results, "10% metadata only")
    assert 0 < meta["counts"]["updated_meta"] < images / 5
    # one chunk at this size, and a constant number of statements per chunk whatever it changes: the statement
    # counts of the three runs are alike, not smaller (the 100k bench compares them)
    assert max(changed["writes"], meta["writes"]) <= 2 * first["writes"]
    assert (
        changed["gallery_rows"] < first["gallery_rows"] / 5
        and meta["gallery_rows"] < first["gallery_rows"] / 5
    )

    base = _by(results, "first sync", "baseline")
    assert base["images"] == 12 * 3 and base["counts"]["inserted"] == 36
    assert base["requests"]["HEAD"] == 36  # one HEAD per image, the connector's way
    assert base["statements"] > first["statements"]

    tick = _by(results, "sensor tick")
    assert tick["counts"]["objects_listed"] == 300 and tick["counts"]["registered"] == 1

    event = _by(results, "sensor tick, event mode")
    assert event["counts"]["registered"] == 1 and event["counts"]["events"] == 2
    assert (
        event["requests"]["LIST"] == 1 and event["counts"]["objects_listed"] == 2
    )  # not the 300 in the prefix
    assert _by(results, "sensor tick, event mode, idle")["requests"]["LIST"] == 0

    ceiling = _by(results, "first sync", "ceiling")
    ours = {
        table: n
        for table, n in first["rows"].items()
        if not table.endswith(("nacento_sku_gallery_digest", "nacento_batch_journal"))
    }
    assert (
        ceiling["rows"] == ours and ceiling["seconds"] > 0
    )  # exactly the rows ours wrote (digests, journal apart)
    fast, plain = _by(results, "LIST pages, fast parse (ours)"), _by(results, "LIST pages, botocore parse")
    assert fast["counts"] == plain["counts"] == {"objects_listed": images}

    million = _by(results, "1M-image batch")
    assert million["images"] == 1500 and million["counts"] == {"inserted": 1500}
    assert million["requests"]["HEAD"] == 0 and million["peak_rss_mb"] > 0

    names = {t["name"]: t["met"] for t in out["targets"]}
    assert names["no-op re-sync writes"] is True
    assert names["10% changed content: writes proportional to the change"] is True
    assert names["sensor tick, event mode"] in (True, False) and "write phase vs the ceiling" in names


@pytest.mark.parametrize(
    ("script", "args", "first_words"),
    [
        ("gallery_bench.py", ["--help"], "usage:"),
        ("dagster_job.py", ["--help"], "usage:"),
        ("cache_bench.py", ["--help"], "usage:"),
        ("feed_memory_bench.py", ["--help"], "usage:"),
        ("plan_profile.py", ["--help"], "usage:"),
        ("list_parse.py", [], "LIST page parse"),  # no options: it runs in well under a second
    ],
)
def test_every_bench_script_starts(script: str, args: list[str], first_words: str):
    """The scripts are not type-checked with the package: an import that moved breaks them at start-up."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(first_words)
