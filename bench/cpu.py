"""CPU time of the processes a benchmark drives (the web server, PostgreSQL's backends, Redis, the load generator).

Read from /proc/<pid>/stat (utime + stime, in clock ticks) around a run, so a figure is CPU per request by
process, independent of how busy the shared machine is. Linux only; all processes on this host.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone (a PostgreSQL backend closed, a worker restarted)
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; fields from 3 (state) on


def process_cpu_s(pids: list[int]) -> float:
    """utime + stime of `pids`, in seconds (their finished children are not included)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return total * TICK_S


def process_group(pgid: int) -> list[int]:
    """The pids of process group `pgid` (gunicorn's master and workers, started in a session of their own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def postgres_pids(database_url: str) -> list[int]:
    """Backends connected to the benchmark's database, plus the WAL writer (which flushes their commits)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() AND pid <> pg_backend_pid())"
            " OR backend_type = 'walwriter'"
        ).fetchall()
    return [pid for (pid,) in rows]


def redis_pid(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).info("server")["process_id"])


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU per request by process around one run: `with meter.measure() as used: ...`, then `per_request(used, n)`."""

    web_pgid: int
    database_url: str
    redis_url: str

    def _sample(self, postgres: list[int]) -> dict[str, float]:
        return {
            "web": process_cpu_s(process_group(self.web_pgid)),
            "postgres": process_cpu_s(postgres),
            "redis": process_cpu_s([redis_pid(self.redis_url)]),
            "loadgen": self_cpu_s(),
        }

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        """Yield a dict that holds, once the block ends, the CPU seconds each process used in it."""
        postgres = postgres_pids(self.database_url)
        before = self._sample(postgres)
        used: dict[str, float] = {}
        yield used
        # A backend the pool opened during the run counts all its CPU; one it closed is lost (rare: pools keep theirs).
        after = self._sample(sorted(set(postgres) | set(postgres_pids(self.database_url))))
        used.update({name: after[name] - before.get(name, 0.0) for name in after})
        used["total"] = used["web"] + used["postgres"] + used["redis"]


def per_request(used: dict[str, float], requests: int) -> dict[str, float]:
    """CPU milliseconds per request, by process."""
    return {name: round(seconds * 1000 / requests, 3) for name, seconds in used.items()} if requests else {}
