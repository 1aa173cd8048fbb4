"""The arm comparison's chart: per group, mean reward per day with its 95% band and tips served per day, as inline SVG.

Drawn on the server by matplotlib (already a dependency) so that it renders with JavaScript off and
needs no static chart library; matplotlib is imported on first use only, keeping it out of every other
request's start-up (docs/adr/0086).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from recommender.admin_arm_stats import MISSING, Z95, group_keys, mean_interval, pooled

# More lines than this cannot be told apart; the chart shows the groups that served most.
MAX_SERIES = 6


@dataclass
class Series:
    """One group's days: tips served, and the mean reward of its final rewards with the 95% interval."""

    label: str
    days: list[date] = field(default_factory=list)
    served: list[int] = field(default_factory=list)
    rewarded: list[int] = field(default_factory=list)  # final rewards that day
    mean: list[float] = field(default_factory=list)  # NaN: no final reward that day
    low: list[float] = field(default_factory=list)  # NaN: fewer than two final rewards
    high: list[float] = field(default_factory=list)
    sd: list[float] = field(default_factory=list)  # NaN: fewer than two final rewards

    @property
    def total(self) -> int:
        return sum(self.served)


def group_label(group_by: Sequence[str], values: Sequence[Any]) -> str:
    return " · ".join(MISSING.get(k, "—") if v is None else str(v) for k, v in zip(group_by, values, strict=True))


def daily_series(daily: Sequence[Mapping[str, Any]], group_by: Sequence[str]) -> list[Series]:
    """The MAX_SERIES most served groups of `daily` (`daily_rows`), day by day; rows of one group and day pooled."""
    keys = group_keys(group_by)
    by_day: dict[tuple, dict[date, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in daily:
        by_day[tuple(row[key] for key in keys)][row["day"]].append(row)
    # The most served groups first (ties by label), and only their days pooled: pooling every group's days to keep
    # six was the page's costliest Python (a third of a cold "All time" load by the default groups, 36 x 91 days).
    served = {values: sum(row["served"] for rows in days.values() for row in rows) for values, days in by_day.items()}
    shown = sorted(by_day, key=lambda values: (-served[values], group_label(group_by, values)))[:MAX_SERIES]
    found = []
    for values in shown:
        days = by_day[values]
        series = Series(group_label(group_by, values))
        for day in sorted(days):
            row = pooled(days[day])
            interval = mean_interval(row["mean_reward"], row["reward_sd"], row["rewarded"], Z95)
            series.days.append(day)
            series.served.append(row["served"])
            series.rewarded.append(row["rewarded"])
            series.mean.append(math.nan if row["mean_reward"] is None else row["mean_reward"])
            series.sd.append(math.nan if row["reward_sd"] is None else row["reward_sd"])
            series.low.append(interval.low if interval else math.nan)
            series.high.append(interval.high if interval else math.nan)
        found.append(series)
    return found


@dataclass(frozen=True)
class Margins:
    """Where a figure's panels end, as fractions of its width and height (matplotlib's subplots_adjust)."""

    left: float = 0.07
    right: float = 0.98
    bottom: float = 0.1
    top: float = 0.92
    hspace: float = 0.35  # between stacked panels, room for the lower one's title


def figure_svg(
    draw: Callable[[Any], None], *, salt: str, size: tuple[float, float], margins: Margins = Margins()
) -> SafeString:
    """A matplotlib figure that `draw` fills, as an inline <svg> element (the arm comparison's and the loop's).

    The layout is fixed (`margins`), not constrained: constrained layout measured every text twice and took half
    of the drawing time (docs/benchmarks.md). The margins leave room for the longest tick labels and titles the
    charts print; legends with labels of any length are wrapped to their column (`legend_label`).
    """
    # Lazy: only the chart pages draw. Figure, not pyplot: no global state and no GUI backend, SVG output only.
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    # Text stays text (searchable, scales with the page); a fixed hash salt makes the SVG's ids repeatable.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}):
        figure = Figure(figsize=size)
        figure.subplots_adjust(**vars(margins))
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline: the <svg> element only, without the XML declaration and DOCTYPE of a standalone file.
    # Safe: matplotlib writes every label as escaped XML text (a test renders a label with markup in it).
    return mark_safe(text[text.index("<svg") :])


def date_axis(axes: Any) -> None:
    """Concise day labels on `axes`' x axis."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))


# The arm chart's legend has the right 28% of its 11 inches (about 220 pt): 34 characters at 9 pt and its line fit.
ARM_MARGINS = Margins(left=0.075, right=0.71, bottom=0.09, top=0.93)
LEGEND_LEFT = 0.72
LEGEND_CHARS = 34


def legend_label(label: str, width: int = LEGEND_CHARS) -> str:
    """`label` in lines of at most `width` characters, broken after a " · " between group values where it can."""
    lines: list[str] = []
    for part in label.split(" · "):
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and len(joined) <= width:
            lines[-1] = joined
        else:
            lines.extend(textwrap.wrap(part, width, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def svg_chart(series: list[Series]) -> SafeString:
    """Two panels sharing the day axis: mean reward per day with a 95% band, and tips served per day."""

    def draw(figure: Any) -> None:
        reward_axes, served_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        for index, one in enumerate(series):
            colour = f"C{index}"
            reward_axes.plot(one.days, one.mean, marker="o", markersize=3, color=colour, label=legend_label(one.label))
            reward_axes.fill_between(one.days, one.low, one.high, color=colour, alpha=0.15, linewidth=0)
            served_axes.plot(one.days, one.served, marker="o", markersize=3, color=colour)
        reward_axes.set_title("Mean reward per day (final rewards; band: 95% interval)", loc="left")
        reward_axes.set_ylim(-0.02, 1.02)
        reward_axes.set_ylabel("Mean reward")
        served_axes.set_title("Tips served per day", loc="left")
        served_axes.set_ylabel("Tips")
        served_axes.set_ylim(bottom=0)
        date_axis(served_axes)
        for axes in (reward_axes, served_axes):
            axes.grid(alpha=0.3)
        if series:  # in the column right of the panels, top-aligned with them
            figure.legend(loc="upper left", bbox_to_anchor=(LEGEND_LEFT, ARM_MARGINS.top), frameon=False)

    return figure_svg(draw, salt="arm-summary", size=(11, 5.2), margins=ARM_MARGINS)
