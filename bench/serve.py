"""Serving benchmark: GET /api/v1/tips/?limit=3 under gunicorn, against PostgreSQL and Redis on loopback.

Seed first (bench/seed.py: 10k users, 1M tip_scores, 1000 active users with a warm pool and a token):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench .venv/bin/python bench/seed.py \\
        --migrate --reset --users 10000 --tips 1000000 --active 1000 --tokens-file var/bench/tokens.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/serve.py --tokens-file var/bench/tokens.txt --out var/bench/serve.json

For each gateway variant (normal: a fake Ollama that answers at once; slow: it answers after 5 s; down:
nothing listens) this starts gunicorn (gthread workers, DEBUG off) and measures:
  1. serial: one keep-alive client, p50/p99 (and /healthz serially, the HTTP floor at that moment);
  2. saturated: 16 keep-alive clients, closed loop, tips and /healthz throughput (normal variant only);
  3. open loop: a constant rate of half the saturated tips throughput, sends scheduled by the clock.
Before measuring, every user is served once (active users: their pool, tasks, cool-downs and statistics are
cached). `--cold-cache --serial 1000` measures each user's first call instead (everything read from PostgreSQL).
`--cold` also expires every pool first, so each request takes the budgeted LLM path (the degraded case).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import add_load_arguments, closed_loop, open_loop  # noqa: E402

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int, threads: int) -> Iterator[int]:
    """Run gunicorn on a free loopback port until the block ends; yields the port."""
    with gunicorn_process(env, workers=workers, threads=threads) as (port, _):
        yield port


@contextlib.contextmanager
def gunicorn_process(env: dict[str, str], *, workers: int, threads: int) -> Iterator[tuple[int, int]]:
    """Run gunicorn on a free loopback port until the block ends; yields the port and its process group's id."""
    port = free_port()
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "tipengine.wsgi",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--log-level=warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def server_env(ollama_url: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tipengine.settings",
        DEBUG="0",
        SECRET_KEY=env.get("SECRET_KEY", "bench-" + "k" * 50),
        ALLOWED_HOSTS=HOST,
        SECURE_SSL_REDIRECT="0",
        TOKEN_ENCRYPTION_KEYS=env.get("TOKEN_ENCRYPTION_KEYS", "H4z6uJ3wq9Ajc0mO1pVnl1hKk3rTn0b2rA3sQ8pVb2E="),
        OLLAMA_URL=ollama_url,
        TASKS_MODE="thread",  # no Celery worker in the bench: background refreshes run on threads
        # ...but no beat in the web workers: production runs it apart (Celery beat), and in-process each worker ran the
        # whole schedule on its first request, training a contextual model over the seeded million rows while
        # the load ran (a fifth of a profile's samples; docs/benchmarks.md, "A lighter warm serve, profiled").
        PERIODIC_IN_PROCESS=env.get("PERIODIC_IN_PROCESS", "0"),
        LOG_LEVEL="WARNING",
        DB_POOL_MAX=str(args.threads + 2),
        STATIC_ROOT=str(ROOT / "var/bench/static"),
        # The load generator drives few tokens hard; throttles (a per-user policy) would only measure 429s.
        THROTTLE_TIPS_RATE="1000000/min",
        THROTTLE_FEEDBACK_RATE="1000000/min",
        THROTTLE_HISTORY_RATE="1000000/min",
    )
    env.pop("LITELLM_URL", None)
    return env


def expire_pools(hours: float) -> None:
    """Move every pool's expiry (negative: into the past, i.e. no fresh pool)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from generation.models import CandidatePool

    CandidatePool.objects.update(expires_at=timezone.now() + timedelta(hours=hours))
    cache.clear()  # serving caches pools (and more) per user: the next run must read what was just written


def clear_cache(env: dict[str, str]) -> None:
    """Empty the server's cache (its Redis database) so the next requests read everything from PostgreSQL."""
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def run_variant(name: str, ollama_url: str, tokens: list[str], args: argparse.Namespace, rate: float | None) -> dict:
    headers = [{"Authorization": f"Token {t}"} for t in tokens]

    def tips(i: int) -> tuple[str, dict[str, str]]:
        return "/api/v1/tips/?limit=3", headers[i % len(headers)]

    def healthz(i: int) -> tuple[str, dict[str, str]]:
        return "/healthz", {}

    out: dict[str, Any] = {"variant": name}
    env = server_env(ollama_url, args)
    # As a deployment would: collected static files for WhiteNoise (the admin's), so it finds its root.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    with gunicorn(env, workers=args.workers, threads=args.threads) as port:
        # Warm every worker, and serve every user once: the steady state of active users, whose pool, tasks,
        # cool-downs and statistics are in the cache (a user's first call of the day reads them: --cold-cache).
        # With --cold, only /healthz warms: a serve would store the user's pool and spoil the cold case.
        if args.cold:
            asyncio.run(closed_loop(HOST, port, healthz, clients=args.clients, requests=args.warmup))
        else:
            warmup = args.warmup if args.cold_cache else max(args.warmup, len(tokens))
            asyncio.run(closed_loop(HOST, port, tips, clients=args.clients, requests=warmup))
        if args.cold_cache:
            clear_cache(env)
        out["serial"] = asyncio.run(closed_loop(HOST, port, tips, clients=1, requests=args.serial)).summary()
        print(name, "serial", out["serial"], flush=True)
        # The HTTP floor of this server at this moment: what any request costs before our code runs.
        out["serial_healthz"] = asyncio.run(closed_loop(HOST, port, healthz, clients=1, requests=args.serial)).summary()
        print(name, "serial healthz", out["serial_healthz"], flush=True)
        if rate is None:
            saturated = asyncio.run(closed_loop(HOST, port, tips, clients=args.clients, seconds=args.seconds))
            health = asyncio.run(closed_loop(HOST, port, healthz, clients=args.clients, seconds=args.seconds))
            out["saturated_tips"], out["saturated_healthz"] = saturated.summary(), health.summary()
            out["saturated_ratio"] = round(saturated.throughput / health.throughput, 3)
            print(name, "saturated", out["saturated_tips"], "healthz", out["saturated_healthz"], flush=True)
            rate = saturated.throughput / 2
        out["open_loop_rate"] = round(rate, 1)
        out["open_loop"] = asyncio.run(open_loop(HOST, port, tips, rate=rate, seconds=args.seconds)).summary()
        print(name, f"open loop @ {rate:.0f}/s", out["open_loop"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_arguments(parser)
    parser.add_argument("--variants", default="normal,slow,down")
    parser.add_argument("--cold", action="store_true", help="expire every pool first (budgeted LLM path)")
    parser.add_argument(
        "--cold-cache", action="store_true", help="clear the cache before the serial run (each user's first call)"
    )
    args = parser.parse_args()

    from testsupport.llm.fake_ollama import FakeOllama, Reply, unused_port_url

    tokens = [t for t in args.tokens_file.read_text().split() if t]
    expire_pools(-1.0 if args.cold else 48.0)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "variants": [],
    }
    rate = None
    with FakeOllama() as fast, FakeOllama(default=Reply.slow(5.0)) as slow:
        urls = {"normal": fast.url, "slow": slow.url, "down": unused_port_url()}
        for name in args.variants.split(","):
            variant = run_variant(name, urls[name], tokens, args, rate)
            rate = variant["open_loop_rate"] if rate is None else rate  # every variant at the normal run's rate
            results["variants"].append(variant)
            if args.cold:
                expire_pools(-1.0)  # a variant's background refreshes may have stored pools: cold again
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
