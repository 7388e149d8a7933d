"""`varnish`: Magento's own purge request (PurgeCache) to every configured Varnish host."""

from __future__ import annotations

import http.client
from collections.abc import Sequence
from dataclasses import dataclass

from nacento_pipeline.cache.base import CacheError, CacheReport, TransientCacheError
from nacento_pipeline.core.cache_tags import VARNISH_MAX_HEADER_SIZE, chunk_patterns, varnish_patterns

TAGS_PATTERN_HEADER = "X-Magento-Tags-Pattern"


@dataclass(frozen=True)
class VarnishHost:
    """One Varnish server PURGE requests go to."""

    host: str
    port: int = 80

    @classmethod
    def parse(cls, text: str) -> VarnishHost:
        """`host` or `host:port` (env.php http_cache_hosts; port 80 by default, as Magento)."""
        host, sep, port = text.strip().rpartition(":")
        if not sep:
            return cls(text.strip())
        if not port.isdigit() or not host:
            raise CacheError(f"NACENTO_CACHE_HOSTS: {text!r} is not host or host:port")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class VarnishCache:
    """PURGE / with X-Magento-Tags-Pattern, tags chunked as Magento chunks them, each chunk to each host.

    The Varnish side bans `obj.http.X-Magento-Tags ~ <pattern>` (Magento's generated VCL). Varnish cannot
    say how many objects a ban removed, so entries_removed is -1. Resized images are not cached by
    Magento's VCL (it passes /media/), so `clean_images` sends nothing.
    """

    name = "varnish"

    def __init__(
        self,
        hosts: Sequence[VarnishHost],
        timeout: float = 10.0,
        max_header_size: int = VARNISH_MAX_HEADER_SIZE,
    ) -> None:
        if not hosts:
            raise CacheError("NACENTO_CACHE_HOSTS: the varnish backend needs at least one host")
        self.hosts = tuple(hosts)
        self.timeout = timeout
        self.max_header_size = max_header_size

    def _purge(self, pattern: str, host: VarnishHost) -> None:
        """Send one PURGE with a tags pattern to one host."""
        conn = http.client.HTTPConnection(host.host, host.port, timeout=self.timeout)
        try:
            conn.request("PURGE", "/", headers={"Host": host.host, TAGS_PATTERN_HEADER: pattern})
            response = conn.getresponse()
            response.read()
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise TransientCacheError(f"varnish {host}: {exc}") from exc
        finally:
            conn.close()
        if response.status >= 500:
            raise TransientCacheError(f"varnish {host}: HTTP {response.status} {response.reason}")
        if response.status != 200:
            raise CacheError(
                f"varnish {host}: purge refused, HTTP {response.status} {response.reason} "
                "(is this host in the VCL's purge ACL?)"
            )

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        """Purge the tags from every host, in header-sized chunks of patterns."""
        chunks = list(chunk_patterns(varnish_patterns(tags), self.max_header_size))
        for pattern in chunks:
            for host in self.hosts:
                self._purge(pattern, host)
        return CacheReport(
            self.name,
            "tags",
            tags=len(tags),
            requests=len(chunks) * len(self.hosts),
            targets=tuple(str(h) for h in self.hosts),
        )

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        """A report of no request: Varnish holds no image facts."""
        return CacheReport(
            self.name,
            "images",
            tags=len(values),
            requests=0,
            targets=(),
            notes=("Varnish does not hold Magento's image facts (its VCL passes /media/)",),
        )
