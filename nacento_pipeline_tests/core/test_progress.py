"""Progress lines of long writes: x of y SKUs, rate, ETA."""

from nacento_pipeline.core.progress import progress_line


def test_progress_line_counts_rate_and_eta():
    assert (
        progress_line(1500, 5000, 6.0, 3, 10) == "chunk 3/10: 1,500 of 5,000 SKUs (30%), 250 SKUs/s, ETA 14 s"
    )
    assert progress_line(100, 100_000, 10.0, 1, 200).endswith("10 SKUs/s, ETA 2 h 46 min")
    assert progress_line(0, 10, 0.0, 0, 2) == "chunk 0/2: 0 of 10 SKUs (0%)"
