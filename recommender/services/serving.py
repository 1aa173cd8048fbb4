"""Stages 2 and 3: score the assembled candidates with the policy and log the served slate to tip_scores."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from generation.cache_keys import pool_key
from integrations.cache_keys import open_tasks_key, time_zone_key
from integrations.todoist.types import TodoistTask
from recommender.cache_keys import GLOBAL_ARMS_KEY, arms_key, cooldowns_key
from recommender.models import TipRequest, TipScore
from recommender.pipeline import CACHE_UNAVAILABLE, Assembly, assemble
from recommender.policies import ArmEstimate, Policy, get_policy, policy_settings
from recommender.policies.base import offered_candidates
from recommender.policies.contextual import Contextual
from recommender.selectors.serving import arm_estimates
from recommender.services.contextual import SERVING_MODEL, shadow_opinion
from recommender.services.slate_log import slate_log
from tipengine import metrics
from tipengine.caching import cache_prefetch, cache_unavailable_reason

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedTips:
    """What the API returns: the logged request (its row as written, and its id), its tips in slate order (rows as
    written, with their ids), and the tasks they name. `request` and `tips` are the same as model instances, built
    on first use: the serve itself builds none (docs/benchmarks.md, "A lighter warm serve")."""

    request_row: dict[str, Any]
    request_id: int
    tip_rows: list[dict[str, Any]]
    tip_ids: list[int]
    tasks: dict[str, TodoistTask]

    @cached_property
    def request(self) -> TipRequest:
        request = TipRequest(id=self.request_id, **self.request_row)
        request._state.adding = False
        return request

    @cached_property
    def tips(self) -> list[TipScore]:
        request = self.request
        tips = []
        for tip_id, row in zip(self.tip_ids, self.tip_rows, strict=True):
            tip = TipScore(id=tip_id, request=request, user_id=request.user_id, served_at=request.created_at, **row)
            tip._state.adding = False
            tips.append(tip)
        return tips


@lru_cache(maxsize=8)
def _policy(name: str, params: tuple[tuple[str, Any], ...]) -> Policy:
    return get_policy(name, **dict(params))


# The contextual policy without a loaded model: the baseline serves instead, and the answer says so.
MODEL_UNAVAILABLE = "model_unavailable"
BASELINE_POLICY = "egreedy"


def _tuned(name: str) -> Policy:
    return _policy(name, tuple(sorted(policy_settings(name).items())))


def serving_policy(assembly: Assembly | None = None) -> Policy:
    """Return the policy named by TIPS_POLICY, tuned by its settings (built once per process and settings value).

    The contextual policy scores with the promoted model this process has loaded; before one is loaded (or
    when none was promoted, or it is unreadable) the baseline serves and `assembly` is marked degraded.
    """
    name = settings.TIPS_POLICY
    if name != "contextual":
        return _tuned(name)
    model = SERVING_MODEL.current()
    if model is not None:
        return Contextual(model)
    if assembly is not None:
        assembly.degrade(MODEL_UNAVAILABLE, "Served by the baseline policy: no contextual model is loaded yet.")
    return _tuned(BASELINE_POLICY)


def logged_estimates(estimates: Mapping[str, ArmEstimate]) -> dict[str, list[float]]:
    """The estimates a request was decided from, as TipRequest.arm_estimates logs them: arm -> [count, sum]."""
    return {arm: [e.count, e.reward_sum] for arm, e in sorted(estimates.items())}


_generators = threading.local()


def _thread_rng() -> np.random.Generator:
    """This thread's generator for the policy's draws, seeded once from the OS entropy pool. Seeding one per serve
    cost 7.7 us of it (`default_rng()` reads the pool each time); a Generator is not thread-safe, hence one per
    thread, and one per process too: a forked worker must not replay its parent's stream."""
    pid, rng = getattr(_generators, "owned", (None, None))
    if pid != os.getpid() or rng is None:
        rng = np.random.default_rng()
        _generators.owned = (os.getpid(), rng)
    return rng


def _serving_cache_keys(user_id: int) -> list[str]:
    """Everything a serve reads from the cache for one user, fetched in one round trip."""
    return [
        pool_key(user_id),
        open_tasks_key(user_id),
        time_zone_key(user_id),
        cooldowns_key(user_id),
        arms_key(user_id),
        GLOBAL_ARMS_KEY,
    ]


def tips_serve(
    *, user: User, limit: int, rng: np.random.Generator | None = None, budget_s: float | None = None
) -> ServedTips:
    """Assemble, score and serve up to `limit` tips; log one TipRequest and its TipScores in one atomic write.

    The number of queries does not depend on how many candidates there are. What is read (pool, tasks,
    cool-downs, arm statistics) comes from the cache in one round trip when warm, else one query per
    source; the slate is written in one statement on PostgreSQL (recommender/services/slate_log.py).
    """
    rng = rng if rng is not None else _thread_rng()
    started = time.perf_counter()
    with cache_prefetch(_serving_cache_keys(user.pk)):
        assembly = assemble(user=user, budget_s=budget_s)
        assembled = time.perf_counter()
        estimates = arm_estimates(user=user) if assembly.candidates else {}
    if cache_unavailable_reason():  # the reason names hosts and ports: logged, never shown to clients
        # Everything above was read from PostgreSQL (and Todoist) instead: correct, only slower.
        assembly.degrade(CACHE_UNAVAILABLE, "Served without the cache, from the database.")
    policy = serving_policy(assembly)
    choices = policy.choose(assembly.candidates, estimates, rng, limit) if assembly.candidates else []
    params: dict[str, Any] = {**policy.params(), "limit": limit, "dropped": assembly.dropped}
    if settings.TIPS_SHADOW_SCORING and choices:
        SERVING_MODEL.current()  # starts the reloader in a process that serves another policy
        served = assembly.candidates.index(choices[0].candidate)
        opinion = shadow_opinion(candidates=assembly.candidates, stats=estimates, served=served)
        if opinion is not None:
            params["shadow"] = opinion
    scored = time.perf_counter()
    # Plain rows, not model instances: what slate_log writes (ServedTips builds instances when someone asks).
    request_row = {
        "user_id": user.pk,
        "created_at": timezone.now(),
        "policy": policy.name,
        "policy_params": params,
        "candidates": offered_candidates(assembly.candidates, choices),
        "degraded": assembly.degraded,
        "arm_estimates": logged_estimates(estimates),
        "model_version": policy.model.version if isinstance(policy, Contextual) else None,
    }
    tip_rows = [
        {
            "position": position,
            "tip_kind": choice.candidate.kind,
            "source": choice.candidate.source,
            "title": choice.candidate.title,
            "body": choice.candidate.body,
            "rationale": choice.candidate.rationale,
            "task_ids": list(choice.candidate.task_ids),
            "prompt_version": choice.candidate.prompt_version or None,
            "llm_model": choice.candidate.llm_model,
            "score": choice.score,
            "propensity": choice.propensity,
            "due_age_days": choice.candidate.features.get("due_age_days"),
            "features": dict(choice.candidate.features),
        }
        for position, choice in enumerate(choices)
    ]
    request_id, tip_ids = slate_log(request=request_row, tips=tip_rows)
    slate = ServedTips(request_row, request_id, tip_rows, tip_ids, assembly.tasks)
    logged = time.perf_counter()
    seconds = {"assemble": assembled - started, "score": scored - assembled, "log": logged - scored}
    _served(slate, seconds={**seconds, "total": logged - started})
    return slate


def _served(served: ServedTips, *, seconds: dict[str, float]) -> None:
    """Count the serve and log its one line: ids, policy, degraded codes and timings, never tip or task text."""
    request = served.request_row
    codes = [item["code"] for item in request["degraded"]]
    for tip in served.tip_rows:
        metrics.TIPS_SERVED.labels(tip["source"], tip["tip_kind"]).inc()
    for code in codes:
        metrics.DEGRADED.labels(code).inc()
    logger.info(
        "tips served request=%s policy=%s tips=%d degraded=%s",
        served.request_id,
        request["policy"],
        len(served.tip_rows),
        ",".join(codes) or "-",
        extra={
            "tip_request_id": served.request_id,
            "user_id": request["user_id"],
            "policy": request["policy"],
            "tips": len(served.tip_rows),
            "candidates": len(request["candidates"]),
            "degraded": codes,
            "ms": {phase: round(value * 1000, 1) for phase, value in seconds.items()},
        },
    )
