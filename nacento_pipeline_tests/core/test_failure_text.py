"""Failure text shown outside a run: no SQL statement or bound values, about 2 KB at most."""

from __future__ import annotations

import pymysql
import sqlalchemy as sa

from nacento_pipeline.core.failure_text import FAILURE_TEXT_LIMIT, failure_text, without_sql


def _insert_error(label: str) -> sa.exc.DBAPIError:
    driver = pymysql.err.IntegrityError(1062, "Duplicate entry '42-0' for key 'PRIMARY'")
    return sa.exc.IntegrityError(
        "INSERT INTO catalog_product_entity_media_gallery_value (value_id, label) VALUES (%s, %s)",
        (42, label),
        driver,
    )


def test_sql_statement_and_parameters_are_left_out():
    error = _insert_error("secret-label-from-the-payload")
    assert "secret-label-from-the-payload" in str(error) and "[SQL: " in str(error)
    text = failure_text(error)
    assert "secret-label" not in text and "INSERT INTO" not in text and "[parameters:" not in text
    assert text.startswith("IntegrityError: (pymysql.err.IntegrityError) (1062, \"Duplicate entry '42-0'")
    assert "statement and parameters not shown" in text
    assert text.count("Duplicate entry") == 1  # the driver error's own text is not repeated


def test_a_cause_keeps_its_driver_message_without_sql():
    outer = RuntimeError("chunk [S1] failed")
    outer.__cause__ = _insert_error("p" * 50)
    text = failure_text(outer)
    assert text.startswith(
        "RuntimeError: chunk [S1] failed <- IntegrityError: (pymysql.err.IntegrityError) (1062,"
    )
    assert "ppppp" not in text


def test_long_text_is_cut_to_about_two_kilobytes():
    text = failure_text(ValueError("x" * 100_000))
    assert len(text) == FAILURE_TEXT_LIMIT and text.endswith("[cut]")
    assert failure_text("short") == "short"


def test_text_without_sql_is_kept_and_text_with_sql_but_no_background_is_cut_at_the_sql():
    assert without_sql("plain (1205, 'x')") == "plain (1205, 'x')"
    assert without_sql("E (1)\n[SQL: SELECT 'v']\n[parameters: ('v',)]").startswith("E (1) (statement")
