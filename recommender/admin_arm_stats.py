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

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from recommender.models import TipScore
from recommender.selectors.rollup import covered_days, rolled_up_days
from recommender.services.rollup import SUMS, day_start

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
# Below this many tips (or final rewards) a group's interval is too wide to decide on: the row says so.
MIN_SAMPLE = 30
REWARD_RANGE = (0.0, 1.0)  # recommender/reward_table.py: every reward is in [0, 1]

# What a group can be made of: key (a column of the rollup) -> (its ORM path from tip_scores, the label operators read).
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


def group_keys(group_by: Sequence[str]) -> list[str]:
    """`group_by` checked against GROUPS; ValueError names the known keys."""
    unknown = set(group_by) - set(GROUPS)
    if unknown or not group_by:
        raise ValueError(f"group_by must be a non-empty subset of {list(GROUPS)}, not {list(group_by)}")
    return list(group_by)


def live_days(*, since: datetime | None, until: datetime | None, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per day in the current time zone and per combination of `keys`, the sums of tip_scores served in
    [since, until): the rollup's columns (recommender.models.TipScoreDay), computed from the rows."""
    final = Q(finalized_at__isnull=False)
    zone = timezone.get_current_timezone()
    columns = [key for key in keys if GROUPS[key][0] == key]  # the tip's own columns; the request's by alias
    joined = {key: F(GROUPS[key][0]) for key in keys if key not in columns}
    return list(
        TipScore.objects.filter(period_filter(since, until))
        .values(*columns, day=TruncDate("served_at", tzinfo=zone), **joined)
        .annotate(
            served=Count("id"),
            with_feedback=Count("id", filter=Q(feedback_at__isnull=False)),
            rewarded=Count("reward", filter=final),
            reward_sum=Coalesce(Sum("reward", filter=final), 0.0),
            reward_squares=Coalesce(Sum(F("reward") * F("reward"), filter=final), 0.0),
        )
        .order_by()
    )


def daily_rows(*, since: datetime | None, until: datetime | None, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Per day and per combination of `group_by` values, the sums of the tips served in [since, until), by day.

    The arm comparison's table and its chart, and the model versions page, are made of these. Days the rollup
    covers come from it, the rest live from tip_scores (docs/adr/0099); the sums are the same either way.
    """
    keys = group_keys(group_by)
    zone = timezone.get_current_timezone()
    days = covered_days(since=since, until=until)
    if days is None:
        return sorted(live_days(since=since, until=until, keys=keys), key=lambda row: row["day"])
    first, end = days
    rows = rolled_up_days(zone_name=timezone.get_current_timezone_name(), first=first, end=end, keys=keys)
    if since is not None and first is not None and since < day_start(first, zone):  # a period starting within a day
        rows += live_days(since=since, until=day_start(first, zone), keys=keys)
    rows += live_days(since=day_start(end, zone), until=until, keys=keys)
    return sorted(rows, key=lambda row: row["day"])


def moments(rewarded: int, reward_sum: float, reward_squares: float) -> tuple[float | None, float | None]:
    """The mean and sample standard deviation of `rewarded` rewards from their sum and sum of squares.

    n·Σx² - (Σx)² is exact for rewards in eighths (recommender/reward_table.py), so only the division and the
    square root round: the same figures from tips summed in any grouping or order.
    """
    if not rewarded:
        return None, None
    mean = reward_sum / rewarded
    if rewarded < 2:
        return mean, None
    spread = rewarded * reward_squares - reward_sum * reward_sum
    return mean, math.sqrt(max(0.0, spread) / (rewarded * (rewarded - 1)))


def pooled(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several `daily_rows` rows as one: counts added, the mean and sample deviation of all their final rewards."""
    rows = list(rows)
    sums = {name: sum(row[name] for row in rows) for name in SUMS}
    mean_reward, reward_sd = moments(sums["rewarded"], sums["reward_sum"], sums["reward_squares"])
    return {
        "served": sums["served"],
        "with_feedback": sums["with_feedback"],
        "rewarded": sums["rewarded"],
        "mean_reward": mean_reward,
        "reward_sd": reward_sd,
    }


def arm_rows(daily: Sequence[Mapping[str, Any]], group_by: Sequence[str]) -> list[ArmRow]:
    """One row per combination of `group_by` values over the days of `daily` (`daily_rows`), most served first.

    The mean reward counts finalized tips only (a reward that can still change would bias young arms).
    """
    keys = group_keys(group_by)
    by_group: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in daily:
        by_group[tuple(row[key] for key in keys)].append(row)
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
