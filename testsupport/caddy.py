"""Test support: the shipped infra/caddy/Caddyfile served by a real `caddy run` on free loopback ports.

Its state (the local CA of a `localhost` site) lives in a temporary folder, removed on stop. Debian bookworm's
Caddy 2.6 spells request buffering `buffer_requests` (2.8 and later: `request_buffers <size>`, the Caddyfile's
default), so on an older Caddy the environment says so (CADDY_REQUEST_BUFFERS, ADR 0090).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from testsupport.faults import free_port, stop_process_group, wait_until

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "infra" / "caddy" / "Caddyfile"


def caddy_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    assert match, f"no version in {out!r}"
    return int(match[1]), int(match[2])


class CaddyProxy:
    """`caddy run` of the shipped Caddyfile in front of `upstream` (host:port), with `env` over the defaults."""

    def __init__(self, *, upstream: str, site: str, binary: str | None = None, env: dict[str, str] | None = None):
        self.binary = binary or shutil.which("caddy") or "caddy"
        self.http_port, self.https_port, self.admin_port = free_port(), free_port(), free_port()
        self.state = Path(tempfile.mkdtemp(prefix="tipengine-caddy-"))
        self.env = {
            **os.environ,
            "SITE_ADDRESS": site,
            "CADDY_UPSTREAM": upstream,
            "CADDY_HTTP_PORT": str(self.http_port),
            "CADDY_HTTPS_PORT": str(self.https_port),
            "CADDY_ADMIN_PORT": str(self.admin_port),
            "HOME": str(self.state),
            "XDG_DATA_HOME": str(self.state / "data"),
            "XDG_CONFIG_HOME": str(self.state / "config"),
            **(env or {}),
        }
        if caddy_version(self.binary) < (2, 8):
            self.env.setdefault("CADDY_REQUEST_BUFFERS", "buffer_requests")
        self.log = self.state / "caddy.log"
        self.process: subprocess.Popen | None = None

    def start(self, ready: Callable[[], bool]) -> CaddyProxy:
        """Start it and wait until `ready()` (e.g. a probe through it) says it serves."""
        command = [self.binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: self._running() and ready(), timeout_s=60, what="caddy to serve the Caddyfile")
        return self

    def _running(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"caddy exited: {self.log.read_text()[-2000:]}")
        return True

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None
        shutil.rmtree(self.state, ignore_errors=True)
