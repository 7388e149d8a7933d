"""How long the storefront cache step adds for a batch that changed 10,000 products.

Per backend (none, command, redis, varnish) on real services: MariaDB holds the relation tables
(2,000 configurable parents of 5 children each among the 10,000), Redis (database 13, flushed) holds a page
per product and parent laid out as Magento's Cm backend writes it, Varnish is started on loopback with
Magento's ban-by-tag VCL. Prints figures; asserts nothing.

    .venv/bin/python bench/cache_bench.py [--products 10000] [--mysql mysql+pymysql://root@127.0.0.1:3306]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import sqlalchemy as sa

from nacento_pipeline.cache.command import CommandCache
from nacento_pipeline.cache.invalidation import invalidate_storefront
from nacento_pipeline.cache.none import NoCache
from nacento_pipeline.cache.redis_cache import RedisCache, RedisTarget
from nacento_pipeline.cache.varnish import VarnishCache, VarnishHost
from nacento_pipeline.magento.product_relations import create_relation_tables, read_parents, relation_tables

REDIS_DB = 13
PREFIX = "69d_"
VCL = """vcl 4.1;
backend default { .host = "127.0.0.1"; .port = "9"; }
acl purge { "127.0.0.1"; }
sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purge) { return (synth(405, "Method not allowed")); }
        ban("obj.http.X-Magento-Tags ~ " + req.http.X-Magento-Tags-Pattern);
        return (synth(200, "Purged"));
    }
}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(engine: sa.Engine, products: int) -> list[int]:
    """The relation tables: a parent per five products (10,000 links at most); returns the product ids."""
    create_relation_tables(engine)
    _, super_link, relation = relation_tables()
    ids = list(range(1, products + 1))
    links = [{"product_id": i, "parent_id": 100000 + (i - 1) // 5} for i in ids[: products // 5 * 5][:10000]]
    with engine.begin() as conn:
        conn.execute(super_link.delete())
        conn.execute(relation.delete())
        for start in range(0, len(links), 5000):
            chunk = links[start : start + 5000]
            conn.execute(super_link.insert(), chunk)
            conn.execute(
                relation.insert(), [{"parent_id": r["parent_id"], "child_id": r["product_id"]} for r in chunk]
            )
    return ids


def _fill_redis(client: redis.Redis, ids: list[int]) -> int:
    """A cached page per product and parent, as Magento's Cm backend writes it; returns how many."""
    pages = [*ids, *sorted({100000 + (i - 1) // 5 for i in ids})]
    pipe = client.pipeline(transaction=False)
    for pid in pages:
        key = PREFIX + hashlib.sha1(f"/p/{pid}".encode()).hexdigest().upper()
        tags = [f"{PREFIX}CAT_P_{pid}", f"{PREFIX}FPC"]
        pipe.hset(f"zc:k:{key}", mapping={"d": "x" * 200, "t": ",".join(tags), "m": 1, "i": 0})
        for tag in tags:
            pipe.sadd(f"zc:ti:{tag}", key)
    pipe.execute()
    return len(pages)


def _run(label: str, engine: sa.Engine, backend, ids: list[int]) -> None:  # noqa: ANN001
    """Time the cache step for `ids` on one backend and print its figures."""
    done = invalidate_storefront(engine, backend, ids)
    removed = "n/a" if done.entries_removed < 0 else done.entries_removed
    print(
        f"{label:<10} {done.seconds:8.3f} s  tags {len(done.tags):6d}  requests {done.requests:4d}  "
        f"entries removed {removed}  ok {done.ok}"
    )


def main() -> None:
    """Seed the services, time every backend, then drop what was seeded."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--mysql", default="mysql+pymysql://root@127.0.0.1:3306")
    args = parser.parse_args()
    server = sa.create_engine(args.mysql)
    with server.begin() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS nacento_cache_bench"))
        conn.execute(sa.text("CREATE DATABASE nacento_cache_bench"))
    engine = sa.create_engine(f"{args.mysql}/nacento_cache_bench")
    try:
        ids = _seed(engine, args.products)
        start = time.perf_counter()
        parents = read_parents(engine, ids)
        print(
            f"{args.products} changed products, {len({p for ps in parents.values() for p in ps})} parents; "
            f"parent lookup {time.perf_counter() - start:.3f} s"
        )
        _run("none", engine, NoCache(), ids)
        _run("command", engine, CommandCache("true {tags}"), ids)
        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}", decode_responses=True)
        client.flushdb()
        pages = _fill_redis(client, ids)
        print(f"redis      {pages} full_page entries in db {REDIS_DB}")
        _run("redis", engine, RedisCache(RedisTarget(f"redis://127.0.0.1:6379/{REDIS_DB}", PREFIX)), ids)
        client.flushdb()
        client.close()
        varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
        if os.path.exists(varnishd):
            with tempfile.TemporaryDirectory() as tmp:
                vcl = Path(tmp) / "bench.vcl"
                vcl.write_text(VCL)
                port = _port()
                proc = subprocess.Popen(
                    [
                        varnishd,
                        "-F",
                        "-j",
                        "none",
                        "-n",
                        f"{tmp}/v",
                        "-a",
                        f"127.0.0.1:{port}",
                        "-f",
                        str(vcl),
                        "-s",
                        "malloc,16m",
                        "-T",
                        "none",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    for _ in range(300):
                        try:
                            socket.create_connection(("127.0.0.1", port), timeout=1).close()
                            break
                        except OSError:
                            time.sleep(0.1)
                    _run("varnish", engine, VarnishCache([VarnishHost("127.0.0.1", port)]), ids)
                finally:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
        else:
            print("varnish    skipped: varnishd not installed")
    finally:
        engine.dispose()
        with server.begin() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS nacento_cache_bench"))
        server.dispose()


if __name__ == "__main__":
    main()
