"""Feedback actions and the reward table that turns them into rewards in [0, 1] (docs/feedback.md)."""

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    """What a user can tell us about a served tip."""

    VIEWED = "viewed", "Viewed"
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"
    SNOOZED = "snoozed", "Snoozed"
    COMPLETED = "completed", "Completed"
    NOT_RELEVANT = "not_relevant", "Not relevant"


# Rewards are multiples of 1/8 on purpose: they and every sum of them are exact binary floats, so arm
# statistics summed one reward at a time equal the SQL SUM of a rebuild bit for bit (docs/adr/0041).
REWARDS: Mapping[str, float] = MappingProxyType(
    {
        Action.COMPLETED: 1.0,
        Action.ACCEPTED: 0.75,
        Action.SNOOZED: 0.25,
        Action.VIEWED: 0.125,
        Action.DISMISSED: 0.0,
        Action.NOT_RELEVANT: 0.0,
    }
)

# A tip nobody answered by the end of its window.
DEFAULT_REWARD = 0.0

# These end the window at once: nothing the user says later can change the tip's reward.
TERMINAL_ACTIONS = frozenset({Action.COMPLETED, Action.DISMISSED, Action.NOT_RELEVANT})

# "Not now" and "not this": serving holds such a tip back for a cool-down (recommender/selectors/serving.py).
COOLDOWN_ACTIONS = (Action.DISMISSED, Action.NOT_RELEVANT, Action.SNOOZED)

# Implicit signals never overwrite an explicit answer (viewing an accepted tip again is not a downgrade).
IMPLICIT_ACTIONS = frozenset({Action.VIEWED})


def infer_reward(action: str, *, current: float | None = None) -> float:
    """Return the tip's reward after `action`, given its provisional reward so far (None before any).

    The last explicit action wins; `viewed` only counts while nothing explicit was said.
    """
    try:
        reward = REWARDS[action]
    except KeyError:
        raise ValueError(f"Unknown feedback action {action!r}; known: {', '.join(sorted(REWARDS))}") from None
    if action in IMPLICIT_ACTIONS and current is not None:
        return current
    return reward


def is_terminal(action: str) -> bool:
    """Return True when `action` makes the tip's reward final."""
    return action in TERMINAL_ACTIONS


def completion_share(*, completed: int, named: int) -> float:
    """Return the reward of a tip naming `named` tasks once `completed` of them are credited to it.

    In proportion to its tasks completed, rounded down to an eighth so rewards stay exact binary floats
    (docs/feedback.md): 1 of 3 earns 0.25, 2 of 3 0.625, 1 of 2 0.5; all of them the full completed reward.
    One completed task never earns a multi-task tip the full reward.
    """
    if named <= 0 or completed <= 0:
        return 0.0
    full = REWARDS[Action.COMPLETED]
    return full if completed >= named else full * math.floor(8 * completed / named) / 8


def reward_window() -> timedelta:
    """Return how long after serving a tip's reward stays open (TIPS_REWARD_WINDOW_H)."""
    return timedelta(hours=settings.TIPS_REWARD_WINDOW_H)


def window_closes_at(served_at: datetime) -> datetime:
    """Return when the reward window of a tip served at `served_at` closes."""
    return served_at + reward_window()
