"""Unit tests for the pure reindex decision: every purpose, their order, thresholds and reporting."""

from __future__ import annotations

import pytest

from nacento_pipeline.config import Settings
from nacento_pipeline.core.reindex.decision import (
    DEFAULT_PURPOSES,
    REINDEX_DECISION_COLUMNS,
    IndexerState,
    NoChange,
    OnSave,
    ReindexRequired,
    Threshold,
    UnknownPurposeError,
    absolute_threshold,
    build_purposes,
    decide_reindex,
    decision_rows,
    decisions_markdown,
)


def state(indexer: str = "catalog_product_flat", **kwargs) -> IndexerState:
    return IndexerState(indexer_id=indexer, view_id=indexer, **kwargs)


def decide_one(changed, st: IndexerState, catalog_size: int = 1000, threshold: float = 100, **kwargs):
    [decision] = decide_reindex(changed, [st], catalog_size, thresholds=threshold, **kwargs)
    return decision


def test_partial_within_threshold_carries_sorted_changed_ids():
    d = decide_one([5, 3, 9, 3], state())
    assert (d.decision, d.purpose) == ("partial", "threshold")
    assert d.entity_ids == (3, 5, 9)
    assert (d.changed, d.backlog, d.delta, d.threshold) == (3, 0, 3, 100.0)
    assert d.reason == "delta 3 <= threshold 100"
    assert not d.held and d.notes == ()


def test_empty_delta_is_none_even_for_on_save_or_invalid():
    for st in (
        state(),
        state(mview_mode="disabled"),
        state(status="invalid"),
        state(backlog_ids=frozenset({1, 2})),
    ):
        d = decide_one([], st)
        assert (d.decision, d.purpose) == ("none", "no-change")
        assert d.entity_ids == ()
    assert decide_reindex([], [], 10, 0.5) == []


def test_not_installed_is_none_and_reported_first():
    d = decide_one([1], state(installed=False, status="", mview_mode="disabled"))
    assert (d.decision, d.purpose) == ("none", "not-installed")
    assert "not in indexer_state" in d.reason


def test_on_save_is_full():
    d = decide_one([1], state(mview_mode="disabled"))
    assert (d.decision, d.purpose, d.entity_ids) == ("full", "on-save", (1,))


def test_missing_mview_row_counts_as_on_save():
    d = decide_one([1], state(mview_mode="", mview_status="", changelog_exists=False))
    assert (d.decision, d.purpose) == ("full", "on-save")
    assert "no mview_state row" in d.reason


def test_reindex_required_is_full():
    d = decide_one([1], state(status="invalid"))
    assert (d.decision, d.purpose) == ("full", "reindex-required")


def test_on_save_wins_over_reindex_required_and_threshold():
    d = decide_one(range(1, 500), state(mview_mode="disabled", status="invalid"), threshold=10)
    assert d.purpose == "on-save"


def test_reindex_required_wins_over_threshold():
    d = decide_one(range(1, 500), state(status="invalid"), threshold=10)
    assert d.purpose == "reindex-required"


def test_threshold_equal_is_not_full():
    d = decide_one(range(10), state(), threshold=10)
    assert (d.decision, d.delta, d.threshold) == ("partial", 10, 10.0)


def test_threshold_exceeded_is_full():
    d = decide_one(range(11), state(), threshold=10)
    assert (d.decision, d.purpose, d.entity_ids) == ("full", "threshold", tuple(range(11)))
    assert d.reason == "delta 11 > threshold 10"


def test_backlog_counts_into_delta_without_double_counting():
    # 3 changed, 9 in backlog of which 2 overlap: delta 10 == threshold -> partial; one more -> full
    st = state(backlog_ids=frozenset({1, 2, *range(100, 107)}))
    d = decide_one([1, 2, 3], st, threshold=10)
    assert (d.decision, d.changed, d.backlog, d.delta) == ("partial", 3, 9, 10)
    assert d.entity_ids == (1, 2, 3)  # the backlog stays with Magento's cron
    d = decide_one([1, 2, 3, 4], st, threshold=10)
    assert (d.decision, d.delta) == ("full", 11)


def test_fraction_of_catalog():
    # 0.2 of 50 products = 10
    assert decide_one(range(10), state(), catalog_size=50, threshold=0.2).decision == "partial"
    d = decide_one(range(11), state(), catalog_size=50, threshold=0.2)
    assert (d.decision, d.threshold, d.threshold_setting) == ("full", 10.0, 0.2)
    # float noise must not turn "equal" into "greater": 0.29 * 100 == 29
    assert absolute_threshold(0.29, 100) == 29
    assert decide_one(range(29), state(), catalog_size=100, threshold=0.29).decision == "partial"


def test_threshold_one_is_absolute_and_zero_fraction_means_always_full():
    assert absolute_threshold(1, 1_000_000) == 1
    assert decide_one([1], state(), threshold=1).decision == "partial"
    assert decide_one([1, 2], state(), threshold=1).decision == "full"
    assert decide_one([1], state(), threshold=0).decision == "full"
    assert decide_one([1], state(), catalog_size=0, threshold=0.5).decision == "full"


def test_thresholds_from_settings_per_indexer():
    settings = Settings(default_threshold=0.5, thresholds={"catalogsearch_fulltext": 2})
    states = [state("catalog_product_attribute"), state("catalogsearch_fulltext")]
    attr, search = decide_reindex([1, 2, 3], states, 100, settings.threshold_for)
    assert (attr.decision, attr.threshold) == ("partial", 50.0)
    assert (search.decision, search.threshold) == ("full", 2.0)


def test_thresholds_mapping_with_default():
    attr, search = decide_reindex(
        [1, 2, 3],
        [state("catalog_product_attribute"), state("catalogsearch_fulltext")],
        10,
        {"catalogsearch_fulltext": 5},
        default_threshold=2,
    )
    assert (attr.decision, search.decision) == ("full", "partial")


def test_held_states_still_decide_and_say_so():
    working = decide_one([1], state(status="working"))
    assert (working.decision, working.held) == ("partial", True)
    assert "status working" in working.notes[0]
    suspended = decide_one(range(500), state(mview_status="suspended"), threshold=10)
    assert (suspended.decision, suspended.held) == ("full", True)
    assert "suspended" in suspended.notes[0]
    busy_cron = decide_one([1], state(mview_status="working"))
    assert not busy_cron.held and "applying the changelog" in busy_cron.notes[0]
    assert not decide_one([], state(status="working")).held


def test_each_purpose_alone():
    from nacento_pipeline.core.reindex.decision import PurposeInput

    def facts(st, changed=frozenset({1}), threshold=5.0):
        return PurposeInput(st, changed, changed | st.backlog_ids, threshold, threshold, 100)

    assert NoChange()(facts(state())) is None
    assert NoChange()(facts(state(), frozenset())).decision == "none"
    assert OnSave()(facts(state())) is None
    assert OnSave()(facts(state(mview_mode="disabled"))).decision == "full"
    assert ReindexRequired()(facts(state())) is None
    assert ReindexRequired()(facts(state(status="invalid"))).decision == "full"
    assert Threshold()(facts(state())).decision == "partial"
    assert Threshold()(facts(state(backlog_ids=frozenset(range(2, 7))))).decision == "full"


def test_custom_chain_by_name_and_by_code():
    # without on-save the threshold decides for an Update-on-Save indexer
    chain = build_purposes(["no-change", "threshold"])
    assert decide_one([1], state(mview_mode="disabled"), purposes=chain).purpose == "threshold"
    with pytest.raises(UnknownPurposeError, match="nope"):
        build_purposes(["nope"])

    class Frozen:
        name = "frozen"

        def __call__(self, facts):
            from nacento_pipeline.core.reindex.decision import Verdict

            return (
                Verdict("none", "frozen by operator")
                if facts.state.indexer_id == "catalog_product_flat"
                else None
            )

    chain = (Frozen(), *DEFAULT_PURPOSES)
    flat, attr = decide_reindex(
        [1], [state("catalog_product_flat"), state("catalog_product_attribute")], 100, 10, purposes=chain
    )
    assert (flat.decision, flat.purpose, attr.purpose) == ("none", "frozen", "threshold")
    # an exhausted chain falls back to partial
    d = decide_one([1], state(), purposes=build_purposes(["no-change"]))
    assert (d.decision, d.purpose) == ("partial", "fallback")


def test_decision_rows_and_markdown():
    decisions = decide_reindex(
        range(30),
        [
            state(),
            state("catalogsearch_fulltext", status="invalid"),
            state("catalog_product_flat", installed=False),
        ],
        1000,
        0.1,
    )
    rows = decision_rows(decisions)
    assert all(tuple(row) == REINDEX_DECISION_COLUMNS for row in rows)
    assert [row["decision"] for row in rows] == ["partial", "full", "none"]
    assert str(rows[0]["entity_ids"]).endswith("(+10)")
    assert rows[0]["threshold"] == 100.0
    md = decisions_markdown(decisions)
    assert md.count("\n") == 4 and "| catalogsearch_fulltext | full | reindex-required |" in md
    assert decision_rows([]) == []


def test_held_update_on_save_indexer_says_the_changelog_will_not_carry_the_ids():
    state = IndexerState(
        "catalog_product_flat", "catalog_product_flat", status="working", mview_mode="disabled"
    )
    [decision] = decide_reindex([1, 2], [state], 100, thresholds=10)
    assert (decision.decision, decision.purpose, decision.held) == ("full", "on-save", True)
    assert any("Update on Save" in note and "reindex again" in note for note in decision.notes)
    scheduled = IndexerState("catalog_product_flat", "catalog_product_flat", status="working")
    [decision] = decide_reindex([1, 2], [scheduled], 100, thresholds=10)
    assert not any("Update on Save" in note for note in decision.notes)
