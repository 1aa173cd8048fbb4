"""Fault benchmark: tips and feedback under load while a private Redis or PostgreSQL is killed, frozen or stopped.

    .venv/bin/python bench/faults.py --scenario redis-kill --out var/bench/faults-redis-kill.json
    .venv/bin/python bench/faults.py --scenario redis-freeze
    .venv/bin/python bench/faults.py --scenario postgres-stop

Everything runs on private servers made for the run (testsupport/faults.py): a PostgreSQL cluster
(initdb), a redis-server (cache and broker) and gunicorn (DEBUG off, 2 workers x 2 threads, port 8114), seeded
with bench/seed.py (20 active users with sample tasks and a warm pool). Client threads call GET /api/v1/tips/
and POST feedback (a unique Idempotency-Key each) for --before s, the fault lasts --fault s, then --after s.
Reported: calls, status counts, 5xx other than a 503 in the error shape (must be 0), feedback answered 201
versus rows in PostgreSQL (lost must be 0), the slowest call, and the time from the repair to the first
answer served from the repaired dependency again (/readyz 200). `tips` gives tips served a second and their p50
before the fault and during it, so one run compares serving with the dependency up and down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.faults import PrivatePostgres, PrivateRedis, WebServer, production_env, wait_until  # noqa: E402

PORT = 8114


@dataclass
class Log:
    calls: list[tuple[float, str, int, float, bool]] = field(default_factory=list)  # (t, kind, status, s, shaped)
    feedback_keys: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, started: float, response: httpx.Response | None) -> None:
        shaped = False
        if response is not None and status == 503:
            try:
                shaped = "error" in response.json() and "Retry-After" in response.headers
            except ValueError:
                shaped = False
        with self.lock:
            self.calls.append((started, kind, status, time.monotonic() - started, shaped))


def client_loop(base: str, token: str, log: Log, stop: threading.Event, *, feedback: bool) -> None:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30)
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = client.get("/api/v1/tips/", params={"limit": 3})
            log.add("tips", response.status_code, started, response)
        except httpx.HTTPError:
            log.add("tips", 0, started, None)
            continue
        if not feedback or response.status_code != 200 or not response.json()["tips"]:
            continue
        tip_id = response.json()["tips"][0]["id"]
        key = uuid.uuid4().hex
        started = time.monotonic()
        try:
            answer = client.post(
                f"/api/v1/tips/{tip_id}/feedback/", json={"action": "accepted"}, headers={"Idempotency-Key": key}
            )
            log.add("feedback", answer.status_code, started, answer)
            if answer.status_code == 201:
                with log.lock:
                    log.feedback_keys.append(key)
        except httpx.HTTPError:
            log.add("feedback", 0, started, None)


def p50_ms(calls: list[tuple[float, str, int, float, bool]]) -> float | None:
    return round(sorted(c[3] for c in calls)[len(calls) // 2] * 1000, 1) if calls else None


def serve_figures(calls: list[tuple[float, str, int, float, bool]], seconds: float) -> dict:
    """Tips calls answered 200 in one phase of the run: how many a second, and their median latency."""
    served = [c for c in calls if c[1] == "tips" and c[2] == 200]
    return {"served_per_s": round(len(served) / seconds, 1), "p50_ms": p50_ms(served)}


def run(args: argparse.Namespace) -> dict:
    postgres = PrivatePostgres().init()
    redis = PrivateRedis().start()
    server = None
    try:
        postgres.create_database("tipengine")
        env = production_env(
            postgres,
            redis,
            TASKS_MODE="celery",
            GUNICORN_THREADS="2",
            # Few users calling hard: throttles (per-user policy) would answer 429s, not what is measured here.
            THROTTLE_TIPS_RATE="1000000/min",
            THROTTLE_FEEDBACK_RATE="1000000/min",
            THROTTLE_HISTORY_RATE="1000000/min",
        )
        tokens_file = Path(postgres.dir) / "tokens.txt"
        seed = [sys.executable, "bench/seed.py", "--migrate", "--users", "40", "--tips", "2000", "--active", "20"]
        subprocess.run(
            [*seed, "--tokens-file", str(tokens_file)],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        tokens = tokens_file.read_text().split()
        server = WebServer(env=env, port=PORT, workers=2).start()
        log, stop = Log(), threading.Event()
        threads = [
            threading.Thread(target=client_loop, args=(server.url, token, log, stop), kwargs={"feedback": i % 2 == 0})
            for i, token in enumerate(tokens[: args.clients])
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.before)  # the load runs meanwhile; this is the schedule, not a synchronisation
        fault_at = time.monotonic()
        if args.scenario == "redis-kill":
            redis.kill()
        elif args.scenario == "redis-freeze":
            redis.freeze()
        else:
            postgres.stop()
        time.sleep(args.fault)
        repaired_at = time.monotonic()
        if args.scenario == "redis-kill":
            redis.start()
        elif args.scenario == "redis-freeze":
            redis.thaw()
        else:
            postgres.start()
        probe = httpx.Client(base_url=server.url, timeout=30)
        wait_until(lambda: probe.get("/readyz").status_code == 200, timeout_s=120, what="/readyz to answer 200")
        ready_after_s = time.monotonic() - repaired_at
        time.sleep(args.after)
        stop.set()
        for thread in threads:
            thread.join()

        with psycopg.connect(postgres.url("tipengine")) as conn:
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT idempotency_key FROM recommender_feedbackevent WHERE idempotency_key = ANY(%s)",
                    [log.feedback_keys],
                )
            }
        before = [c for c in log.calls if c[0] < fault_at]
        during = [c for c in log.calls if fault_at <= c[0] < repaired_at]
        after_repair = [c for c in log.calls if c[0] >= repaired_at]
        phases = {"before": (before, fault_at - started), "during": (during, repaired_at - fault_at)}
        first_ok_after = min((c[0] + c[3] for c in after_repair if c[2] in (200, 201)), default=None)
        statuses = Counter(f"{kind} {status}" for _, kind, status, _, _ in log.calls)
        return {
            "scenario": args.scenario,
            "fault_s": args.fault,
            "clients": len(threads),
            "calls": len(log.calls),
            "calls_during_fault": len(during),
            "statuses": dict(sorted(statuses.items())),
            "5xx_other_than_503_in_error_shape": sum(
                1 for _, _, status, _, shaped in log.calls if status >= 500 and not (status == 503 and shaped)
            )
            + statuses.get("tips 0", 0)
            + statuses.get("feedback 0", 0),
            "feedback_201": len(log.feedback_keys),
            "feedback_lost": len(log.feedback_keys) - len(stored),
            "max_latency_ms": round(max(c[3] for c in log.calls) * 1000, 1),
            "max_latency_during_fault_ms": round(max((c[3] for c in during), default=0) * 1000, 1),
            "p50_latency_during_fault_ms": p50_ms(during),
            # Tips calls only (feedback follows a served tip): serving with the dependency up, then down.
            "tips": {name: serve_figures(calls, seconds) for name, (calls, seconds) in phases.items()},
            "readyz_200_after_repair_s": round(ready_after_s, 2),
            "first_success_after_repair_s": round(first_ok_after - repaired_at, 2) if first_ok_after else None,
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        postgres.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["redis-kill", "redis-freeze", "postgres-stop"], required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--fault", type=float, default=15.0)
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
