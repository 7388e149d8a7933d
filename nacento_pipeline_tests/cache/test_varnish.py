"""Varnish backend against a real varnishd: exactly the pages of changed products and their parents go."""

from __future__ import annotations

import http.client

import sqlalchemy as sa

from nacento_pipeline.cache.invalidation import invalidate_storefront
from nacento_pipeline.cache.varnish import VarnishCache, VarnishHost
from nacento_pipeline_tests.cache.conftest import CHANGED, EVICTED, PAGES, free_port, seed_relations


def _get(port: int, path: str) -> tuple[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (path, response.status, body)
        return response.getheader("X-Cache") or "", body
    finally:
        conn.close()


def _warm(varnish) -> None:
    for path in PAGES:
        _get(varnish.port, path)
    assert {path: _get(varnish.port, path)[0] for path in PAGES} == dict.fromkeys(PAGES, "HIT")


def _evicted(varnish) -> set[str]:
    """Request every page once more: the ones Varnish had to render again were evicted."""
    before = dict(varnish.shop.renders)
    for path in PAGES:
        _get(varnish.port, path)
    return {path for path in PAGES if varnish.shop.renders[path] > before[path]}


def test_purge_evicts_changed_products_and_parents_only(varnish, mysql_url):
    engine = sa.create_engine(mysql_url)
    seed_relations(engine)
    _warm(varnish)
    backend = VarnishCache([VarnishHost("127.0.0.1", varnish.port)])
    done = invalidate_storefront(engine, backend, CHANGED)
    assert done.ok, done.errors
    assert done.tags == ("cat_p_2", "cat_p_3", "cat_p_10", "cat_p_20")
    assert (done.parent_ids, done.requests, done.targets) == ((10, 20), 1, (f"127.0.0.1:{varnish.port}",))
    assert _evicted(varnish) == EVICTED
    # idempotent: a second cleaning succeeds and evicts the same pages again, nothing else
    assert invalidate_storefront(engine, backend, CHANGED).ok
    assert _evicted(varnish) == EVICTED
    engine.dispose()


def test_chunked_patterns_reach_the_same_pages(varnish, mysql_url):
    engine = sa.create_engine(mysql_url)
    seed_relations(engine)
    _warm(varnish)
    # room for two patterns per header: four tags need two PURGE requests per host
    backend = VarnishCache([VarnishHost("127.0.0.1", varnish.port)], max_header_size=60)
    done = invalidate_storefront(engine, backend, CHANGED)
    assert done.ok and done.requests == 2
    assert _evicted(varnish) == EVICTED
    engine.dispose()


def test_unreachable_host_is_retried_then_reported_without_raising(varnish, mysql_url):
    engine = sa.create_engine(mysql_url)
    _warm(varnish)
    dead = VarnishHost("127.0.0.1", free_port())
    messages: list[str] = []
    done = invalidate_storefront(
        engine,
        VarnishCache([dead], timeout=2),
        CHANGED,
        attempts=3,
        backoff_seconds=0.01,
        log=messages.append,
    )
    assert not done.ok and done.retries == 2
    assert "varnish 127.0.0.1" in done.errors[0]
    assert len([m for m in messages if "retrying" in m]) == 2
    assert _evicted(varnish) == set()  # nothing was purged
    engine.dispose()
