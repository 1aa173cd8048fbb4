"""Benchmark offline evaluation: evaluate one policy over a million logged tips (time and peak memory).

bench/seed.py (issue 5) logs tips without candidate sets, which offline evaluation rightly skips as legacy,
so `seed` here writes evaluable logs with the same COPY helpers: every request has its candidate set (the
`describe()` dicts serving logs) and three tips picked uniformly without replacement, each with its exact
propensity 1/(candidates left). `run` evaluates in a fresh process and reports wall time and peak RSS.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_eval
    .venv/bin/python bench/evaluate.py seed --tips 1000000 --users 10000 --migrate
    .venv/bin/python bench/evaluate.py run --policy egreedy
    .venv/bin/python bench/evaluate.py run --policy thompson
    .venv/bin/python bench/evaluate.py choose --policy thompson     # serving cost of one slate, no database
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import _copy, _fix_sequence, _next_id, indexes_dropped, reset, seed_users, setup_django

KINDS = ("do_now", "break_down", "reschedule", "batch", "plan", "wellbeing")
SOURCES = ("todoist", "llm")
ARMS = [(s, k) for s in SOURCES for k in KINDS]
TIPS_PER_REQUEST = 3
# Hidden mean reward per arm (todoist arms first): what a good policy should learn to prefer.
MEANS = np.array([0.55, 0.35, 0.45, 0.25, 0.30, 0.20, 0.60, 0.30, 0.40, 0.30, 0.35, 0.25])
REWARDS = np.array([0.0, 0.125, 0.25, 0.75, 1.0])


def _candidate(source: str, kind: str, task: int, due_age: int) -> dict:
    llm = source == "llm"
    return {
        "arm": f"{source}:{kind}",
        "kind": kind,
        "source": source,
        "task_ids": [f"task-{task}"] if kind != "wellbeing" else [],
        "prompt_version": "tips-v2" if llm else "rules-v1",
        "llm_model": "ollama_chat/qwen2.5:7b" if llm else None,
        "features": {"due_age_days": due_age},
    }


def seed_evaluable(cursor, user_ids: list[int], n: int, *, days: float, rng: np.random.Generator) -> int:
    """COPY ceil(n / 3) requests with candidate sets and n tips picked uniformly, with rewards and windows."""
    requests = -(-n // TIPS_PER_REQUEST)
    first_request = _next_id(cursor, "recommender_tiprequest")
    first_tip = _next_id(cursor, "tip_scores")
    now = datetime.now().astimezone()
    req_user = rng.choice(np.asarray(user_ids), size=requests)
    req_time = [now - timedelta(seconds=float(a)) for a in np.sort(rng.uniform(0, days * 86400, requests))[::-1]]
    # Candidate sets: 4..8 distinct arms per request, then 3 picks without replacement (uniform logging).
    sizes = rng.integers(4, 9, size=requests)
    order = np.argsort(rng.random((requests, len(ARMS))), axis=1)
    reward_draw = rng.random(n)

    def reward_of(arm: int, u: float) -> float:
        # A reward with the arm's mean: a two-point mix of the table's values around it.
        mean = MEANS[arm]
        high = 0.75 if mean < 0.75 else 1.0
        return high if u < mean / high else 0.0

    columns = ["id", "request_id", "user_id", "position", "tip_kind", "source", "title", "body", "rationale"]
    columns += ["task_ids", "prompt_version", "llm_model", "score", "propensity", "due_age_days", "features"]
    columns += ["served_at", "last_action", "reward", "feedback_at", "finalized_at"]

    def request_iter():
        for r in range(requests):
            arms = order[r, : sizes[r]]
            candidates = [_candidate(*ARMS[a], task=int(r % 50), due_age=int(r % 7)) for a in arms]
            yield (
                first_request + r,
                int(req_user[r]),
                req_time[r],
                "uniform",
                "{}",
                json.dumps(candidates),
                "[]",
            )

    def tip_iter():
        for r in range(requests):
            size = int(sizes[r])
            served = req_time[r]
            final = served + timedelta(hours=24) < now
            for position in range(min(TIPS_PER_REQUEST, n - r * TIPS_PER_REQUEST)):
                i = r * TIPS_PER_REQUEST + position
                arm = int(order[r, position])  # the candidate order is already a uniform shuffle
                source, kind = ARMS[arm]
                reward = reward_of(arm, float(reward_draw[i]))
                action = "accepted" if reward == 0.75 else "completed" if reward == 1.0 else None
                yield (
                    first_tip + i, first_request + r, int(req_user[r]), position, kind, source,
                    f"{kind} tip {i}", "Spend ten focused minutes on it.", "", "[]",
                    "tips-v2" if source == "llm" else "rules-v1",
                    "ollama_chat/qwen2.5:7b" if source == "llm" else None,
                    0.0, 1.0 / (size - position), int(r % 7), "{}", served, action,
                    reward if final or action else None,
                    served + timedelta(minutes=30) if action else None,
                    served + timedelta(hours=24) if final else None,
                )  # fmt: skip

    with indexes_dropped(cursor, "recommender_tiprequest"):
        _copy(
            cursor,
            "recommender_tiprequest",
            ["id", "user_id", "created_at", "policy", "policy_params", "candidates", "degraded"],
            request_iter(),
        )
    with indexes_dropped(cursor, "tip_scores"):
        count = _copy(cursor, "tip_scores", columns, tip_iter())
    _fix_sequence(cursor, "recommender_tiprequest")
    _fix_sequence(cursor, "tip_scores")
    return count


def seed(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    if args.migrate:
        call_command("migrate", "--noinput", verbosity=0)
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor
        reset(cursor)
        users = seed_users(cursor, args.users)
        count = seed_evaluable(cursor, users, args.tips, days=args.days, rng=np.random.default_rng(args.seed))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {args.users} users and {count} evaluable tips in {time.monotonic() - started:.1f} s")


def run(args: argparse.Namespace) -> None:
    from recommender.evaluation.report import evaluation_table
    from recommender.evaluation.selectors import policy_evaluation
    from recommender.policies import get_policy

    policy = get_policy(args.policy)
    started = time.perf_counter()
    evaluation = policy_evaluation(policy=policy, positions=args.positions, stats=args.stats, by=args.by)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(evaluation_table(evaluation))
    print(
        f"\nbench: policy={args.policy} positions={args.positions} stats={args.stats} "
        f"requests={evaluation.requests} evaluated={evaluation.rows} skipped={sum(evaluation.skipped.values())} "
        f"seconds={seconds:.1f} peak_rss_mb={peak_mb:.0f}"
    )


def choose(args: argparse.Namespace) -> None:
    """Median and p95 of one `choose()` call (a slate of 3 from --candidates over 12 learned arms), and CPU per call.

    Candidates carry the features serving gives them, so the contextual policy builds its examples as it
    would on a request.
    """
    from generation.candidates import TipCandidate
    from recommender.policies import ArmEstimate, get_policy

    rng = np.random.default_rng(args.seed)
    policy = get_policy(args.policy)
    pools, stats = [], []
    for _ in range(args.calls):
        arms = rng.choice(len(ARMS), size=args.candidates)
        shared = {"local_hour": int(rng.integers(24)), "weekday": int(rng.integers(7)), "open_tasks": 20}
        shared["user_id"] = len(pools) % 1000 + 1  # not drawn: the pools stay those of trees before the user feature
        task = {"n_tasks": 1, "overdue_tasks": 3}
        pools.append(
            [
                TipCandidate(
                    kind=ARMS[a][1],
                    source=ARMS[a][0],
                    title=f"{a}-{i}",
                    body="",
                    task_ids=(f"t{i}",),
                    prompt_version="tips-v3",
                    features={**shared, **task, "due_age_days": int(rng.integers(-1, 9)), "max_priority": 1 + i % 4},
                )
                for i, a in enumerate(arms)
            ]
        )
        counts = rng.integers(5, 500, size=len(ARMS)).astype(float)
        stats.append({f"{s}:{k}": ArmEstimate(c, c * m) for (s, k), c, m in zip(ARMS, counts, MEANS, strict=True)})
    timings = []
    cpu_started = time.process_time()
    for pool, estimates in zip(pools, stats, strict=True):
        started = time.perf_counter()
        policy.choose(pool, estimates, rng, 3)
        timings.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / args.calls
    print(
        f"bench: choose policy={args.policy} candidates={args.candidates} calls={args.calls} "
        f"median_ms={np.median(timings):.3f} p95_ms={np.percentile(timings, 95):.3f} cpu_ms_per_call={cpu_ms:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="write evaluable logs (empties the recommender tables)")
    seeding.add_argument("--tips", type=int, default=1_000_000)
    seeding.add_argument("--users", type=int, default=10_000)
    seeding.add_argument("--days", type=float, default=90.0)
    seeding.add_argument("--seed", type=int, default=1)
    seeding.add_argument("--migrate", action="store_true")
    running = commands.add_parser("run", help="evaluate one policy over everything logged")
    running.add_argument("--policy", default="egreedy")
    running.add_argument("--positions", default="first", choices=("first", "all"))
    running.add_argument("--stats", default="replay", choices=("replay", "frozen"))
    running.add_argument("--by", choices=("prompt_version", "tip_kind", "llm_model"))
    timing = commands.add_parser("choose", help="time one policy's choose() on a slate of 3 (no database)")
    timing.add_argument("--policy", default="thompson")
    timing.add_argument("--calls", type=int, default=500)
    timing.add_argument("--candidates", type=int, default=10)
    timing.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    setup_django()
    {"seed": seed, "run": run, "choose": choose}[args.command](args)


if __name__ == "__main__":
    main()
