"""The operators' arm comparison: tips served, feedback rate and mean reward per group, for a period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q

from recommender.models import TipScore

DIMENSIONS = ("prompt_version", "llm_model", "tip_kind", "source")


@dataclass(frozen=True)
class ArmSummaryRow:
    group: dict[str, Any]
    served: int
    with_feedback: int
    finalized: int
    mean_reward: float | None

    @property
    def feedback_rate(self) -> float:
        """Share of served tips that got any feedback (not only final ones)."""
        return self.with_feedback / self.served if self.served else 0.0


def arm_summary(*, since: datetime, until: datetime, group_by: Sequence[str] = DIMENSIONS[:3]) -> list[ArmSummaryRow]:
    """Return one row per combination of `group_by` values among tips served in [since, until), most served first.

    One aggregate query over the served_at index range; the mean reward counts finalized tips only
    (a reward that can still change would bias young arms).
    """
    unknown = set(group_by) - set(DIMENSIONS)
    if unknown or not group_by:
        raise ValueError(f"group_by must be a non-empty subset of {DIMENSIONS}, not {list(group_by)}")
    rows = (
        TipScore.objects.filter(served_at__gte=since, served_at__lt=until)
        .values(*group_by)
        .annotate(
            served=Count("id"),
            with_feedback=Count("id", filter=Q(feedback_at__isnull=False)),
            finalized=Count("id", filter=Q(finalized_at__isnull=False)),
            mean_reward=Avg("reward", filter=Q(finalized_at__isnull=False)),
        )
        .order_by("-served", *group_by)
    )
    return [
        ArmSummaryRow(
            group={name: row[name] for name in group_by},
            served=row["served"],
            with_feedback=row["with_feedback"],
            finalized=row["finalized"],
            mean_reward=row["mean_reward"],
        )
        for row in rows
    ]
