"""Real cache services for the cache tests: Varnish (started here, on loopback, in front of a tiny backend
serving pages tagged like Magento's) and the local Redis (a dedicated database number)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.product_relations import create_relation_tables, relation_tables
from nacento_pipeline_tests.conftest import unreachable
from nacento_pipeline_tests.processes import stop_process

VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
# dedicated to these tests, one database per pytest-xdist worker (gw0 -> 11, gw1 -> 12, ...); flushed before
# and after
REDIS_TEST_DB = 11 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)

# A shop in miniature: page -> the X-Magento-Tags Magento would send with it.
# Product 2 is a child of configurable 10 (super_link), product 3 of grouped 20 (relation only).
PAGES: dict[str, str] = {
    "/p/1": "cat_p_1,cat_p",
    "/p/2": "cat_p_2,cat_p",
    "/p/3": "cat_p_3,cat_p",
    "/p/4": "cat_p_4,cat_p",
    "/p/10": "cat_p_10,cat_p,cat_p_2,cat_p_11",  # configurable page carries its children's tags
    "/p/20": "cat_p_20,cat_p",
    "/p/12": "cat_p_12,cat_p",  # cat_p_12 must not be hit by a pattern for cat_p_1 or cat_p_2
    "/c/1": "cat_c_1,cat_p_1,cat_p_4",  # listing of products 1 and 4
    "/c/2": "cat_c_2,cat_p_10,cat_p_12",  # listing of the configurable and product 12
    "/c/3": "cat_c_3,cat_p_4,cat_p_12",  # listing of unchanged products only
}
CHANGED = [3, 2]
# pages showing a changed product or a parent of one
EVICTED = {"/p/2", "/p/3", "/p/10", "/p/20", "/c/2"}


def seed_relations(engine: sa.Engine, prefix: str = "") -> None:
    create_relation_tables(engine, prefix)
    _, super_link, relation = relation_tables(prefix)
    with engine.begin() as conn:
        conn.execute(
            super_link.insert(), [{"product_id": 2, "parent_id": 10}, {"product_id": 11, "parent_id": 10}]
        )
        conn.execute(
            relation.insert(),
            [
                {"parent_id": 10, "child_id": 2},
                {"parent_id": 10, "child_id": 11},
                {"parent_id": 20, "child_id": 3},
            ],
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Shop:
    """The backend: serves PAGES and counts how often each was rendered (a cache miss)."""

    port: int
    renders: Counter = field(default_factory=Counter)


def _handler(shop: Shop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            tags = PAGES.get(self.path)
            if tags is None:
                self.send_error(404)
                return
            shop.renders[self.path] += 1
            body = f"page {self.path} render {shop.renders[self.path]}".encode()
            self.send_response(200)
            self.send_header("X-Magento-Tags", tags)
            self.send_header("Cache-Control", "public, max-age=3600")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


# Bans by Magento's tag header as Magento's generated VCL does (purge ACL, 400 without the header, ban on
# obj.http.X-Magento-Tags, 200 "Purged"); everything else is cached for an hour.
VCL = """vcl 4.1;
backend default {{ .host = "127.0.0.1"; .port = "{backend_port}"; }}
acl purge {{ "127.0.0.1"; }}
sub vcl_recv {{
    if (req.method == "PURGE") {{
        if (client.ip !~ purge) {{ return (synth(405, "Method not allowed")); }}
        if (!req.http.X-Magento-Tags-Pattern) {{
            return (synth(400, "X-Magento-Tags-Pattern header required"));
        }}
        ban("obj.http.X-Magento-Tags ~ " + req.http.X-Magento-Tags-Pattern);
        return (synth(200, "Purged"));
    }}
    return (hash);
}}
sub vcl_backend_response {{ set beresp.ttl = 1h; }}
sub vcl_deliver {{
    if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
    unset resp.http.X-Magento-Tags;
}}
"""


@dataclass
class Varnish:
    port: int
    shop: Shop
    pid: int


@pytest.fixture
def varnish(tmp_path: Path) -> Iterator[Varnish]:
    if not os.path.exists(VARNISHD):
        unreachable("Varnish", "varnishd is not installed (Debian package varnish)")
    shop = Shop(port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", shop.port), _handler(shop))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    vcl = tmp_path / "magento.vcl"
    vcl.write_text(VCL.format(backend_port=shop.port))
    port = free_port()
    log = (tmp_path / "varnishd.log").open("wb")
    proc = subprocess.Popen(
        [
            VARNISHD,
            "-F",
            "-j",
            "none",
            "-n",
            str(tmp_path / "varnish"),
            "-a",
            f"127.0.0.1:{port}",
            "-f",
            str(vcl),
            "-s",
            "malloc,16m",
            "-T",
            "none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"varnishd did not start: {(tmp_path / 'varnishd.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield Varnish(port=port, shop=shop, pid=proc.pid)
    finally:
        stop_process(proc, timeout=15)
        log.close()
        server.shutdown()
        server.server_close()


@pytest.fixture
def redis_db() -> Iterator[str]:
    import redis

    url = f"redis://127.0.0.1:6379/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unreachable("Redis", f"127.0.0.1:6379: {exc}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
