"""core.membership.is_in: the same mask as pandas' isin, for Arrow and object text alike."""

from __future__ import annotations

import pandas as pd
import pytest

from nacento_pipeline.core.membership import is_in


@pytest.mark.parametrize("dtype", ["str", object])
def test_is_in_gives_pandas_isin_mask(dtype):
    values = pd.Series(["a", "b", None, "ü/ß", "a", ""], dtype=dtype)
    for keys in (["a", "ü/ß"], ["", None], [], pd.Series(["b", "zz"], dtype=dtype)):
        assert is_in(values, keys).tolist() == values.isin(list(keys)).tolist()
    assert is_in(values.iloc[:0], ["a"]).tolist() == []
