"""The shipped Caddyfile, served by a real Caddy: a slow request body is cut off there and never reaches the app."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from testsupport.caddy import CaddyProxy
from testsupport.cases import require_service
from testsupport.loopback import LoopbackServer, QuietHandler


class RecordingUpstream(LoopbackServer):
    """Stands in for gunicorn: records each request that reaches it (path and body) and says it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, bytes]] = []
        self.seen_lock = threading.Lock()

    def handler_class(self) -> type[QuietHandler]:
        upstream = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send(200, {"X-Answered-By": "upstream"}, b"ok")

            def do_POST(self) -> None:
                body = self.read_body()
                with upstream.seen_lock:
                    upstream.seen.append((self.path, body))
                self.send(200, {"X-Answered-By": "upstream"}, b"ok")

        return Handler


@pytest.fixture
def proxied() -> Iterator[tuple[CaddyProxy, RecordingUpstream]]:
    require_service("caddy", shutil.which("caddy") is not None, "apt-get install caddy")
    upstream = RecordingUpstream().start()
    host_port = upstream.url.removeprefix("http://")
    proxy = CaddyProxy(upstream=host_port, site="http://localhost", env={"CADDY_READ_BODY_TIMEOUT": "1s"})

    def serves() -> bool:
        try:
            return httpx.get(f"http://localhost:{proxy.http_port}/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    proxy.start(ready=serves)
    yield proxy, upstream
    proxy.stop()
    upstream.stop()


def raw_post(port: int, *, path: str, announced: int, sent: bytes) -> bytes:
    """POST announcing `announced` body bytes, send only `sent`, then read what comes back until the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {announced}\r\n\r\n"
        sock.sendall(head.encode() + sent)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def test_a_complete_body_reaches_the_app_whole(proxied):
    proxy, upstream = proxied
    body = b'{"event_name": "item:completed"}' * 1000  # 32 kB: more than one read, less than the buffer
    response = httpx.post(f"http://localhost:{proxy.http_port}/whole", content=body, timeout=10)
    assert response.headers["X-Answered-By"] == "upstream"
    assert upstream.seen == [("/whole", body)]


def test_a_body_that_stops_arriving_is_cut_off_by_the_proxy_and_never_reaches_the_app(proxied):
    proxy, upstream = proxied
    answer = raw_post(proxy.http_port, path="/slow", announced=100_000, sent=b'{"event')
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert "X-Answered-By" not in head  # Caddy answered (an empty 200, or an error) and closed the connection
    assert "Connection: close" in head
    assert upstream.seen == []  # gunicorn would never have been handed the request
