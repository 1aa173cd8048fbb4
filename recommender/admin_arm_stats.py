"""The arm comparison's numbers: per group, tips served, feedback rate and mean reward, each with a 95% interval.

The feedback rate's interval is Wilson's score interval (right near 0% and 100% and on a handful of tips,
where the normal interval leaves [0, 1] or collapses to a point); the mean reward's is the normal
interval with the sample standard deviation, clipped to the reward range [0, 1] (docs/adr/0085).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, StdDev
from django.db.models.functions import TruncDate
from django.utils import timezone

from recommender.models import TipScore

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
# Below this many tips (or final rewards) a group's interval is too wide to decide on: the row says so.
MIN_SAMPLE = 30
REWARD_RANGE = (0.0, 1.0)  # recommender/reward_table.py: every reward is in [0, 1]

# What a group can be made of: key -> (the ORM path, the label operators read).
GROUPS: dict[str, tuple[str, str]] = {
    "prompt_version": ("prompt_version", "Prompt version"),
    "llm_model": ("llm_model", "LLM model"),
    "tip_kind": ("tip_kind", "Kind"),
    "source": ("source", "Source"),
    "policy": ("request__policy", "Policy"),
    "model_version": ("request__model_version", "Model version"),
}
DEFAULT_GROUPS = ("prompt_version", "llm_model", "tip_kind")
# How a missing value reads in a group: a rule tip has no model, a legacy row no prompt version or kind.
MISSING = {"llm_model": "(rule tip)", "prompt_version": "(none)", "tip_kind": "(legacy)", "model_version": "(no model)"}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson's score interval for a proportion of `successes` in `n` (None without any trial)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(mean: float | None, sd: float | None, n: int, z: float = Z95) -> Interval | None:
    """The normal interval mean ± z·sd/√n, clipped to the reward range (None below two values: no sd)."""
    if mean is None or sd is None or n < 2:
        return None
    half = z * sd / math.sqrt(n)
    low, high = REWARD_RANGE
    return Interval(max(low, mean - half), min(high, mean + half))


@dataclass(frozen=True)
class ArmRow:
    """One group's tips in the period: served, with any feedback, with a final reward, and that reward's moments."""

    group: dict[str, Any]
    served: int
    with_feedback: int
    rewarded: int
    mean_reward: float | None
    reward_sd: float | None

    @property
    def feedback_rate(self) -> float:
        """Share of served tips that got any feedback (not only final ones)."""
        return self.with_feedback / self.served if self.served else 0.0

    @property
    def feedback_interval(self) -> Interval | None:
        return wilson_interval(self.with_feedback, self.served)

    @property
    def reward_interval(self) -> Interval | None:
        return mean_interval(self.mean_reward, self.reward_sd, self.rewarded)

    @property
    def warnings(self) -> list[str]:
        """Why this row's numbers cannot decide anything yet (empty: enough tips and final rewards)."""
        found = []
        if self.served < MIN_SAMPLE:
            found.append(f"tips served: {self.served} < {MIN_SAMPLE}")
        if self.rewarded < MIN_SAMPLE:
            found.append(f"final rewards: {self.rewarded} < {MIN_SAMPLE}")
        return found

    def sort_value(self, key: str) -> Any:
        """The value the column `key` sorts by (None sorts last in either direction)."""
        if key in GROUPS:
            value = self.group.get(key)
            return None if value is None else str(value)
        return getattr(self, key)


def period_filter(since: datetime | None, until: datetime | None) -> Q:
    """Tips served in [since, until); an open end is no condition."""
    condition = Q()
    if since is not None:
        condition &= Q(served_at__gte=since)
    if until is not None:
        condition &= Q(served_at__lt=until)
    return condition


def group_paths(group_by: Sequence[str]) -> list[str]:
    """The ORM paths of `group_by`; ValueError names the known keys."""
    unknown = set(group_by) - set(GROUPS)
    if unknown or not group_by:
        raise ValueError(f"group_by must be a non-empty subset of {list(GROUPS)}, not {list(group_by)}")
    return [GROUPS[key][0] for key in group_by]


def grouped(queryset: QuerySet, *paths: str) -> QuerySet:
    """`queryset` reduced per `paths`: the counts and reward moments an ArmRow is made of."""
    final = Q(finalized_at__isnull=False)
    return (
        queryset.values(*paths)
        .annotate(
            served=Count("id"),
            with_feedback=Count("id", filter=Q(feedback_at__isnull=False)),
            rewarded=Count("reward", filter=final),
            mean_reward=Avg("reward", filter=final),
            reward_sd=StdDev("reward", filter=final, sample=True),
        )
        .order_by()
    )


def daily_rows(*, since: datetime | None, until: datetime | None, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Per day in the current time zone and per combination of `group_by` values, `grouped`'s counts and moments
    of the tips served in [since, until). One aggregate query: the arm comparison's table and
    its chart are both made of it."""
    paths = group_paths(group_by)
    queryset = TipScore.objects.filter(period_filter(since, until)).annotate(
        day=TruncDate("served_at", tzinfo=timezone.get_current_timezone())
    )
    return list(grouped(queryset, "day", *paths).order_by("day"))


def pooled(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several `grouped` rows as one: counts added, the mean and sample deviation of all their final rewards."""
    rows = list(rows)
    if len(rows) == 1:  # as the database computed them, not recombined
        return {key: rows[0][key] for key in ("served", "with_feedback", "rewarded", "mean_reward", "reward_sd")}
    served = with_feedback = rewarded = 0
    total = squares = 0.0
    for row in rows:
        served += row["served"]
        with_feedback += row["with_feedback"]
        n, mean, sd = row["rewarded"], row["mean_reward"], row["reward_sd"]
        if n and mean is not None:
            rewarded += n
            total += n * mean
            squares += (n - 1) * (sd or 0.0) ** 2 + n * mean * mean
    mean_reward = total / rewarded if rewarded else None
    reward_sd = None
    if mean_reward is not None and rewarded > 1:
        reward_sd = math.sqrt(max(0.0, (squares - rewarded * mean_reward * mean_reward) / (rewarded - 1)))
    return {
        "served": served,
        "with_feedback": with_feedback,
        "rewarded": rewarded,
        "mean_reward": mean_reward,
        "reward_sd": reward_sd,
    }


def arm_rows(daily: Sequence[Mapping[str, Any]], group_by: Sequence[str]) -> list[ArmRow]:
    """One row per combination of `group_by` values over the days of `daily` (`daily_rows`), most served first.

    The mean reward counts finalized tips only (a reward that can still change would bias young arms).
    """
    paths = group_paths(group_by)
    by_group: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in daily:
        by_group[tuple(row[path] for path in paths)].append(row)
    found = [
        ArmRow(group=dict(zip(group_by, values, strict=True)), **pooled(rows)) for values, rows in by_group.items()
    ]
    return sort_rows(found, "-served")


def sort_rows(rows: list[ArmRow], order: str) -> list[ArmRow]:
    """`rows` sorted by the column `order` names ("-" first: descending), missing values last, then by group."""
    key = order.removeprefix("-")
    descending = order.startswith("-")
    by_group = sorted(rows, key=lambda row: tuple(str(v) for v in row.group.values()))
    present = [row for row in by_group if row.sort_value(key) is not None]
    missing = [row for row in by_group if row.sort_value(key) is None]
    return sorted(present, key=lambda row: row.sort_value(key), reverse=descending) + missing
