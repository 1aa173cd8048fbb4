"""A small HTTP/1.1 keep-alive load generator on asyncio: closed-loop (serial, saturated) and open-loop.

Open loop is wrk2-style: request i is *scheduled* at start + i / rate and its latency is measured from
that scheduled moment, so a slow answer that delays later sends shows up as queueing in their latency
instead of silently lowering the offered rate (coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Result:
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def count(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies_s), q) * 1000) if self.latencies_s else float("nan")

    def summary(self) -> dict[str, float | int | dict]:
        return {
            "requests": self.count,
            "errors": dict(self.errors),
            "seconds": round(self.elapsed_s, 2),
            "rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p90_ms": round(self.percentile_ms(90), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "max_ms": round(max(self.latencies_s) * 1000, 2) if self.latencies_s else None,
        }


class Connection:
    """One keep-alive connection; `get` sends a GET and reads the whole response (Content-Length or chunked)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        return await self.request("GET", path, headers)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and value.endswith(b"chunked"):
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if method == "HEAD":
            body = b""
        elif chunked:  # RFC 9112: chunked wins over any Content-Length
            body = await self._read_chunks()
        else:
            body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def _read_chunks(self) -> bytes:
        """Read a chunked body: hex size lines (extensions ignored), each chunk and its CRLF, then the trailers."""
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, up to the empty line
            pass
        return b"".join(parts)


# (path, headers) for a GET; (path, headers, JSON body bytes) for a POST.
RequestFactory = Callable[[int], tuple[str, dict[str, str]] | tuple[str, dict[str, str], bytes]]


async def _one(conn: Connection, make: RequestFactory, i: int, result: Result, started: float) -> None:
    path, headers, *body = make(i)
    try:
        if body:
            status, _ = await conn.request("POST", path, headers, body[0])
        else:
            status, _ = await conn.get(path, headers)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        result.error(type(exc).__name__)
        await conn.close()
        return
    if not 200 <= status < 300:
        result.error(str(status))
        return
    result.latencies_s.append(time.perf_counter() - started)


async def closed_loop(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    clients: int,
    requests: int | None = None,
    seconds: float | None = None,
) -> Result:
    """`clients` connections, each sending its next request as soon as the last answered."""
    result = Result()
    counter: Iterator[int] = itertools.count()
    deadline = None if seconds is None else time.perf_counter() + seconds

    async def client() -> None:
        conn = Connection(host, port)
        try:
            while True:
                i = next(counter)
                if requests is not None and i >= requests:
                    return
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                await _one(conn, make, i, result, time.perf_counter())
        finally:
            await conn.close()

    begin = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.elapsed_s = time.perf_counter() - begin
    return result


async def open_loop(
    host: str, port: int, make: RequestFactory, *, rate: float, seconds: float, connections: int = 64
) -> Result:
    """Send at a constant `rate` (scheduled by the clock) for `seconds`; latency counts from the schedule."""
    result = Result()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    total = int(rate * seconds)
    begin = time.perf_counter()

    async def scheduled(i: int, at: float) -> None:
        conn = await pool.get()  # waiting for a free connection is queueing: it counts
        try:
            await _one(conn, make, i, result, at)
        finally:
            pool.put_nowait(conn)

    tasks = []
    for i in range(total):
        at = begin + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(scheduled(i, at)))
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - begin
    while not pool.empty():
        await pool.get_nowait().close()
    return result


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every HTTP benchmark shares: server shape, load shape and the output file."""
    parser.add_argument("--tokens-file", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="per worker, as gunicorn.conf.py sets it")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--serial", type=int, default=2000, help="requests in the serial run")
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the saturated and open-loop runs")
    parser.add_argument("--out", type=Path)
