"""What a serve costs while Redis is unreachable: SQL statements and in-process latency, Redis up vs down.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_redis REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/seed.py --reset --migrate --users 40 --tips 2000 --active 20 \\
        --tokens-file var/bench/redis_tokens.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_redis REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/serve_without_redis.py --tokens-file var/bench/redis_tokens.txt

One process serves GET /api/v1/tips/ through Django's test client, one call at a time, over the seeded active
users: with the cache on REDIS_URL, then on a port where nothing listens (what a killed Redis looks like),
for --rounds interleaved rounds. Reported per mode: the median call and SQL statements per call. With Redis
down every cache read is a miss, so each serve reads from PostgreSQL what it would have read from the cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["THROTTLE_TIPS_RATE"] = "1000000/min"  # one process calling hard: not what is measured
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from testsupport.faults import free_port  # noqa: E402


def serve(client: Client, tokens: list[str], calls: int) -> tuple[list[float], list[int]]:
    seconds, statements = [], []
    for i in range(calls):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/api/v1/tips/?limit=3", HTTP_AUTHORIZATION=f"Token {tokens[i % len(tokens)]}")
            seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"tips answered {response.status_code}: {response.content[:300]!r}")
        statements.append(len(queries.captured_queries))
    return seconds, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens-file", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=200, help="calls per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tokens = args.tokens_file.read_text().split()
    up = settings.CACHES["default"]
    if up["BACKEND"] != "tipengine.redis_cache.ReusingRedisCache":
        raise SystemExit("set REDIS_URL: this compares the Redis cache up and down")
    down = {**up, "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    client = Client()
    results: dict[str, tuple[list[float], list[int]]] = {"up": ([], []), "down": ([], [])}
    for _ in range(args.rounds):
        for mode, cache in (("up", up), ("down", down)):
            with override_settings(CACHES={"default": cache}):
                serve(client, tokens, 20)  # warm: the cache filled (up) or the outage noticed (down)
                seconds, statements = serve(client, tokens, args.calls)
            results[mode][0].extend(seconds)
            results[mode][1].extend(statements)
    for mode, (seconds, statements) in results.items():
        print(
            f"Redis {mode:<4}  p50 {statistics.median(seconds) * 1000:6.1f} ms"
            f"  SQL statements per serve {statistics.mean(statements):4.1f}  ({len(seconds)} calls)"
        )


if __name__ == "__main__":
    main()
