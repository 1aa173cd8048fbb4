"""Load a benchmark-sized tipengine database quickly: users with API tokens, served tips, arm statistics.

Rows go in with PostgreSQL COPY (a million tip_scores rows in well under a minute here), so this needs
PostgreSQL. Everything is deterministic for a given --seed. Reusable by every benchmark:

    # 10k users, 1M tip_scores over 90 days, 1000 "active" users with sample tasks and a warm LLM pool
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench .venv/bin/python bench/seed.py \\
        --reset --users 10000 --tips 1000000 --active 1000 --tokens-file var/bench/tokens.txt

    from bench.seed import seed; seed(users=100, tips=5000)    # from another bench script (Django set up)

--reset empties the recommender tables and deletes earlier bench users (username prefix `bench-`) first.
Active users are connected to the bundled sample task set and get a fresh LLM candidate pool, so a load
generator serving them exercises the normal path; their API tokens are written to --tokens-file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PREFIX = "bench-"
KINDS = ("do_now", "break_down", "reschedule", "batch", "plan", "wellbeing")
MODELS = ("ollama_chat/qwen2.5:7b", "ollama_chat/llama3.1:8b", "anthropic/claude-haiku-4-5")
LLM_PROMPTS = ("tips-v1", "tips-v2")
# (action, probability, reward); None: no feedback, default reward once the window closed.
ACTIONS = (
    (None, 0.55, 0.0),
    ("viewed", 0.10, 0.125),
    ("accepted", 0.12, 0.75),
    ("dismissed", 0.12, 0.0),
    ("snoozed", 0.05, 0.25),
    ("completed", 0.06, 1.0),
)
TIPS_PER_REQUEST = 3
BULK_ROWS = 50_000  # from this many rows, drop secondary indexes during the load and rebuild them after
SAMPLE_TASK_IDS = [f"sample-{i:02d}" for i in range(1, 15)]
WORDS = ("report", "inbox", "taxes", "passport", "dentist", "talk", "blog", "bank", "plants", "review", "invoice")


@dataclass(frozen=True)
class SeedResult:
    user_ids: list[int]
    active_user_ids: list[int]
    tokens: list[str]  # API tokens of the active users
    tips: int
    seconds: float


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")  # seeding needs no production secrets
    import django

    django.setup()


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
    return cursor.fetchone()[0]


def _fix_sequence(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
    )


@contextlib.contextmanager
def indexes_dropped(cursor, table: str) -> Iterator[None]:
    """Drop `table`'s secondary indexes for a bulk load and rebuild them after (several times faster).

    Indexes that back a constraint (primary key, unique) stay. Runs inside the caller's transaction, so a
    failed load leaves the indexes as they were.
    """
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    # Django's foreign keys are DEFERRABLE: check the loaded rows now, or CREATE INDEX refuses to run.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        cursor.execute(definition)
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def reset(cursor) -> None:
    """Empty the recommender's tables and remove earlier bench users (and, by cascade, their rows)."""
    from django.contrib.auth import get_user_model

    # CASCADE: whatever else refers to served tips (feedback, evaluation tables) goes with them.
    cursor.execute("TRUNCATE tip_scores, recommender_tiprequest, recommender_armstat RESTART IDENTITY CASCADE")
    get_user_model().objects.filter(username__startswith=PREFIX).delete()  # Django cascades to their rows


def seed_users(cursor, n: int) -> list[int]:
    """COPY `n` users (unusable passwords) and return their ids."""
    from django.contrib.auth import get_user_model

    table = get_user_model()._meta.db_table
    first = _next_id(cursor, table)
    now = datetime.now().astimezone()
    rows = (
        (
            first + i,
            "!",
            False,
            f"{PREFIX}{first + i:07d}",
            "",
            "",
            f"{PREFIX}{first + i}@example.org",
            False,
            True,
            now,
        )
        for i in range(n)
    )
    columns = ["id", "password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff"]
    _copy(cursor, table, [*columns, "is_active", "date_joined"], rows)
    _fix_sequence(cursor, table)
    return list(range(first, first + n))


def seed_tokens(cursor, user_ids: list[int]) -> list[str]:
    """COPY a DRF API token for each user; returns them in the same order."""
    now = datetime.now().astimezone()
    tokens = [secrets.token_hex(20) for _ in user_ids]
    _copy(
        cursor,
        "authtoken_token",
        ["key", "user_id", "created"],
        ((t, u, now) for t, u in zip(tokens, user_ids, strict=True)),
    )
    return tokens


def seed_active(user_ids: list[int], *, pool_hours: float = 48.0) -> None:
    """Connect users to the sample task set and give each a fresh LLM pool (through the real services/models)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from generation.candidates import TipCandidate, TipSource
    from generation.models import CandidatePool, candidate_to_dict
    from integrations.services.tokens import integration_connect_sample

    candidates = [
        TipCandidate(
            kind=kind,
            source=TipSource.LLM.value,
            title=f"Model tip: {kind.replace('_', ' ')} {task_id}",
            body="Open the task and spend ten focused minutes on it.",
            rationale="It is the most urgent thing on the list.",
            task_ids=(task_id,) if kind != "wellbeing" else (),
            llm_model=MODELS[0],
            prompt_version=LLM_PROMPTS[-1],
        )
        for kind, task_id in zip(KINDS, SAMPLE_TASK_IDS[::2], strict=False)
    ]
    now = timezone.now()
    users = get_user_model().objects.filter(pk__in=user_ids)
    for user in users.iterator():
        integration_connect_sample(user=user)
    CandidatePool.objects.filter(user_id__in=user_ids).delete()
    CandidatePool.objects.bulk_create(
        [
            CandidatePool(
                user_id=uid,
                candidates=[candidate_to_dict(c) for c in candidates],
                llm_model=MODELS[0],
                prompt_version=LLM_PROMPTS[-1],
                context_fingerprint="bench",
                generated_at=now,
                expires_at=now + timedelta(hours=pool_hours),
            )
            for uid in user_ids
        ],
        batch_size=2000,
    )


def seed_tip_scores(cursor, user_ids: list[int], n: int, *, days: float, rng: np.random.Generator) -> int:
    """COPY `n` served tips (TIPS_PER_REQUEST per request) spread over the last `days`, with feedback and rewards."""
    requests = -(-n // TIPS_PER_REQUEST)
    first_request = _next_id(cursor, "recommender_tiprequest")
    first_tip = _next_id(cursor, "tip_scores")
    now = datetime.now().astimezone()
    window = timedelta(hours=24)
    # Per request: a user and a time; per tip: kind, source, model, prompt, action. Drawn in bulk with numpy.
    req_user = rng.choice(np.asarray(user_ids), size=requests)
    req_age_s = np.sort(rng.uniform(0, days * 86400, size=requests))[::-1]
    req_time = [now - timedelta(seconds=float(a)) for a in req_age_s]
    kind = rng.integers(len(KINDS), size=n)
    is_llm = rng.random(n) < 0.6
    model = rng.integers(len(MODELS), size=n)
    prompt = rng.integers(len(LLM_PROMPTS), size=n)
    action = rng.choice(len(ACTIONS), size=n, p=[a[1] for a in ACTIONS])
    task = rng.integers(len(SAMPLE_TASK_IDS), size=n)
    propensity = rng.uniform(0.02, 0.95, size=n)

    def request_rows():
        for r in range(requests):
            yield (first_request + r, int(req_user[r]), req_time[r], "egreedy", '{"epsilon": 0.1}', "[]", "[]")

    def tip_rows():
        for i in range(n):
            r = i // TIPS_PER_REQUEST
            served = req_time[r]
            name, _, reward = ACTIONS[action[i]]
            final = served + window < now
            k = KINDS[kind[i]]
            llm = bool(is_llm[i])
            yield (
                first_tip + i,
                first_request + r,
                int(req_user[r]),
                i % TIPS_PER_REQUEST,
                k,
                "llm" if llm else "todoist",
                f"{k.replace('_', ' ').capitalize()}: {WORDS[i % len(WORDS)]} {i}",
                "Spend ten focused minutes on it.",
                "",
                json.dumps([SAMPLE_TASK_IDS[task[i]]]),
                LLM_PROMPTS[prompt[i]] if llm else "rules-v1",
                MODELS[model[i]] if llm else None,
                0.5,
                float(propensity[i]),
                int(task[i]) % 5,
                "{}",
                served,
                name,
                reward if (final or name) else None,
                served + timedelta(minutes=30) if name else None,
                served + window if final else None,
            )

    columns = ["id", "request_id", "user_id", "position", "tip_kind", "source", "title", "body", "rationale"]
    columns += ["task_ids", "prompt_version", "llm_model", "score", "propensity", "due_age_days", "features"]
    columns += ["served_at", "last_action", "reward", "feedback_at", "finalized_at"]
    bulk = n >= BULK_ROWS
    with indexes_dropped(cursor, "recommender_tiprequest") if bulk else contextlib.nullcontext():
        _copy(
            cursor,
            "recommender_tiprequest",
            ["id", "user_id", "created_at", "policy", "policy_params", "candidates", "degraded"],
            request_rows(),
        )
    with indexes_dropped(cursor, "tip_scores") if bulk else contextlib.nullcontext():
        count = _copy(cursor, "tip_scores", columns, tip_rows())
    _fix_sequence(cursor, "recommender_tiprequest")
    _fix_sequence(cursor, "tip_scores")
    return count


def rebuild_arm_stats(cursor) -> None:
    """Arm statistics (global and per user) from the finalized tips, in SQL."""
    arm = "source || ':' || COALESCE(tip_kind, 'legacy')"
    cursor.execute("DELETE FROM recommender_armstat")
    for scope in ("user_id", "NULL::bigint"):
        group = f"{scope}, {arm}" if scope == "user_id" else arm
        cursor.execute(
            f"INSERT INTO recommender_armstat (user_id, arm, count, reward_sum, updated_at) "
            f"SELECT {scope}, {arm}, COUNT(*), SUM(reward), now() FROM tip_scores "
            f"WHERE finalized_at IS NOT NULL GROUP BY {group}"
        )


def seed(
    *,
    users: int,
    tips: int,
    active: int = 0,
    days: float = 90.0,
    seed_value: int = 1,
    do_reset: bool = False,
    log=print,
) -> SeedResult:
    """Seed the database Django is configured for; see the module docstring."""
    from django.db import connection, transaction

    rng = np.random.default_rng(seed_value)
    started = time.monotonic()

    def step(message: str) -> None:
        log(f"[seed +{time.monotonic() - started:6.1f}s] {message}")

    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        if do_reset:
            reset(cursor)
            step("reset")
        user_ids = seed_users(cursor, users)
        step(f"{users} users")
        active_ids = user_ids[:active]
        tokens = seed_tokens(cursor, active_ids)
        step(f"{len(tokens)} API tokens")
        count = seed_tip_scores(cursor, user_ids, tips, days=days, rng=rng)
        step(f"{count} tip_scores rows")
        rebuild_arm_stats(cursor)
        step("arm statistics")
    seed_active(active_ids)
    step(f"{len(active_ids)} active users with sample tasks and a warm pool")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    step("analyzed")
    return SeedResult(user_ids, active_ids, tokens, count, time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--tips", type=int, default=1_000_000, help="tip_scores rows")
    parser.add_argument("--active", type=int, default=1000, help="users with sample tasks, a warm pool and a token")
    parser.add_argument("--days", type=float, default=90.0, help="served_at spread over the last N days")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reset", action="store_true", help="empty the recommender tables and earlier bench users")
    parser.add_argument("--migrate", action="store_true", help="run migrations first")
    parser.add_argument("--tokens-file", type=Path, help="write the active users' API tokens here, one a line")
    args = parser.parse_args()
    if args.active > args.users:
        parser.error("--active cannot exceed --users")

    setup_django()
    if args.migrate:
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
    result = seed(
        users=args.users, tips=args.tips, active=args.active, days=args.days, seed_value=args.seed, do_reset=args.reset
    )
    if args.tokens_file:
        args.tokens_file.parent.mkdir(parents=True, exist_ok=True)
        args.tokens_file.write_text("".join(f"{t}\n" for t in result.tokens))
    print(f"seeded {len(result.user_ids)} users, {result.tips} tip_scores rows in {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
