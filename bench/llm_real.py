"""A real model in the loop: the project's own generation path against a model server on loopback.

Each request builds a different task list (seeded), then runs `generation.services.pool_refresh`: prompt,
gateway (the in-process litellm Router built from the alias file), parsing, validation, the pool row.
It reports what users would get from that model: requests, answers, schema-valid rate, grounded rate,
drops by reason, latency p50/p95 per refresh and per call, tokens per call.

Opt-in, never in `make test` or CI. Start the model first (`make llm-local`, another shell), then:
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/tipengine_bench \\
        .venv/bin/python bench/llm_real.py --requests 20
Defaults: alias file infra/litellm/litellm_config.local.yaml, LLM_LOCAL_URL=http://127.0.0.1:8089/v1.
The breaker is reset before each refresh, so a bad answer streak is measured rather than skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TASKS = [
    ("Write the quarterly report", 4),
    ("Reply to the landlord about the heating", 3),
    ("Book a dentist appointment", 2),
    ("Plan the team offsite", 3),
    ("Renew the passport", 4),
    ("Review Anna's pull request", 3),
    ("Buy a birthday present for Sam", 2),
    ("File the expense report", 3),
    ("Call the insurance about the claim", 4),
    ("Clean up the shared drive", 1),
    ("Prepare slides for Monday's standup", 3),
    ("Pay the electricity bill", 4),
    ("Read chapter 3 of the design book", 1),
    ("Order printer toner", 1),
    ("Schedule a 1:1 with the new hire", 2),
    ("Update the project roadmap", 2),
    ("Fix the leaking kitchen tap", 2),
    ("Send the contract draft to legal", 4),
    ("Back up the laptop", 1),
    ("Draft the newsletter", 2),
]


def task_list(rng: random.Random, today: date) -> list[Any]:
    from integrations.todoist.types import TodoistTask

    picked = rng.sample(range(len(TASKS)), rng.randint(4, 10))
    tasks = []
    for index in picked:
        content, priority = TASKS[index]
        due_in = rng.choice([None, None, -5, -2, -1, 0, 0, 1, 3, 7])
        due = today + timedelta(days=due_in) if due_in is not None else None
        tasks.append(TodoistTask(id=str(9000 + index), content=content, priority=priority, due_date=due))
    return tasks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="pool refreshes, each with its own task list")
    parser.add_argument("--timeout", type=float, default=60.0, help="budget per refresh (all attempts), seconds")
    parser.add_argument("--config", default=str(REPO / "infra" / "litellm" / "litellm_config.local.yaml"))
    parser.add_argument("--url", default=os.environ.get("LLM_LOCAL_URL", "http://127.0.0.1:8089/v1"))
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args()

    os.environ["LITELLM_CONFIG_PATH"] = args.config
    os.environ["LLM_LOCAL_URL"] = args.url
    os.environ.pop("LITELLM_URL", None)  # the in-process router reads the alias file
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    import django

    django.setup()
    summary = run(args)
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from generation import gateway
    from generation.breaker import gateway_breaker
    from generation.errors import GenerationError
    from generation.models import CandidatePool
    from generation.reporting import GenerationReport, generation_reported
    from generation.services import pool_refresh

    logging.disable(logging.INFO)
    reports: list[GenerationReport] = []
    generation_reported.connect(lambda report, **_: reports.append(report), weak=False)
    user, _ = get_user_model().objects.get_or_create(username="bench-llm-real")
    rng = random.Random(args.seed)
    started = time.perf_counter()
    gateway.warm_up()
    warm_s = time.perf_counter() - started
    errors: Counter[str] = Counter()
    pools = 0
    for _ in range(args.requests):
        gateway_breaker().reset()
        tasks = task_list(rng, timezone.localdate())  # the day in the zone the prompt speaks (TIME_ZONE)
        try:
            candidates = pool_refresh(user=user, tasks=tasks, timeout_s=args.timeout, fresh_for_s=10**9)
        except GenerationError as exc:
            errors[exc.code] += 1
            continue
        pool = CandidatePool.objects.get(user=user)
        pools += int(len(pool.candidates) == len(candidates))
    return summarize(reports, errors=errors, pools=pools, warm_s=warm_s, args=args)


def summarize(
    reports: list[Any], *, errors: Counter[str], pools: int, warm_s: float, args: argparse.Namespace
) -> dict[str, Any]:
    calls = [ms for r in reports for ms in r.call_ms]
    answers = sum(len(r.call_ms) for r in reports)
    unusable = sum(r.unusable_answers for r in reports)
    returned, kept, grounded = (sum(getattr(r, name) for r in reports) for name in ("returned", "kept", "grounded"))
    dropped: Counter[str] = Counter()
    for report in reports:
        dropped.update(report.dropped)
    ok = [r for r in reports if r.outcome == "ok"]
    tokens_in = sum(r.prompt_tokens for r in reports)
    tokens_out = sum(r.completion_tokens for r in reports)
    return {
        "model": next((r.model for r in reports if r.model), "-"),
        "response_format": next((r.response_format for r in reports), "-"),
        "requests": len(reports),
        "outcomes": dict(Counter(r.outcome for r in reports)),
        "pools_stored": pools,
        "chat_calls": answers,
        "schema_valid_rate": round((answers - unusable) / answers, 3) if answers else None,
        "tips_returned": returned,
        "tips_kept": kept,
        "tip_valid_rate": round(kept / returned, 3) if returned else None,
        "grounded_rate": round(grounded / kept, 3) if kept else None,
        "dropped_by_reason": dict(dropped),
        "refresh_ms_p50": round(percentile([r.latency_ms for r in ok], 0.5)),
        "refresh_ms_p95": round(percentile([r.latency_ms for r in ok], 0.95)),
        "call_ms_p50": round(percentile(calls, 0.5)),
        "call_ms_p95": round(percentile(calls, 0.95)),
        "prompt_tokens_per_call": round(tokens_in / answers, 1) if answers else None,
        "completion_tokens_per_call": round(tokens_out / answers, 1) if answers else None,
        "completion_tokens_per_s": round(tokens_out / (sum(calls) / 1000), 1) if calls else None,
        "mean_attempts": round(statistics.mean(r.attempts for r in reports), 2) if reports else None,
        "errors": dict(errors),
        "warm_up_s": round(warm_s, 1),
        "timeout_s": args.timeout,
        "seed": args.seed,
    }


if __name__ == "__main__":
    main()
