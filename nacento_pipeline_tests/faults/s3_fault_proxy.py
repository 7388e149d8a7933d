"""A loopback HTTP proxy in front of moto that injects S3 faults: 503 SlowDown, 500 InternalError, dropped
connections (before forwarding, and after forwarding with the response lost) and delays, on a seeded share
of requests (the kinds in rotation). Runs in a thread of the test process; `stop()` shuts it down."""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
INTERNAL = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)
FAULTS = ("503", "drop_before", "500", "drop_after", "delay")  # injected in this rotation


class S3FaultProxy:
    def __init__(self, upstream: str, rate: float = 0.28, seed: int = 11, max_in_a_row: int = 3) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.rate = rate
        self.max_in_a_row = max_in_a_row
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._in_a_row = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    raw = b""
                    while True:
                        size_line = self.rfile.readline()
                        raw += size_line
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        chunk = self.rfile.read(size + 2)
                        raw += chunk
                        if size == 0:
                            while chunk not in (b"\r\n", b""):  # trailers up to the empty line
                                chunk = self.rfile.readline()
                                raw += chunk
                            return raw
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._next_fault()
                if fault == "503":
                    return self._reply(503, SLOW_DOWN)
                if fault == "500":
                    return self._reply(500, INTERNAL)
                if fault == "drop_before":
                    return self._drop()
                if fault == "delay":
                    time.sleep(0.3)
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                if fault == "drop_after":
                    return self._drop()  # applied upstream, the answer lost on the way back
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self._in_a_row < self.max_in_a_row and self._rng.random() < self.rate:
                self._in_a_row += 1
                fault = FAULTS[sum(self.injected.values()) % len(FAULTS)]
                self.injected[fault] += 1
                return fault
            self._in_a_row = 0
            return None

    def start(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
