"""Time every operators' admin page on a seeded database (server-side, through Django's test client).

    # once: a million tip_scores rows (bench/seed.py) plus the contextual loop's rows (below), then time
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_admin_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/admin_pages.py --seed --repeat 5

`--seed` empties the recommender tables, seeds `--tips` rows with bench/seed.py and adds what the contextual
loop would have left: three model versions, two switches (one overridden), the last 60 days' requests
served by the contextual policy (v1, then v2) and scored in shadow by the next version, and offline
evaluations in each state, then candidate sets with features for the newest 500 requests of each policy
(`seed_candidates`: the request pages' why-this-tip tables). The evaluations' numbers are made up (too few
requests log candidates to replay): the pages' cost does not depend on them.

Then the daily rollup of tip_scores is brought up to date as the beat task would have (`--seed`: rebuilt from
scratch, as after any bulk load; else refreshed), so the chart pages read the final days from it and the last
day or two live (docs/adr/0099); `--no-rollup` times them without it (every day live, as the tree before it).

Each page is loaded once, then `--repeat` times with the cache emptied before each load ("cold": nothing cached,
neither the filters' distinct values, kept 5 minutes, nor the chart pages' figures, kept a minute, docs/adr/0093),
then `--repeat` times as it comes ("warm": an operator reloading within the minute). The medians and the worst
are reported, with the number of SQL queries and the slowest one of the cold loads. The cache is the bench's own
Redis database (`REDIS_URL`): emptying it touches nothing else.

Without `--seed` the database is used as it is (seeded by an earlier `--seed` run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.seed import KINDS, LLM_PROMPTS, seed, setup_django

OPERATOR = "bench-operator"
AGREEMENT = 0.7  # the share of shadowed requests whose shadow model agrees with the served pick


def _estimate(value: float, half: float, n: int) -> dict[str, Any]:
    return {"value": value, "low": value - half, "high": value + half, "std_error": half / 1.96, "ess": n, "n": n}


def _result(n: int, logged: float, gain: float, half: float) -> dict[str, Any]:
    return {
        "n": n,
        "logged": _estimate(logged, 0.01, n),
        "target": _estimate(logged + gain, half * 1.2, n),
        "difference": _estimate(gain, half, n),
        "ess": n * 0.4,
        "ess_share": 0.4,
        "clip": 5.0,
    }


def seed_contextual(*, days_served: int = 60) -> dict[str, int]:
    """The contextual loop's rows on top of bench/seed.py's: versions, switches, shadowed requests, evaluations."""
    from django.db import connection
    from django.utils import timezone

    from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch, TipRequest
    from recommender.policies.contextual import ContextualModel

    now = timezone.now()
    weights = ContextualModel().to_bytes()
    versions = []
    for age in (days_served, days_served // 2, 3):
        start = now - timedelta(days=age + 7)
        parent = versions[-1] if versions else None
        versions.append(
            PolicyModel.objects.create(
                created_at=now - timedelta(days=age), parent=parent, trained_from=start,
                trained_until=now - timedelta(days=age), rows=40_000, total_rows=40_000 * (len(versions) + 1),
                metrics={"mean_logged_reward": 0.21}, weights=weights,
            )
        )  # fmt: skip
    first, second, newest = versions
    PolicySwitch.objects.create(
        created_at=first.created_at,
        policy="contextual",
        model=first,
        actor="ops",
        evaluation=_result(1400, 0.2, 0.03, 0.01),
    )
    PolicySwitch.objects.create(
        created_at=second.created_at, policy="contextual", model=second, actor="ops", overridden=True,
        reason="one-week trial of v2 on all traffic", evaluation=_result(900, 0.21, 0.01, 0.02),
    )  # fmt: skip
    table = TipRequest._meta.db_table
    with connection.cursor() as cursor:
        for model, shadow, age in ((first, second, days_served), (second, newest, days_served // 2)):
            until = now if model is second else now - timedelta(days=days_served // 2)
            cursor.execute(
                f"UPDATE {table} SET policy = 'contextual', model_version = %s, policy_params = "
                "policy_params || jsonb_build_object('shadow', jsonb_build_object('model_version', %s::int, "
                "'probability', random(), 'agrees', random() < %s)) WHERE created_at >= %s AND created_at < %s",
                [model.pk, shadow.pk, AGREEMENT, now - timedelta(days=age), until],
            )
        # As autovacuum would (it is off on the development machine): the UPDATE left a dead copy of each row.
        cursor.execute(f"VACUUM ANALYZE {table}")
    done = PolicyEvaluation.Status.DONE
    for index, (model, gain) in enumerate(((first, 0.03), (second, 0.01), (newest, -0.02), (newest, 0.025))):
        passed = gain - 0.015 > 0
        PolicyEvaluation.objects.create(
            model=model, actor=("ops", "alice-ops")[index % 2], status=done, clip=None,
            queued_at=now - timedelta(days=20 - index), started_at=now - timedelta(days=20 - index),
            finished_at=now - timedelta(days=20 - index, seconds=-40), held_out_after=model.trained_until,
            held_out_until=now - timedelta(days=20 - index), result=_result(1500 + 300 * index, 0.2, gain, 0.015),
            passed=passed,
            verdict="passes the gate" if passed else "the paired interval does not exclude zero from above",
        )  # fmt: skip
    PolicyEvaluation.objects.create(
        model=newest, actor="ops", status=PolicyEvaluation.Status.FAILED, started_at=now, finished_at=now,
        error="The evaluation failed: ValueError: example",
    )  # fmt: skip
    PolicyEvaluation.objects.create(model=newest, actor="ops")  # queued
    return {"versions": len(versions), "evaluations": PolicyEvaluation.objects.count()}


def seed_candidates(*, per_policy: int = 500) -> int:
    """Candidate sets for the newest `per_policy` requests of each seeded policy, as serving logs them.

    Each request offered its served tips (TipCandidate.describe() with serve-time features) and two tips of
    other kinds it did not serve, and logged the user's arm estimates, so a request's page has its
    why-this-tip table: probabilities replayed for epsilon-greedy, none for the contextual policy.
    """
    from generation.candidates import TipCandidate
    from recommender.models import TipRequest, TipScore

    rng = np.random.default_rng(11)
    updated = []
    for policy in ("contextual", "egreedy"):
        requests = list(TipRequest.objects.filter(policy=policy).order_by("-id")[:per_policy])
        tips = TipScore.objects.filter(request__in=requests).order_by("position")
        served: dict[int, list[TipScore]] = {}
        for tip in tips:
            served.setdefault(tip.request_id, []).append(tip)
        for request in requests:
            mine = served.get(request.pk, [])
            offered = [_candidate(TipCandidate, t.tip_kind, t.source, t.task_ids, t.llm_model, rng) for t in mine]
            other_kinds = [kind for kind in KINDS if kind not in {t.tip_kind for t in mine}]
            offered += [_candidate(TipCandidate, kind, "todoist", [], None, rng) for kind in other_kinds[:2]]
            request.candidates = [candidate.describe() for candidate in offered]
            arms = sorted({candidate.arm for candidate in offered})
            counts = rng.integers(0, 40, size=len(arms))
            request.arm_estimates = {
                arm: [int(n), round(float(n * rng.uniform(0.1, 0.6)), 3)] for arm, n in zip(arms, counts, strict=True)
            }
            updated.append(request)
    TipRequest.objects.bulk_update(updated, ["candidates", "arm_estimates"], batch_size=500)
    return len(updated)


def _candidate(cls: Any, kind: str, source: str, task_ids: list[str], model: str | None, rng: Any) -> Any:
    """A logged candidate with the features serving gives it (recommender/pipeline.py `_with_features`)."""
    return cls(
        kind=kind, source=source, title=f"{kind} tip", body="", task_ids=tuple(task_ids), llm_model=model,
        prompt_version=LLM_PROMPTS[-1] if source == "llm" else "rules-v1",
        features={
            "due_age_days": int(rng.integers(0, 9)) if task_ids else None, "n_tasks": len(task_ids),
            "max_priority": int(rng.integers(1, 5)) if task_ids else None, "open_tasks": 14,
            "local_hour": int(rng.integers(7, 22)), "from_pool": source == "llm",
        },
    )  # fmt: skip


def seed_admin(*, tips: int, users: int) -> None:
    """bench/seed.py's tips, then the contextual loop's rows."""
    from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch

    PolicyEvaluation.objects.all().delete()
    PolicySwitch.objects.all().delete()
    PolicyModel.objects.all().delete()
    seed(users=users, tips=tips, do_reset=True)
    print(seed_contextual())
    print(f"candidate sets logged: {seed_candidates()}")


def rollup(*, seeded: bool, use: bool) -> str:
    """The daily rollup as beat leaves it (rebuilt after a seed, refreshed otherwise), or none when not `use`d."""
    from recommender.models import TipScoreDaysCovered
    from recommender.services.rollup import tip_score_days_rebuild, tip_score_days_refresh

    if not use:
        TipScoreDaysCovered.objects.all().delete()  # the pages then read every day live; a refresh starts afresh
        return "rollup: none (every day read live)"
    started = time.perf_counter()
    done = tip_score_days_rebuild() if seeded else tip_score_days_refresh()
    took = time.perf_counter() - started
    if done is None:
        return "rollup: no tips"
    return f"rollup: {done.rows} rows written in {took:.1f} s; days before {done.covered_before} read from it"


def operator_client() -> Any:
    """A test client logged in as a bench superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    operator, _ = get_user_model().objects.get_or_create(username=OPERATOR, defaults={"is_staff": True})
    operator.is_staff = operator.is_superuser = True
    operator.set_password(OPERATOR)
    operator.save()
    client = Client()
    client.force_login(operator)
    return client


def admin_pages() -> dict[str, str]:
    """Every admin page an operator reads, by name -> URL (the ones the screenshots take, too)."""
    from django.urls import reverse

    from recommender.models import TipRequest, TipScore

    newest = TipScore.objects.order_by("-id").values("id", "request_id").first() or {"id": 0, "request_id": 0}
    # The newest request served by the seeded policy before the contextual one: its probabilities replay.
    egreedy = TipRequest.objects.filter(policy="egreedy").order_by("-id").values_list("id", flat=True).first()
    changelist = reverse("admin:recommender_tipscore_changelist")
    return {
        "changelist": changelist,
        "changelist: a filter": changelist + "?llm_model=anthropic%2Fclaude-haiku-4-5",
        "changelist: search title": changelist + "?q=passport",
        "tipscore detail": reverse("admin:recommender_tipscore_change", args=[newest["id"]]),
        "why this tip (request detail)": reverse("admin:recommender_tiprequest_change", args=[newest["request_id"]]),
        "why this tip (epsilon-greedy)": reverse("admin:recommender_tiprequest_change", args=[egreedy or 0]),
        "arm summary: default": reverse("admin:recommender_arm_summary"),
        "arm summary: all time": reverse("admin:recommender_arm_summary") + "?period=all",
        "evaluations": reverse("admin:recommender_policyevaluation_changelist"),
        "model versions: 7 days": reverse("admin:recommender_policymodel_changelist"),
        "model versions: all time": reverse("admin:recommender_policymodel_changelist") + "?period=all",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", action="store_true", help="seed first (empties the recommender tables)")
    parser.add_argument(
        "--seed-candidates", action="store_true", help="only log the candidate sets (on a database seeded before them)"
    )
    parser.add_argument("--no-rollup", action="store_true", help="time the pages without the daily rollup")
    parser.add_argument("--tips", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("TIPS_POLICY", "contextual")  # the seeded world: the contextual policy serves
    setup_django()
    from recommender.models import TipScore

    if args.seed:
        seed_admin(tips=args.tips, users=args.users)
    elif args.seed_candidates:
        print(f"candidate sets logged: {seed_candidates()}")
    print(rollup(seeded=args.seed, use=not args.no_rollup))
    client = operator_client()
    print(f"tip_scores rows: {TipScore.objects.count()}")
    print("| page | cold median ms | cold max ms | warm median ms | warm max ms | queries (cold) | slowest query ms |")
    print("|---|---|---|---|---|---|---|")
    for name, url in admin_pages().items():
        assert client.get(url).status_code == 200, url
        cold = [timed(client, url, empty_cache=True) for _ in range(args.repeat)]
        warm = [timed(client, url, empty_cache=False) for _ in range(args.repeat)]
        ms = [load.ms for load in cold], [load.ms for load in warm]
        slowest = max(load.slowest_query_ms for load in cold)
        print(
            f"| {name} | {statistics.median(ms[0]):.0f} | {max(ms[0]):.0f} | {statistics.median(ms[1]):.0f} | "
            f"{max(ms[1]):.0f} | {cold[-1].queries} | {slowest:.0f} |"
        )


@dataclass(frozen=True)
class Load:
    ms: float
    queries: int
    slowest_query_ms: float


def timed(client: Any, url: str, *, empty_cache: bool) -> Load:
    """One load of `url`, after emptying the cache when asked."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if empty_cache:
        cache.clear()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url)
        ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    queries = captured.captured_queries
    return Load(ms, len(queries), max(float(q["time"]) * 1000 for q in queries))


if __name__ == "__main__":
    main()
