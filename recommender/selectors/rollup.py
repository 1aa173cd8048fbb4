"""Reads of the daily rollup of tip_scores (docs/adr/0099): which days it covers, and its sums per day and group."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Subquery, Sum
from django.utils import timezone

from recommender.models import TipRequestShadowDay, TipScore, TipScoreDay, TipScoreDaysCovered
from recommender.services.rollup import SUMS, day_start


def covered_before(*, zone_name: str) -> date | None:
    """The first day to read live from tip_scores in `zone_name`: the rollup holds every tip of the days before it.

    None without a rollup in that zone. The bound the last refresh recorded, or the day of the oldest tip not
    final now if earlier: a day with a tip that can still change is never read from the rollup. One query.
    """
    oldest_open = TipScore.objects.filter(finalized_at__isnull=True).order_by("served_at").values("served_at")[:1]
    row = (
        TipScoreDaysCovered.objects.filter(zone=zone_name)
        .annotate(oldest_open=Subquery(oldest_open))
        .values("before", "oldest_open")
        .first()
    )
    if row is None:
        return None
    if row["oldest_open"] is None:
        return row["before"]
    return min(row["before"], timezone.localdate(row["oldest_open"], ZoneInfo(zone_name)))


def covered_days(*, since: datetime | None, until: datetime | None) -> tuple[date | None, date] | None:
    """The whole days [first, end) of the period [since, until) that the rollup holds in the current time zone
    (first None: from its first day), or None when it holds none of them. Queries the bound (`covered_before`)."""
    zone = timezone.get_current_timezone()
    covered = covered_before(zone_name=timezone.get_current_timezone_name())
    first = None
    if since is not None:
        first = timezone.localdate(since, zone)
        first += timedelta(days=1) if day_start(first, zone) < since else timedelta(0)
    end = covered if until is None or covered is None else min(covered, timezone.localdate(until, zone))
    if end is None or (first is not None and first >= end):
        return None
    return first, end


def rolled_up_days(*, zone_name: str, first: date | None, end: date, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The rollup's sums per day in [first, end) (None: from its first day) and per combination of `keys`."""
    rows = TipScoreDay.objects.filter(zone=zone_name, day__lt=end)
    if first is not None:
        rows = rows.filter(day__gte=first)
    return list(rows.values("day", *keys).annotate(**{name: Sum(name) for name in SUMS}).order_by())


def rolled_up_shadow(
    *, zone_name: str, first: date | None, end: date, versions: list[int]
) -> dict[int, tuple[int, int]]:
    """Per shadow version of `versions`: serves it scored and agreed with on the days [first, end) (None: from the
    rollup's first day), as `recommender.selectors.evaluations.shadow_agreement` counts them."""
    rows = TipRequestShadowDay.objects.filter(zone=zone_name, day__lt=end, model_version__in=versions)
    if first is not None:
        rows = rows.filter(day__gte=first)
    found = rows.values_list("model_version").annotate(n=Sum("shadowed"), agreed_n=Sum("agreed")).order_by()
    return {version: (n, agreed) for version, n, agreed in found if version is not None}  # in `versions`: never None
