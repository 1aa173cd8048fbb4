"""The arm comparison's chart: per group, mean reward per day with its 95% band and tips served per day, as inline SVG.

Drawn on the server by matplotlib (already a dependency) so that it renders with JavaScript off and
needs no static chart library; matplotlib is imported on first use only, keeping it out of every other
request's start-up (docs/adr/0086).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from recommender.admin_arm_stats import MISSING, Z95, group_paths, grouped, mean_interval, period_filter
from recommender.models import TipScore

# More lines than this cannot be told apart; the chart shows the groups that served most.
MAX_SERIES = 6


@dataclass
class Series:
    """One group's days: tips served, and the mean reward of its final rewards with the 95% interval."""

    label: str
    days: list[date] = field(default_factory=list)
    served: list[int] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)  # NaN: no final reward that day
    low: list[float] = field(default_factory=list)  # NaN: fewer than two final rewards
    high: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.served)


def group_label(group_by: Sequence[str], values: Sequence[Any]) -> str:
    return " · ".join(MISSING.get(k, "—") if v is None else str(v) for k, v in zip(group_by, values, strict=True))


def daily_series(*, since: datetime | None, until: datetime | None, group_by: Sequence[str]) -> list[Series]:
    """The MAX_SERIES most served groups of the period, day by day in the current time zone (one query)."""
    paths = group_paths(group_by)
    queryset = TipScore.objects.filter(period_filter(since, until)).annotate(
        day=TruncDate("served_at", tzinfo=timezone.get_current_timezone())
    )
    by_group: dict[tuple, Series] = defaultdict(lambda: Series(""))
    for row in grouped(queryset, "day", *paths).order_by("day"):
        values = tuple(row[path] for path in paths)
        series = by_group[values]
        interval = mean_interval(row["mean_reward"], row["reward_sd"], row["rewarded"], Z95)
        series.days.append(row["day"])
        series.served.append(row["served"])
        series.mean.append(math.nan if row["mean_reward"] is None else row["mean_reward"])
        series.low.append(interval.low if interval else math.nan)
        series.high.append(interval.high if interval else math.nan)
    for values, series in by_group.items():
        series.label = group_label(group_by, values)
    return sorted(by_group.values(), key=lambda s: (-s.total, s.label))[:MAX_SERIES]


def svg_chart(series: list[Series]) -> SafeString:
    """Two panels sharing the day axis: mean reward per day with a 95% band, and tips served per day."""
    # Lazy: only this page draws. Figure, not pyplot: no global state and no GUI backend, SVG output only.
    from matplotlib import rc_context
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    # Text stays text (searchable, scales with the page); a fixed hash salt makes the SVG's ids repeatable.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "arm-summary", "font.size": 9}):
        figure = Figure(figsize=(11, 5.2), layout="constrained")
        reward_axes, served_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        for index, one in enumerate(series):
            colour = f"C{index}"
            reward_axes.plot(one.days, one.mean, marker="o", markersize=3, color=colour, label=one.label)
            reward_axes.fill_between(one.days, one.low, one.high, color=colour, alpha=0.15, linewidth=0)
            served_axes.plot(one.days, one.served, marker="o", markersize=3, color=colour)
        reward_axes.set_title("Mean reward per day (final rewards; band: 95% interval)", loc="left")
        reward_axes.set_ylim(-0.02, 1.02)
        reward_axes.set_ylabel("Mean reward")
        served_axes.set_title("Tips served per day", loc="left")
        served_axes.set_ylabel("Tips")
        served_axes.set_ylim(bottom=0)
        locator = AutoDateLocator()
        served_axes.xaxis.set_major_locator(locator)
        served_axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        for axes in (reward_axes, served_axes):
            axes.grid(alpha=0.3)
        if series:
            figure.legend(loc="outside right upper", frameon=False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline: the <svg> element only, without the XML declaration and DOCTYPE of a standalone file.
    # Safe: matplotlib writes every label as escaped XML text (a test renders a label with markup in it).
    return mark_safe(text[text.index("<svg") :])
