"""A real HTTP server on loopback: the base of the fakes that stand in for external services in tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (its timeout fired) is expected, not an error worth a traceback


class QuietHandler(BaseHTTPRequestHandler):
    """A keep-alive handler that logs nothing and tolerates clients that hang up mid-answer."""

    protocol_version = "HTTP/1.1"
    # As Go's net/http (Ollama) and most servers do: without it, the body written after the headers waits for
    # the client's delayed ACK, and every answer of a fake took 40 ms more than the real service's would.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def read_body(self) -> bytes:
        """Return the raw request body."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        """Answer with `payload`; a client that gave up (e.g. its timeout fired) is ignored."""
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LoopbackServer:
    """Serves `handler_class()` on 127.0.0.1 at an ephemeral port from a daemon thread; a context manager."""

    thread_name = "loopback-server"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # set on stop: slow answers return at once
        self._server: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Return the request handler class bound to this fake."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind an ephemeral port and start serving."""
        self._server = _QuietServer(("127.0.0.1", 0), self.handler_class())
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers still pending are woken and dropped."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:54321."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` (a slow answer); return False when the server stopped meanwhile."""
        return seconds <= 0 or not self._stopping.wait(seconds)
