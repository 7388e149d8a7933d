"""Metadata tables: the one markdown renderer (core/markdown.py) behind md_table and counts_table."""

import pandas as pd

from nacento_pipeline.core.markdown import counts_markdown, markdown_table
from nacento_pipeline.defs.assets.metadata import counts_table, md_table


def test_md_table_shows_the_first_rows_escaped_and_counts_the_rest():
    frame = pd.DataFrame({"sku": [f"S{i}" for i in range(25)], "reason": ["a|b\nc"] * 25, "x": range(25)})
    text = md_table(frame, ["sku", "reason"]).value
    lines = text.splitlines()
    assert lines[0] == "| sku | reason |" and lines[1] == "|---|---|"
    assert lines[2] == "| S0 | a\\|b c |"
    assert len([line for line in lines if line.startswith("| S")]) == 20
    assert lines[-1] == "_5 more row(s) not shown_"
    assert md_table(frame.iloc[0:0]).value == "_none_"
    assert markdown_table(frame, ["sku"], limit=None).count("| S") == 25


def test_counts_table_right_aligns_counts_in_the_given_order():
    assert counts_table({"LIST": 3, "HEAD": 0}, "request").value == (
        "| request | count |\n|---|---:|\n| LIST | 3 |\n| HEAD | 0 |"
    )
    assert counts_markdown({}, "request") == "| request | count |\n|---|---:|"
