"""Stage 1, assemble: rule candidates from the user's tasks merged with their LLM pool, within one budget.

With a fresh pool (the normal case: generated ahead by Celery) the request reads it and the tasks, and
never touches the gateway. Without one, the tasks are read and the LLM is called on a worker thread with
what is left of `TIPS_REQUEST_BUDGET_S`; whatever misses the budget is reported in `degraded` and
refreshed in the background. Then candidates naming tasks that are no longer open are dropped, tips the
user dismissed or snoozed are held back for their cool-down, and duplicates are merged.
"""

from __future__ import annotations

import contextvars
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from generation.candidates import TipCandidate, TipSource
from generation.context import resolve_timezone
from generation.errors import GenerationError
from generation.gateway import is_ready
from generation.selectors import fresh_pool
from integrations.errors import TasksUnavailable
from integrations.selectors import user_time_zone
from integrations.services.open_tasks import open_tasks_fetch
from integrations.todoist.types import TodoistTask
from recommender.selectors.serving import cooling_down_keys
from recommender.services.pools import tip_pool_refresh
from recommender.task_rules import rule_candidates
from recommender.tasks import refresh_candidates
from tipengine.background import enqueue

logger = logging.getLogger(__name__)

# Degraded reasons (stable codes; docs/recommender.md explains each).
TASKS_UNAVAILABLE = "tasks_unavailable"
LLM_TIMEOUT = "llm_timeout"
LLM_UNAVAILABLE = "llm_unavailable"
LLM_SKIPPED = "llm_skipped"
NO_CANDIDATES = "no_candidates"
CACHE_UNAVAILABLE = "cache_unavailable"

# Someone else is on it (a refresh holds the lock) or nobody should be (breaker open): queue nothing.
NO_REFRESH_CODES = frozenset({"circuit_open", "refresh_in_progress"})
# What llm_unavailable says, by its reason: a refresh under way (the one connecting Todoist starts) is working.
LLM_UNAVAILABLE_MESSAGES = {
    "refresh_in_progress": "Tips from the tip generator are being prepared; ask again in a few seconds.",
}
MIN_LLM_BUDGET_S = 0.05  # less than this left: the call could not finish, so it is not started

_executor: ThreadPoolExecutor | None = None


def _llm_executor() -> ThreadPoolExecutor:
    """A process-wide pool: threads outlive a request, so a late LLM answer never holds the response."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.TIPS_LLM_WORKERS, thread_name_prefix="tips-llm")
    return _executor


def shutdown_llm_executor(*, wait: bool = True) -> None:
    """Let in-flight LLM calls (and the refreshes they queue) finish; the next request starts a new pool.

    For a graceful worker exit (gunicorn's worker_exit hook) and for tests that must not leave threads behind.
    """
    global _executor
    executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=wait)


@dataclass
class Assembly:
    """What stage 1 hands to the policy: candidates, the open tasks they may name, and what went wrong."""

    candidates: list[TipCandidate]
    tasks: dict[str, TodoistTask]
    degraded: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def degrade(self, code: str, message: str, **details: Any) -> None:
        self.degraded.append({"code": code, "message": message, "details": details})


def user_now(user: User, now: datetime | None = None) -> datetime:
    """Return `now` in the user's time zone (their Todoist account's; settings.TIME_ZONE when unknown)."""
    return (now or timezone.now()).astimezone(resolve_timezone(user_time_zone(user_id=user.pk)))


def assemble(*, user: User, now: datetime | None = None, budget_s: float | None = None) -> Assembly:
    """Return the user's deduplicated, filtered candidates; never waits longer than `budget_s` on the LLM."""
    budget_s = settings.TIPS_REQUEST_BUDGET_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget_s
    now = user_now(user, now)
    assembly = Assembly(candidates=[], tasks={})
    pool = fresh_pool(user=user)
    tasks = _read_tasks(user=user, budget_s=budget_s, assembly=assembly)
    if pool is None:
        pool = _pool_within_budget(user=user, tasks=tasks, deadline=deadline, assembly=assembly)
    rules = rule_candidates(tasks or [], now=now)
    assembly.tasks = {str(t.id): t for t in tasks or [] if not t.checked}
    candidates = _merge([*(pool or []), *rules], assembly)
    candidates = _known_tasks_only(candidates, assembly)
    candidates = _out_of_cooldown(candidates, user=user, now=now, assembly=assembly)
    shared = _shared_features(user=user, tasks=assembly.tasks, now=now)
    assembly.candidates = [_with_features(c, assembly.tasks, now, shared) for c in candidates]
    if not assembly.candidates:
        assembly.degrade(NO_CANDIDATES, "There is nothing to suggest right now.")
    return assembly


def _read_tasks(*, user: User, budget_s: float, assembly: Assembly) -> list[TodoistTask] | None:
    try:
        return open_tasks_fetch(user=user, budget_s=budget_s)
    except TasksUnavailable as exc:
        assembly.degrade(TASKS_UNAVAILABLE, "Your Todoist tasks could not be read.", reason=exc.reason)
        return None


def _generate(user: User, tasks: list[TodoistTask], deadline: float) -> list[TipCandidate]:
    """Run on a worker thread: call the LLM with whatever budget is left, never after the deadline."""
    try:
        remaining = deadline - time.monotonic()
        if remaining <= MIN_LLM_BUDGET_S:  # queued behind other calls past the budget: too late to be useful
            raise TimeoutError("budget spent before the call started")
        return tip_pool_refresh(user=user, tasks=tasks, timeout_s=remaining)
    finally:
        connections.close_all()  # this thread's connections go back to the pool


def _pool_within_budget(
    *, user: User, tasks: list[TodoistTask] | None, deadline: float, assembly: Assembly
) -> list[TipCandidate] | None:
    """No fresh pool: call the LLM within the budget; on a miss, degrade and refresh in the background."""
    if tasks is None:
        assembly.degrade(LLM_SKIPPED, "No LLM tips without your tasks; they are refreshed in the background.")
        _refresh_in_background(user.pk)
        return None
    if not is_ready():  # the process is still importing litellm: waiting on it would spend the whole budget
        assembly.degrade(
            LLM_SKIPPED,
            "The tip generator is still starting; tips are refreshed in the background.",
            reason="warming_up",
        )
        _refresh_in_background(user.pk)
        return None
    # The call, and the refresh it may queue, run under the request's context: its logs keep the request id.
    context = contextvars.copy_context()
    future: Future[list[TipCandidate]] = _llm_executor().submit(context.run, _generate, user, tasks, deadline)
    try:
        return future.result(timeout=max(deadline - time.monotonic(), 0.0))
    except FutureTimeout:
        assembly.degrade(LLM_TIMEOUT, "The tip generator did not answer in time; tips are refreshed in the background.")
        # The call still holds the user's refresh lock: queue the refresh once it lets go, unless it succeeded.
        future.add_done_callback(lambda done: context.run(_refresh_after_miss, done, user.pk))
        return None
    except TimeoutError:
        assembly.degrade(LLM_TIMEOUT, "The tip generator was busy; tips are refreshed in the background.")
    except GenerationError as exc:
        message = LLM_UNAVAILABLE_MESSAGES.get(exc.code, "The tip generator is unavailable.")
        assembly.degrade(LLM_UNAVAILABLE, message, reason=exc.code)
        logger.info("tips: no LLM tips for user %s (%s)", user.pk, exc.code)
        if exc.code in NO_REFRESH_CODES:
            return None
    except Exception:
        logger.exception("tips: LLM call failed for user %s", user.pk)
        assembly.degrade(LLM_UNAVAILABLE, "The tip generator failed.", reason="error")
    _refresh_in_background(user.pk)
    return None


def _refresh_in_background(user_id: int) -> None:
    """Queue a pool refresh; a broker hiccup must not cost the user the rule tips already assembled."""
    try:
        enqueue(refresh_candidates, user_id)
    except Exception:
        logger.exception("tips: could not queue a candidate refresh for user %s", user_id)


def _refresh_after_miss(done: Future, user_id: int) -> None:
    """Done-callback of a call that missed the budget: refresh unless it stored a pool after all."""
    error = done.exception()
    if error is None or getattr(error, "code", None) in NO_REFRESH_CODES:
        return
    try:
        _refresh_in_background(user_id)
    finally:
        connections.close_all()  # runs on the worker thread: an inline refresh may have opened one


def _count(assembly: Assembly, reason: str) -> None:
    assembly.dropped[reason] = assembly.dropped.get(reason, 0) + 1


def _merge(candidates: list[TipCandidate], assembly: Assembly) -> list[TipCandidate]:
    """Keep the first candidate of each key (same kind about the same tasks): LLM tips come first."""
    seen: dict[Any, TipCandidate] = {}
    for candidate in candidates:
        if candidate.key in seen:
            _count(assembly, "duplicate")
        else:
            seen[candidate.key] = candidate
    return list(seen.values())


def _known_tasks_only(candidates: list[TipCandidate], assembly: Assembly) -> list[TipCandidate]:
    """Drop candidates that name a task that is not open now (completed, deleted, or never the user's)."""
    kept = []
    for candidate in candidates:
        if all(task_id in assembly.tasks for task_id in candidate.task_ids):
            kept.append(candidate)
        else:
            _count(assembly, "unknown_task")
    return kept


def _out_of_cooldown(
    candidates: list[TipCandidate], *, user: User, now: datetime, assembly: Assembly
) -> list[TipCandidate]:
    if not candidates:
        return candidates
    cooling = cooling_down_keys(user=user, now=now)
    kept = [c for c in candidates if c.key not in cooling]
    for _ in range(len(candidates) - len(kept)):
        _count(assembly, "cooldown")
    return kept


def due_age_days(task_ids: tuple[str, ...], tasks: dict[str, TodoistTask], now: datetime) -> int | None:
    """How many days the most overdue linked task is past due at serve time (None for a tip without tasks)."""
    if not task_ids:
        return None
    return max(tasks[task_id].overdue_days(now.date()) for task_id in task_ids)


def _shared_features(*, user: User, tasks: dict[str, TodoistTask], now: datetime) -> dict[str, Any]:
    """What every candidate of one request shares: who asks, when (the user's local time), and their workload."""
    today = now.date()
    return {
        "user_id": user.pk,
        "local_hour": now.hour,
        "weekday": now.weekday(),
        "open_tasks": len(tasks),
        "overdue_tasks": sum(1 for task in tasks.values() if task.overdue_days(today) > 0),
    }


def _with_features(
    candidate: TipCandidate, tasks: dict[str, TodoistTask], now: datetime, shared: dict[str, Any]
) -> TipCandidate:
    """Recompute serve-time features: a pooled tip's numbers from generation time may be stale."""
    linked = [tasks[task_id] for task_id in candidate.task_ids]
    features = {
        **candidate.features,
        **shared,
        "due_age_days": due_age_days(candidate.task_ids, tasks, now),
        "n_tasks": len(linked),
        "max_priority": max((t.priority for t in linked), default=None),
        "from_pool": candidate.source == TipSource.LLM,
    }
    return replace(candidate, features=features)
