"""What a serve cannot go below on this machine: saturated throughput of views doing one part of a serve each.

Issue 5 asks saturated GET /api/v1/tips/ to reach half of /healthz's throughput. This measures, on one
gunicorn in one run and interleaved (16 keep-alive clients, closed loop, as bench/serve.py), /healthz and:
  /floor/cache-get              one cache GET (what reading a cached token costs);
  /floor/select-one             one SELECT 1;
  /floor/insert                 one durable one-row INSERT;
  /floor/cache-get-and-insert   both: a "serve" that only authenticates and logs;
  /api/v1/tips/?limit=3         the real serve (seeded bench database, warm caches).
Each is reported with its ratio to /healthz of the same round (the better of a /healthz run before and after),
and with its CPU per request by process (bench/cpu.py: gunicorn's process group, the database's PostgreSQL
backends and the WAL writer, redis-server, the load generator), measured around its saturated run. `cpu_ratio` is
the real serve's CPU per request (web + PostgreSQL + Redis) over the cache-get-and-insert view's, in the round.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/floor.py --tokens-file var/bench/tokens.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuMeter, per_request  # noqa: E402
from bench.loadgen import add_load_arguments, closed_loop  # noqa: E402
from bench.serve import HOST, expire_pools, gunicorn_process, server_env  # noqa: E402

FLOOR_PATHS = ("/floor/cache-get", "/floor/select-one", "/floor/insert", "/floor/cache-get-and-insert")
FLOOR_VIEW, SERVE = "/floor/cache-get-and-insert", "/api/v1/tips/?limit=3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_arguments(parser)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from testsupport.llm.fake_ollama import FakeOllama

    tokens = [t for t in args.tokens_file.read_text().split() if t]
    headers = [{"Authorization": f"Token {t}"} for t in tokens]
    expire_pools(48.0)
    rounds = []
    with FakeOllama() as ollama:
        env = {**server_env(ollama.url, args), "DJANGO_SETTINGS_MODULE": "bench.floor_settings"}
        with gunicorn_process(env, workers=args.workers, threads=args.threads) as (port, pgid):
            meter = CpuMeter(web_pgid=pgid, database_url=os.environ["DATABASE_URL"], redis_url=env["REDIS_URL"])

            def saturate(target: str) -> tuple[float, dict[str, float]]:
                def request(i: int) -> tuple[str, dict[str, str]]:
                    return (target, headers[i % len(headers)]) if target.startswith("/api/") else (target, {})

                with meter.measure() as used:
                    result = asyncio.run(closed_loop(HOST, port, request, clients=args.clients, seconds=args.seconds))
                if result.errors:
                    raise SystemExit(f"{target}: {result.errors}")
                return result.throughput, per_request(used, result.count)

            saturate(SERVE)  # warm: every worker, and every user's cached state
            for number in range(args.rounds):
                before, _ = saturate("/healthz")
                measured = {target: saturate(target) for target in (*FLOOR_PATHS, SERVE)}
                # /healthz now and then runs at half speed (connections landing unevenly on the workers): the
                # better of its two runs around the round is the denominator, which can only lower the ratios.
                healthz = max(before, saturate("/healthz")[0])
                row: dict[str, Any] = {"round": number + 1, "/healthz": round(healthz, 1)}
                for target, (rps, cpu_ms) in measured.items():
                    row[target] = {"rps": round(rps, 1), "ratio": round(rps / healthz, 3), "cpu_ms": cpu_ms}
                row["cpu_ratio"] = round(measured[SERVE][1]["total"] / measured[FLOOR_VIEW][1]["total"], 2)
                print(json.dumps(row), flush=True)
                rounds.append(row)
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": rounds}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
