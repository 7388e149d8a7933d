"""Magento's cache tags, Varnish pattern chunking and Cm's id sanitizing, as pure functions."""

from nacento_pipeline.core.cache_tags import (
    cache_id,
    chunk_patterns,
    image_entry_suffixes,
    matches_image,
    product_tags,
    redis_tag_key,
    varnish_patterns,
)


def test_product_tags_include_parents_once_sorted_by_id():
    assert product_tags([12, 3, 3, 0], {3: {10, 12}, 12: {20}}) == [
        "cat_p_3",
        "cat_p_10",
        "cat_p_12",
        "cat_p_20",
    ]
    assert product_tags([]) == []


def test_varnish_pattern_is_magentos():
    assert varnish_patterns(["CAT_P_12"]) == ["((^|,)cat_p_12(,|$))"]


def test_chunks_follow_purgecache_arithmetic():
    patterns = varnish_patterns([f"cat_p_{i}" for i in range(1, 2001)])
    chunks = list(chunk_patterns(patterns))
    assert "|".join(chunks) == "|".join(patterns)  # nothing lost, order kept
    for chunk in chunks:
        # bytes of the patterns + one separator per pattern after the first stays within 7680
        assert len(chunk) <= 7680
    # a chunk is closed only when the next pattern would not fit: bytes + next + count(chunk) > 7680
    first = chunks[0].split("|")
    size = sum(len(p) for p in first)
    nxt = patterns[len(first)]
    assert size + len(nxt) + len(first) > 7680
    # a small limit: exactly two 20-character patterns per header
    assert list(chunk_patterns(varnish_patterns(["cat_p_1", "cat_p_2", "cat_p_3"]), 42)) == [
        "((^|,)cat_p_1(,|$))|((^|,)cat_p_2(,|$))",
        "((^|,)cat_p_3(,|$))",
    ]


def test_cache_id_sanitizes_like_magento():
    assert cache_id("cat_p_12", "69d_") == "69d_CAT_P_12"
    assert cache_id("IMG_INFO/var/www/a-b/x.jpg", "p_") == "p_IMG_INFO_VAR_WWW_A_B_X__JPG"
    assert redis_tag_key("cat_p_12", "69d_") == "zc:ti:69d_CAT_P_12"


def test_image_suffixes_match_whole_file_names_only():
    suffixes = image_entry_suffixes(["n/a/x.jpg", "/n/a/x.jpg", ""])
    assert suffixes == ["_N_A_X__JPG"]
    assert matches_image("p_IMG_INFO_PUB_MEDIA_CATALOG_PRODUCT_CACHE_AB12_N_A_X__JPG", suffixes)
    assert not matches_image("p_IMG_INFO_PUB_MEDIA_CATALOG_PRODUCT_CACHE_AB12_N_A_AX__JPG", suffixes)
    assert not matches_image("anything", [])
