"""One test per delta rule of connector-behaviour.md, on plain frames (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from nacento_pipeline.core.delta.columns import normalize_etag
from nacento_pipeline.core.delta.compute import compute_delta
from nacento_pipeline.core.delta.model import DeltaInputError
from nacento_pipeline.core.frames import DELTA_COLUMNS, ROLE_COLUMNS, SKU_RESULT_COLUMNS
from nacento_pipeline.core.retry import is_retriable
from nacento_pipeline_tests.helpers import (
    etag_frame,
    gallery_frame,
    image_frame,
    product_frame,
    rejection_frame,
    role_frame,
)

A = "/a/b/a.jpg"
B = "/a/b/b.jpg"
C = "/a/b/c.jpg"
ALL_ROLES_NONE = [(10, r, "no_selection") for r in ("image", "small_image", "thumbnail", "swatch_image")]


def delta(images, *, gallery=(), roles=ALL_ROLES_NONE, present=None, missing=(), products=None, **kw):
    present = present if present is not None else {v: "e-" + v for v in images["value"]}
    present = {k: v for k, v in present.items() if k not in set(missing)}
    return compute_delta(
        images,
        product_frame(products or {"S1": 10}),
        gallery_frame(gallery),
        role_frame(roles),
        etag_frame(present, missing),
        invalid_skus=kw.pop("invalid_skus", set()),
        payload_values=kw.pop("payload_values", images[["sku", "value"]]),
        **kw,
    )


def action_of(d, value, sku="S1"):
    rows = d.items[(d.items["sku"] == sku) & (d.items["value"] == value)]
    return list(rows["action"])


def test_frames_respect_contracts():
    d = delta(image_frame([("S1", A)]))
    assert tuple(d.items.columns) == DELTA_COLUMNS
    assert tuple(d.roles.columns) == ROLE_COLUMNS
    assert tuple(d.sku_results.columns) == SKU_RESULT_COLUMNS


def test_unknown_sku_is_an_error_naming_the_sku_and_others_proceed():
    d = delta(image_frame([("NOPE", A), ("S1", B)]))
    row = d.items[d.items["sku"] == "NOPE"].iloc[0]
    assert row["action"] == "error" and "NOPE" in row["reason"] and row["entity_id"] == 0
    assert action_of(d, B) == ["inserted"]
    status = d.sku_results.set_index("sku")["status"]
    assert status["NOPE"] == "error" and status["S1"] == "ok"


def test_new_image_is_inserted():
    d = delta(image_frame([("S1", A, "front", 2)]))
    row = d.items.iloc[0]
    assert (row["action"], row["label"], row["position"], row["value_id"]) == ("inserted", "front", 2, 0)
    assert d.counts()["inserted"] == 1
    assert d.changed_entity_ids == [10]


def test_missing_file_is_invalid_and_never_purged():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", A), ("S1", B)]), gallery=gallery, missing=[A])
    assert action_of(d, A) == ["invalid"]
    assert "missing" in d.items.loc[d.items["value"] == A, "reason"].iloc[0]
    assert action_of(d, B) == ["inserted"]
    assert "purged" not in set(d.items["action"])


def test_changed_etag_is_updated_value_and_missing_stored_etag_too():
    gallery = [(10, 1, A, 100, "", 0, 0, "old"), (10, 2, B, 101, "", 1, 0, "")]
    d = delta(image_frame([("S1", A), ("S1", B, "", 1)]), gallery=gallery)
    assert action_of(d, A) == ["updated_value"] and action_of(d, B) == ["updated_value"]
    row = d.items[d.items["value"] == A].iloc[0]
    assert row["etag_changed"] and not row["meta_changed"] and row["stored_etag"] == "old"
    assert (row["value_id"], row["record_id"]) == (1, 100)


def test_label_position_disabled_change_is_updated_meta():
    gallery = [
        (10, 1, A, 100, "old", 0, 0, "e-" + A),
        (10, 2, B, 101, "", 0, 0, "e-" + B),
        (10, 3, C, 102, "", 0, 0, "e-" + C),
    ]
    d = delta(image_frame([("S1", A, "new"), ("S1", B, "", 5), ("S1", C, "", 0, True)]), gallery=gallery)
    assert [action_of(d, v) for v in (A, B, C)] == [["updated_meta"]] * 3
    assert d.items["meta_changed"].all() and not d.items["etag_changed"].any()


def test_same_state_is_skipped_no_change_and_writes_no_role():
    gallery = [(10, 1, A, 100, "x", 3, 1, "e-" + A)]
    d = delta(image_frame([("S1", A, "x", 3, True)]), gallery=gallery)
    assert action_of(d, A) == ["skipped_no_change"]
    assert d.roles.empty and d.changed_entity_ids == []


def test_legacy_no_slash_row_is_recognised_not_inserted():
    gallery = [(10, 7, "a/b/a.jpg", 100, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", A, "", 0, False, "image")]), gallery=gallery)
    assert action_of(d, A) == ["updated_meta"]  # only its role changes
    assert d.roles.set_index("role").loc["image", "new_value"] == "a/b/a.jpg"  # role names the stored row


def test_both_path_variants_keep_canonical_and_dedupe_legacy():
    gallery = [(10, 7, "a/b/a.jpg", 100, "", 0, 0, ""), (10, 8, A, 101, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", A)]), gallery=gallery, mode="upsert")
    rows = d.items.set_index("action")
    assert rows.loc["skipped_no_change", "value_id"] == 8
    assert rows.loc["deduped", "value_id"] == 7 and rows.loc["deduped", "record_id"] == 100
    assert d.sku_results["deduped_path_variants"].tolist() == [1]


def test_replace_mode_purges_paths_not_in_payload():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A), (10, 2, B, 101, "", 0, 0, "e-" + B)]
    d = delta(image_frame([("S1", A)]), gallery=gallery)
    assert action_of(d, B) == ["purged"]
    assert d.items.set_index("value").loc[B, "value_id"] == 2
    assert d.sku_results["purged"].tolist() == [1]


def test_rejected_payload_paths_are_never_purged():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A), (10, 2, B, 101, "", 0, 0, "e-" + B)]
    images = image_frame([("S1", A)])
    payload = pd.DataFrame({"sku": ["S1", "S1"], "value": [A, B]})
    d = delta(images, gallery=gallery, payload_values=payload, invalid_skus={"S1"})
    assert "purged" not in set(d.items["action"])


def test_sku_without_valid_image_never_purges():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", B)]), gallery=gallery, missing=[B])
    assert set(d.items["action"]) == {"invalid"}


def test_upsert_mode_never_purges():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", B)]), gallery=gallery, mode="upsert")
    assert set(d.items["action"]) == {"inserted"}


def test_roles_no_selection_then_last_image_wins_as_a_diff():
    roles = [(10, "image", "/old.jpg"), (10, "small_image", "no_selection"), (10, "thumbnail", A)]
    images = image_frame([("S1", A, "", 0, False, "image|thumbnail"), ("S1", B, "", 1, False, "image")])
    d = delta(images, roles=roles)
    plan = d.roles.set_index("role")
    assert plan.loc["image", "new_value"] == B and plan.loc["image", "old_value"] == "/old.jpg"
    assert plan.loc["swatch_image", "new_value"] == "no_selection"  # no row yet -> written
    assert set(plan.index) == {"image", "swatch_image"}  # thumbnail already A, small_image unchanged
    assert d.sku_results["roles_assigned"].tolist() == [2]


def test_role_change_alone_makes_an_existing_image_updated_meta():
    gallery = [(10, 1, A, 100, "", 0, 0, "e-" + A)]
    d = delta(image_frame([("S1", A, "", 0, False, "thumbnail")]), gallery=gallery)
    assert action_of(d, A) == ["updated_meta"]
    assert d.changed_entity_ids == [10]


def test_role_sync_skipped_for_invalid_skus_and_missing_files():
    images = image_frame([("S1", A, "", 0, False, "image"), ("S2", B, "", 0, False, "image"), ("S2", C)])
    d = delta(images, products={"S1": 10, "S2": 20}, missing=[C], invalid_skus={"S1"}, roles=[])
    assert d.roles.empty
    assert set(d.items["action"]) == {"inserted", "invalid"}
    assert d.sku_results["message"].str.contains("role sync skipped").all()


def test_negative_positions_are_shifted_per_sku_keeping_order():
    d = delta(
        image_frame([("S1", A, "", -5), ("S1", B, "", 3), ("S2", C, "", 2)]), products={"S1": 10, "S2": 20}
    )
    pos = d.items.set_index("value")["position"]
    assert (pos[A], pos[B], pos[C]) == (0, 8, 2)
    assert d.warnings["sku"].tolist() == ["S1"] and d.warnings["field"].tolist() == ["position"]


def test_stale_batch_writes_nothing_unless_forced():
    state = pd.DataFrame(
        {
            "sku": ["S1"],
            "entity_id": [10],
            "last_batch_key": ["media_2"],
            "last_batch_time": [datetime(2026, 1, 2)],
            "last_status": ["ok"],
            "last_run_id": ["r"],
        }
    )
    older = datetime(2026, 1, 1, tzinfo=UTC)
    d = delta(image_frame([("S1", A)]), sync_state=state, batch_time=older)
    assert set(d.items["action"]) == {"stale"} and d.roles.empty
    assert d.sku_results["status"].tolist() == ["stale"] and "media_2" in d.sku_results["message"][0]
    forced = delta(image_frame([("S1", A)]), sync_state=state, batch_time=older, force=True)
    assert action_of(forced, A) == ["inserted"]
    newer = delta(image_frame([("S1", A)]), sync_state=state, batch_time=datetime(2026, 1, 3))
    assert action_of(newer, A) == ["inserted"]


@pytest.mark.parametrize(
    ("last_time", "last_key", "batch_time", "batch_key", "stale"),
    [
        (datetime(2026, 1, 2), "media_a", datetime(2026, 1, 1), "media_z", True),  # older time: stale
        (datetime(2026, 1, 1), "media_z", datetime(2026, 1, 2), "media_a", False),  # newer time
        (datetime(2026, 1, 1), "media_b", datetime(2026, 1, 1), "media_a", True),  # tie: smaller key is stale
        (datetime(2026, 1, 1), "media_a", datetime(2026, 1, 1), "media_b", False),  # tie: greater key applies
        (datetime(2026, 1, 1), "media_a", datetime(2026, 1, 1), "media_a", False),  # same batch: a re-run
        (datetime(2026, 1, 1), "media_b", datetime(2026, 1, 1), None, False),  # tie without a key
        (None, "media_b", datetime(2026, 1, 1), "media_a", False),  # nothing applied yet
    ],
)
def test_stale_rule_orders_by_time_then_batch_key(last_time, last_key, batch_time, batch_key, stale):
    state = pd.DataFrame(
        {
            "sku": ["S1"],
            "entity_id": [10],
            "last_batch_key": [last_key],
            "last_batch_time": [last_time],
            "last_status": ["ok"],
            "last_run_id": ["r"],
        }
    )
    d = delta(image_frame([("S1", A)]), sync_state=state, batch_time=batch_time, batch_key=batch_key)
    assert (d.sku_results["status"].tolist() == ["stale"]) is stale


def test_etags_compare_without_quotes_and_multipart_stays_opaque():
    gallery = [(10, 1, A, 5, "", 0, 0, '"abc"'), (10, 2, B, 6, "", 0, 0, "def-2")]
    d = delta(image_frame([("S1", A), ("S1", B)]), gallery=gallery, present={A: 'W/"abc"', B: '"def-3"'})
    assert action_of(d, A) == ["skipped_no_change"] and action_of(d, B) == ["updated_value"]
    assert d.items.set_index("value").loc[B, "etag"] == "def-3"
    assert normalize_etag(pd.Series([' "x-1" ', None, 'W/"y"'])).tolist() == ["x-1", "", "y"]


def test_unknown_etag_with_none_stored_is_not_a_change():
    d = delta(image_frame([("S1", A)]), gallery=[(10, 1, A, 5, "", 0, 0, "")], present={A: ""})
    assert action_of(d, A) == ["skipped_no_change"]


def test_sku_with_every_image_rejected_is_an_error_result():
    d = delta(image_frame([("S1", A)]), rejections=rejection_frame([("S9", "label", "label too long")]))
    result = d.sku_results.set_index("sku")
    assert result.loc["S9", "status"] == "error" and "label too long" in result.loc["S9", "message"]
    assert result.loc["S9", "rejected"] == 1
    assert d.totals()["skus_seen"] == 2 and d.totals()["error"] == 1


def test_duplicate_image_in_one_sku_last_wins():
    d = delta(image_frame([("S1", A, "first"), ("S1", A, "second")]))
    assert d.items["label"].tolist() == ["second"]
    assert len(d.warnings) == 1


def test_missing_column_is_a_specific_error():
    with pytest.raises(DeltaInputError) as info:
        compute_delta(
            image_frame([("S1", A)]).drop(columns=["seq"]),
            product_frame({}),
            gallery_frame([]),
            role_frame(),
            etag_frame({}),
            payload_values=None,
        )
    assert info.value.field == "seq"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (1213, "Deadlock found when trying to get lock", True),
        (1205, "Lock wait timeout exceeded", True),
        (2006, "MySQL server has gone away", True),
        (1062, "Duplicate entry 'timeout' for key 'PRIMARY'", False),
        (1406, "Data too long for column 'value' (deadlock)", False),
        (2003, "Can't connect to MySQL server", True),
        (2013, "Lost connection to MySQL server during query", True),
        (1054, "Unknown column 'lock wait timeout'", False),
    ],
)
def test_retriable_classification_follows_the_error_chain(code, message, expected):
    """By the driver's error code anywhere in the chain; the words of the message play no part."""
    import pymysql

    try:
        try:
            raise pymysql.err.OperationalError(code, message)
        except pymysql.err.OperationalError as inner:
            raise ValueError("chunk failed") from inner
    except ValueError as exc:
        assert is_retriable(exc) is expected


def test_split_request_gives_each_chunk_only_its_rows_and_etags():
    from nacento_pipeline.core.delta.model import split_request

    images = image_frame(
        [(f"S{i}", f"/v/{i}.jpg") for i in range(5)] + [("S0", "/v/shared.jpg"), ("S4", "/v/shared.jpg")]
    )
    d = delta(
        images,
        products={f"S{i}": 10 + i for i in range(5)},
        rejections=rejection_frame([("S9", "label", "too long")]),
        invalid_skus={"S3"},
    )
    parts = split_request(d.request, 2)
    assert [p.skus for p in parts] == [["S0", "S1"], ["S2", "S3"], ["S4", "S9"]]
    assert sorted(parts[0].etags["value"]) == ["/v/0.jpg", "/v/1.jpg", "/v/shared.jpg"]
    assert sorted(parts[2].etags["value"]) == ["/v/4.jpg", "/v/shared.jpg"]
    assert parts[1].invalid_skus == frozenset({"S3"}) and parts[0].invalid_skus == frozenset()
    assert sum(len(p.images) for p in parts) == len(images)


def test_split_delta_gives_each_chunk_the_rows_of_its_skus_and_joins_back():
    from dataclasses import replace

    from nacento_pipeline.core.delta.model import concat_deltas, split_delta

    images = image_frame(
        [(f"S{i}", f"/v/{i}.jpg", "", 0, False, "image") for i in range(5)] + [("NOPE", "/v/x.jpg")]
    )
    d = delta(
        images,
        products={f"S{i}": 10 + i for i in range(5)},
        rejections=rejection_frame([("S9", "label", "too long")]),
    )
    skus = d.request.skus
    parts = split_delta(d, skus, 2)
    assert parts is not None and [sorted(set(p.sku_results["sku"])) for p in parts] == [
        ["S0", "S1"],
        ["S2", "S3"],
        ["NOPE", "S4"],
        ["S9"],
    ]
    assert [p.unknown_skus for p in parts] == [(), (), ("NOPE",), ()] and all(
        p.request is None for p in parts
    )
    assert [sorted(set(p.roles["sku"])) for p in parts] == [["S0", "S1"], ["S2", "S3"], ["S4"], []]
    joined = concat_deltas(parts)
    chunk_of = {sku: n // 2 for n, sku in enumerate(skus)}
    for name in (
        "items",
        "roles",
        "sku_results",
    ):  # the same rows, chunk after chunk, in their order within each
        whole = getattr(d, name)
        expected = whole.iloc[whole["sku"].map(chunk_of).argsort(kind="stable")].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(joined, name), expected)
    # a row naming no SKU of the list belongs to no chunk: no cut
    assert split_delta(d, [s for s in skus if s != "S4"], 2) is None
    assert split_delta(replace(d, unknown_skus=("ELSEWHERE",)), skus, 2) is None
