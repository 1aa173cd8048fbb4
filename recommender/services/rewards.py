"""Rewards becoming final: by a feedback action, by a Todoist completion, or when a tip's window closes."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from recommender.models import FeedbackEvent, TipScore
from recommender.reward_table import (
    DEFAULT_REWARD,
    IMPLICIT_ACTIONS,
    Action,
    completion_share,
    infer_reward,
    is_terminal,
    reward_window,
)
from recommender.services.stats import FinalReward, arm_stats_add
from tipengine import metrics

logger = logging.getLogger(__name__)


def due_age_days_of(*, column: int | None, features: dict | None) -> int | None:
    """Return how many days a tip's task was overdue when it was served (the column, else its features)."""
    if column is not None:
        return column
    value = (features or {}).get("due_age_days")
    return value if isinstance(value, int) else None


def tip_due_age_days(tip: TipScore) -> int | None:
    """Return how many days the tip's task was overdue when it was served."""
    return due_age_days_of(column=tip.due_age_days, features=tip.features)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """A tip's state after one feedback action: what the row and the statistics record."""

    last_action: str | None
    reward: float
    final: bool


def action_result(*, last_action: str | None, reward: float | None, action: str) -> ActionResult:
    """Return the state of an open tip with this `last_action` and provisional `reward` after `action`."""
    return ActionResult(
        # An implicit action never replaces an explicit one as the tip's last action.
        last_action=action if action not in IMPLICIT_ACTIONS or last_action is None else last_action,
        reward=infer_reward(action, current=reward),
        final=is_terminal(action),
    )


def reward_logged(
    *, tip_id: int, user_id: int, arm: str, action: str, result: ActionResult, due_age_days: int | None
) -> None:
    """Log and count one reward; due_age_days goes with every reward so the log alone can relate rewards to task
    urgency. Counted once the caller's transaction commits."""
    transaction.on_commit(lambda: _reward_counted(action=action, final=result.final))
    logger.info(
        "reward tip=%s user=%s arm=%s action=%s reward=%s final=%s due_age_days=%s",
        tip_id,
        user_id,
        arm,
        action,
        result.reward,
        result.final,
        due_age_days,
    )


def _reward_counted(*, action: str, final: bool) -> None:
    metrics.FEEDBACK.labels(action).inc()
    if final:
        metrics.REWARDS_FINALIZED.inc()


def tip_apply_action(*, tip: TipScore, action: str, at: datetime) -> float:
    """Apply `action` to a tip locked by the caller: new provisional reward, and finality for terminal actions.

    Returns the tip's reward after the action. A terminal action finalizes the tip and adds its reward to
    the arm statistics in the caller's transaction.
    """
    result = action_result(last_action=tip.last_action, reward=tip.reward, action=action)
    tip.last_action, tip.reward, tip.feedback_at = result.last_action, result.reward, at
    fields = ["last_action", "reward", "feedback_at"]
    if result.final:
        tip.finalized_at = at
        fields.append("finalized_at")
        arm_stats_add(rewards=[FinalReward(tip.user_id, tip.source, tip.tip_kind, result.reward)])
    tip.save(update_fields=fields)
    reward_logged(
        tip_id=tip.pk,
        user_id=tip.user_id,
        arm=tip.arm,
        action=action,
        result=result,
        due_age_days=tip_due_age_days(tip),
    )
    return result.reward


def rewards_finalize_expired(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Finalize every open tip whose reward window has closed by `now`; silent tips get the default reward.

    Works in batches (TIPS_FINALIZE_BATCH_SIZE), each its own transaction, oldest first. Rows locked by a
    feedback call in flight are skipped (SKIP LOCKED) and finalized by the next run. Returns the count.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.TIPS_FINALIZE_BATCH_SIZE
    cutoff = now - reward_window()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                TipScore.objects.select_for_update(skip_locked=True)
                .filter(finalized_at__isnull=True, served_at__lte=cutoff)
                .order_by("served_at", "id")
                .values_list("id", "user_id", "source", "tip_kind", "reward")[:batch_size]
            )
            if not rows:
                break
            TipScore.objects.filter(pk__in=[row[0] for row in rows]).update(
                reward=Coalesce("reward", Value(DEFAULT_REWARD)), finalized_at=now
            )
            arm_stats_add(
                rewards=[
                    FinalReward(user_id, source, kind, DEFAULT_REWARD if reward is None else reward)
                    for _, user_id, source, kind, reward in rows
                ]
            )
        total += len(rows)
        metrics.REWARDS_FINALIZED.inc(len(rows))  # committed
        if len(rows) < batch_size:
            break
    if total:
        logger.info("rewards_finalize_expired finalized=%d cutoff=%s", total, cutoff.isoformat())
    return total


def _credited_tip(rows: list[tuple[int, Any, datetime, str | None]], task_id: str) -> int | None:
    """The one impression a completion of `task_id` credits: the latest open tip naming it that the user
    accepted, else the latest open tip naming it (ties broken by id, the later serve)."""
    naming = [
        (last_action == Action.ACCEPTED, served_at, pk)
        for pk, task_ids, served_at, last_action in rows
        if task_id in {str(t) for t in task_ids or ()}
    ]
    return max(naming)[2] if naming else None


def tips_credit_completion(*, user_id: int, task_id: str, completed_at: datetime) -> list[int]:
    """Credit a Todoist task completion to ONE impression: the user's latest open tip naming the task.

    Open means served before the completion, its window still open then, not final. A tip the user
    accepted is preferred over later ones. A tip naming one task gets `completed` (final, 1.0); a tip
    naming several gets `completion_share` of its tasks credited to it so far, final once all are
    (docs/feedback.md). Delivering a completion twice credits nothing the second time (each completion is
    recorded once upstream, and a task already counted for a tip is not counted again). Returns the ids of
    the tips credited now (at most one).
    """
    task_id = str(task_id)
    window = reward_window()
    # task_ids is JSON of strings or numbers (legacy rows); filtering it in Python matches both, and the
    # candidate set is small: one user's open tips served within one window before the completion.
    open_tips = TipScore.objects.filter(
        user_id=user_id, finalized_at__isnull=True, served_at__lte=completed_at, served_at__gt=completed_at - window
    ).values_list("id", "task_ids", "served_at", "last_action")
    chosen = _credited_tip(list(open_tips), task_id)
    if chosen is None:
        return []
    now = timezone.now()
    with transaction.atomic():
        tip = TipScore.objects.select_for_update().filter(pk=chosen, finalized_at__isnull=True).first()
        if tip is None:  # finalized since it was read: its window closed
            return []
        named = {str(t) for t in tip.task_ids or ()}
        counted = {
            str((response or {}).get("task_id"))
            for response in tip.events.filter(action=Action.COMPLETED).values_list("response", flat=True)
        }
        if task_id in counted:
            return []
        done = len((counted | {task_id}) & named)
        if done >= len(named):
            reward = tip_apply_action(tip=tip, action=Action.COMPLETED, at=now)
        else:
            reward = max(tip.reward or 0.0, completion_share(completed=done, named=len(named)))
            tip.reward, tip.feedback_at = reward, now
            tip.save(update_fields=["reward", "feedback_at"])
        FeedbackEvent.objects.create(
            tip=tip,
            user_id=user_id,
            action=Action.COMPLETED,
            created_at=now,
            reward=reward,
            response={
                "source": "todoist",
                "task_id": task_id,
                "completed_at": completed_at.isoformat(),
                "tasks_completed": done,
                "tasks_named": len(named),
            },
        )
    logger.info("completion user=%s task=%s credited tip=%s reward=%s", user_id, task_id, chosen, reward)
    return [chosen]
