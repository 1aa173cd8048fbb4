"""Throttle race: N simultaneous GET /api/v1/tips/ for one user against gunicorn on private PostgreSQL and Redis.

    .venv/bin/python bench/throttle_race.py --calls 100 --rate 60/min

Prints how many calls got past the throttle (any answer but 429) against the rate. DRF's read-then-write
throttle let 68 and 70 of 100 through against 60/min (2 workers x 2 threads); the atomic counter (ADR 0096)
lets exactly 60 through. A run that straddles the start of a minute may pass more: the windows are fixed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.faults import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    WebServer,
    migrated_with_users,
    production_env,
)


def race(base_url: str, token: str, calls: int) -> Counter[int]:
    start = threading.Barrier(calls)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def call() -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=60) as client:
            start.wait()
            status = client.get("/api/v1/tips/").status_code
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", default="60/min")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    postgres, redis = PrivatePostgres().init(), PrivateRedis().start()
    server = None
    try:
        postgres.create_database("tipengine")
        env = production_env(
            postgres,
            redis,
            THROTTLE_TIPS_RATE=args.rate,
        )
        token = migrated_with_users(env, ["alice"])["alice"]
        server = WebServer(env=env, workers=args.workers).start()
        statuses = race(server.url, token, args.calls)
        passed = sum(count for status, count in statuses.items() if status != 429)
        print(json.dumps({"calls": args.calls, "rate": args.rate, "passed": passed, "statuses": dict(statuses)}))
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        postgres.destroy()


if __name__ == "__main__":
    main()
