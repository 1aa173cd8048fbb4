"""Feedback benchmark: POST /api/v1/tips/<id>/feedback/ under gunicorn, PostgreSQL and Redis on loopback.

The setting of the serving benchmark (bench/serve.py): seed 10k users and 1M tip_scores first, then

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_fb .venv/bin/python bench/seed.py \\
        --migrate --reset --users 10000 --tips 1000000 --active 1000 --tokens-file var/bench/fb_tokens.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_fb REDIS_URL=redis://127.0.0.1:6379/10 \\
        .venv/bin/python bench/feedback.py --tokens-file var/bench/fb_tokens.txt --out var/bench/feedback.json

It serves fresh open tips to the active users (rows written directly, as serving would), warms up with one
call per user (tokens cached, as for a user who was just served), then measures
  1. serial: one keep-alive client, p50/p99;
  2. saturated: 16 keep-alive clients, closed loop;
  3. open loop: a constant rate of half the saturated throughput, sends scheduled by the clock.
Every request targets a different tip and carries an Idempotency-Key; actions cycle viewed, accepted,
completed, so a third of the requests finalize a reward and update the arm statistics. Any answer other
than 201 is counted as an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import add_load_arguments, closed_loop, open_loop  # noqa: E402
from bench.serve import HOST, gunicorn, server_env  # noqa: E402

ACTIONS = ("viewed", "accepted", "completed")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


def serve_open_tips(tokens: list[str], count: int) -> list[tuple[int, str]]:
    """Write `count` fresh tips round-robin over the token owners; return (tip id, token) pairs."""
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from recommender.models import TipRequest, TipScore

    owner = dict(Token.objects.filter(key__in=tokens).values_list("key", "user_id"))
    now = timezone.now()
    pairs: list[tuple[int, str]] = []
    with transaction.atomic():
        requests = TipRequest.objects.bulk_create(
            [
                TipRequest(user_id=owner[tokens[r % len(tokens)]], created_at=now, policy="egreedy")
                for r in range(count)
            ],
            batch_size=5000,
        )
        tips = TipScore.objects.bulk_create(
            [
                TipScore(
                    request=req,
                    user_id=req.user_id,
                    position=0,
                    tip_kind="do_now",
                    source="todoist",
                    title="Bench tip",
                    task_ids=["sample-01"],
                    prompt_version="rules-v1",
                    score=0.5,
                    propensity=0.9,
                    served_at=now,
                )
                for req in requests
            ],
            batch_size=5000,
        )
    for r, tip in enumerate(tips):
        pairs.append((tip.pk, tokens[r % len(tokens)]))
    return pairs


class Feed:
    """Hands out request i as a POST on a tip nobody has used yet in this run."""

    def __init__(self, pairs: list[tuple[int, str]]) -> None:
        self.pairs = pairs
        self.next = 0

    def phase(self):
        start = self.next

        def make(i: int) -> tuple[str, dict[str, str], bytes]:
            index = start + i
            if index >= len(self.pairs):
                raise SystemExit("bench/feedback.py ran out of open tips: raise --tips-per-phase")
            self.next = max(self.next, index + 1)
            tip_id, token = self.pairs[index]
            headers = {"Authorization": f"Token {token}", "Idempotency-Key": uuid.uuid4().hex}
            return f"/api/v1/tips/{tip_id}/feedback/", headers, json.dumps({"action": ACTIONS[i % 3]}).encode()

        return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_arguments(parser)
    parser.add_argument("--tips", type=int, default=40_000, help="fresh open tips written for the run")
    parser.add_argument(
        "--rate", type=float, help="open-loop rate (default: half the saturated throughput); fixed, to compare trees"
    )
    args = parser.parse_args()

    setup_django()
    tokens = [t for t in args.tokens_file.read_text().split() if t]
    started = time.monotonic()
    feed = Feed(serve_open_tips(tokens, args.tips))
    print(f"wrote {args.tips} open tips in {time.monotonic() - started:.1f} s", flush=True)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    env = server_env("http://127.0.0.1:9", args)  # no model is called: feedback never reaches the gateway
    # As bench/serve.py (and a deployment): collected static files for WhiteNoise.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    with gunicorn(env, workers=args.workers, threads=args.threads) as port:
        # Warm every worker and authenticate every user once, as bench/serve.py does: an active user's token
        # is in the cache (a user gives feedback on tips they were just served), so no phase pays first uses.
        warmup = max(args.warmup, len(tokens))
        asyncio.run(closed_loop(HOST, port, feed.phase(), clients=args.clients, requests=warmup))
        results["load_average"] = {"before": os.getloadavg()[0]}
        results["serial"] = asyncio.run(
            closed_loop(HOST, port, feed.phase(), clients=1, requests=args.serial)
        ).summary()
        print("serial", results["serial"], flush=True)
        # The floor on this machine, same server and client: a request that touches nothing.
        health = asyncio.run(closed_loop(HOST, port, lambda i: ("/healthz", {}), clients=1, requests=args.serial))
        results["serial_healthz"] = health.summary()
        print("serial /healthz", results["serial_healthz"], flush=True)
        saturated = asyncio.run(closed_loop(HOST, port, feed.phase(), clients=args.clients, seconds=args.seconds))
        results["saturated"] = saturated.summary()
        print("saturated", results["saturated"], flush=True)
        rate = args.rate or saturated.throughput / 2
        results["open_loop_rate"] = round(rate, 1)
        results["open_loop"] = asyncio.run(
            open_loop(HOST, port, feed.phase(), rate=rate, seconds=args.seconds)
        ).summary()
        print(f"open loop @ {rate:.0f}/s", results["open_loop"], flush=True)
        # 1-minute load average at the end (this run's own processes included): how shared the 2 cores were.
        results["load_average"]["after"] = os.getloadavg()[0]
    results["tips_used"] = feed.next
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
