"""Redis backend on the local Redis: entries laid out as Cm_Cache_Backend_Redis writes Magento's cache."""

from __future__ import annotations

import hashlib

import pytest
import redis
import sqlalchemy as sa

from nacento_pipeline.cache.base import CacheError
from nacento_pipeline.cache.invalidation import invalidate_storefront
from nacento_pipeline.cache.redis_cache import RedisCache, RedisTarget
from nacento_pipeline_tests.cache.conftest import CHANGED, EVICTED, PAGES, seed_relations

PAGE_PREFIX = "69d_"  # env.php cache/frontend/page_cache/id_prefix
DEFAULT_PREFIX = "a1b_"  # env.php cache/frontend/default/id_prefix


def _save(client: redis.Redis, cache_id: str, tags: list[str]) -> None:
    """What Cm_Cache_Backend_Redis::save does for an id and tags Magento already upper-cased and prefixed."""
    client.hset(f"zc:k:{cache_id}", mapping={"d": "payload", "t": ",".join(tags), "m": 1700000000, "i": 0})
    client.expire(f"zc:k:{cache_id}", 86400)
    for tag in tags:
        client.sadd(f"zc:ti:{tag}", cache_id)
    client.sadd("zc:tags", *tags)


def page_id(path: str) -> str:
    return PAGE_PREFIX + hashlib.sha1(path.encode()).hexdigest().upper()  # IdentifierForSave: sha1


def _populate(client: redis.Redis) -> None:
    for path, tags in PAGES.items():  # full_page entries: the page's tags plus the FPC scope tag
        _save(
            client, page_id(path), [PAGE_PREFIX + t.upper() for t in tags.split(",")] + [PAGE_PREFIX + "FPC"]
        )
    # default frontend: a block tagged with product 2, one with product 4
    _save(client, DEFAULT_PREFIX + "BLOCK_P2", [DEFAULT_PREFIX + "CAT_P_2", DEFAULT_PREFIX + "BLOCK_HTML"])
    _save(client, DEFAULT_PREFIX + "BLOCK_P4", [DEFAULT_PREFIX + "CAT_P_4", DEFAULT_PREFIX + "BLOCK_HTML"])
    # resized-image facts: IMG_INFO<absolute path of the copy>, sanitized ('.' -> '__', '/' and '-' -> '_')
    for name in ("NAC_1001_FRONT__PNG", "NAC_1003_FRONT__PNG"):
        _save(
            client,
            f"{DEFAULT_PREFIX}IMG_INFO_VAR_WWW_PUB_MEDIA_CATALOG_PRODUCT_CACHE_0123ABCD_N_A_{name}",
            [DEFAULT_PREFIX + "IMG_INFO"],
        )
        _save(
            client, f"{DEFAULT_PREFIX}6C3F2A_MEDIA_CATALOG_PRODUCT_N_A_{name}", [DEFAULT_PREFIX + "FLYSYSTEM"]
        )


def test_page_and_default_caches_lose_exactly_the_changed_entries(redis_db, mysql_url):
    engine = sa.create_engine(mysql_url)
    seed_relations(engine)
    client = redis.Redis.from_url(redis_db, decode_responses=True)
    _populate(client)
    backend = RedisCache(RedisTarget(redis_db, PAGE_PREFIX), RedisTarget(redis_db, DEFAULT_PREFIX))
    done = invalidate_storefront(engine, backend, CHANGED, ["/n/a/nac-1001-front.png"])
    assert done.ok, done.errors
    gone_pages = {path for path in PAGES if not client.exists(f"zc:k:{page_id(path)}")}
    assert gone_pages == EVICTED
    # as Magento's TagScope (matchingTag): tag sets of the page cache stay; default cache (matchingAnyTag):
    # the entry and its tag set go, and the tag leaves zc:tags
    assert client.exists(f"zc:ti:{PAGE_PREFIX}CAT_P_2")
    assert not client.exists(f"zc:k:{DEFAULT_PREFIX}BLOCK_P2") and client.exists(
        f"zc:k:{DEFAULT_PREFIX}BLOCK_P4"
    )
    assert not client.exists(f"zc:ti:{DEFAULT_PREFIX}CAT_P_2")
    assert not client.sismember("zc:tags", f"{DEFAULT_PREFIX}CAT_P_2")
    # image facts of the changed file are gone, those of the other file stay
    left = sorted(k for k in client.keys("zc:k:*") if "FRONT__PNG" in k)
    assert left == [
        f"zc:k:{DEFAULT_PREFIX}6C3F2A_MEDIA_CATALOG_PRODUCT_N_A_NAC_1003_FRONT__PNG",
        f"zc:k:{DEFAULT_PREFIX}IMG_INFO_VAR_WWW_PUB_MEDIA_CATALOG_PRODUCT_CACHE_0123ABCD_N_A_NAC_1003_FRONT__PNG",
    ]
    assert client.smembers(f"zc:ti:{DEFAULT_PREFIX}IMG_INFO") == {
        f"{DEFAULT_PREFIX}IMG_INFO_VAR_WWW_PUB_MEDIA_CATALOG_PRODUCT_CACHE_0123ABCD_N_A_NAC_1003_FRONT__PNG"
    }
    # 5 pages + 1 block + 2 image facts
    assert done.entries_removed == len(EVICTED) + 1 + 2
    # idempotent: nothing left to remove
    again = invalidate_storefront(engine, backend, CHANGED, ["/n/a/nac-1001-front.png"])
    assert again.ok and again.entries_removed == 0
    client.close()
    engine.dispose()


def test_unreachable_redis_is_reported_not_raised(mysql_url):
    engine = sa.create_engine(mysql_url)
    backend = RedisCache(RedisTarget("redis://127.0.0.1:1/0", PAGE_PREFIX, timeout=1))
    done = invalidate_storefront(engine, backend, CHANGED, attempts=2, backoff_seconds=0.01)
    assert not done.ok and done.retries == 1 and "redis redis://127.0.0.1:1/0" in done.errors[0]
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:p@ss@host:6380/2", "redis://***@host:6380/2"),  # an unencoded '@' in the password
        ("redis://host:6379/0?password=sec%40ret", "redis://***@host:6379/0"),
        ("redis://host/1?socket_keepalive=true&password=plain", "redis://***@host:6379/1"),
        ("redis://user:pw@h/3", "redis://***@h:6379/3"),
        ("unix://:pw@/tmp/r.sock?db=4", "unix://***@/tmp/r.sock?db=4"),
        ("rediss://h", "rediss://h:6379/0"),
    ],
)
def test_a_target_never_shows_its_password(url: str, shown: str) -> None:
    """Issue 20: metadata showed a `?password=` query, and part of a password holding an unencoded '@'."""
    target = RedisTarget(url, "")
    assert str(target) == shown
    assert str(RedisCache(target).clean_tags([]).targets) == str((shown,))


def test_an_unparseable_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(CacheError) as caught:
        RedisTarget("redis://:zq?ss@host/1", "")
    assert "zq" not in str(caught.value) and "percent-encode" in str(caught.value)
