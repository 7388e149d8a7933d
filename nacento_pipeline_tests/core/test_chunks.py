"""The one chunking helper."""

import pytest

from nacento_pipeline.core.chunks import chunked


def test_chunks_keep_order_and_cover_everything_once():
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked(iter("abcd"), 2)) == [["a", "b"], ["c", "d"]]
    assert list(chunked([], 5)) == []
    assert list(chunked((1, 2), 10)) == [[1, 2]]


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="chunk size"):
        list(chunked([1], 0))
