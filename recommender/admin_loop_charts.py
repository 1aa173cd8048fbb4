"""The contextual loop's charts: the serving policy's learning curve and the offline evaluations, as inline SVG.

Drawn like the arm comparison's chart (recommender/admin_chart.py, docs/adr/0086): matplotlib on the
server, so the pages render with JavaScript off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from recommender.admin_arm_stats import mean_interval
from recommender.admin_chart import Margins, Series, date_axis, figure_svg
from recommender.models import PolicyEvaluation


@dataclass(frozen=True)
class Cumulative:
    """The mean of every final reward up to each day, with its 95% interval (NaN before two rewards)."""

    mean: list[float]
    low: list[float]
    high: list[float]


def cumulative(series: Series) -> Cumulative:
    """Running mean reward over `series`' days, from each day's count, mean and standard deviation."""
    count, total, squares = 0, 0.0, 0.0
    means, lows, highs = [], [], []
    for n, mean, sd in zip(series.rewarded, series.mean, series.sd, strict=True):
        if n:
            count += n
            total += n * mean
            squares += (n - 1) * (0.0 if math.isnan(sd) else sd) ** 2 + n * mean * mean
        running = total / count if count else math.nan
        variance = (squares - count * running * running) / (count - 1) if count > 1 else math.nan
        interval = mean_interval(running, math.sqrt(max(variance, 0.0)), count) if count > 1 else None
        means.append(running)
        lows.append(interval.low if interval else math.nan)
        highs.append(interval.high if interval else math.nan)
    return Cumulative(means, lows, highs)


def _reward_limits(values: list[float]) -> tuple[float, float]:
    """The drawn values with a margin, within the reward range [0, 1]: a flat curve near 0.2 stays readable."""
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return 0.0, 1.0
    margin = max(0.02, (max(known) - min(known)) * 0.2)
    return max(0.0, min(known) - margin), min(1.0, max(known) + margin)


def learning_curve_svg(series: Series) -> SafeString:
    """Mean reward per day with its 95% band, and the cumulative mean reward with its band, over the days."""
    running = cumulative(series)

    def draw(figure: Any) -> None:
        axes = figure.subplots(1, 1)
        axes.plot(series.days, series.mean, marker="o", markersize=3, color="C0", label="Mean reward that day")
        axes.fill_between(series.days, series.low, series.high, color="C0", alpha=0.15, linewidth=0)
        axes.plot(series.days, running.mean, color="C1", linewidth=2, label="Cumulative mean reward")
        axes.fill_between(series.days, running.low, running.high, color="C1", alpha=0.25, linewidth=0)
        axes.set_title(f"{series.label}: mean final reward per day and cumulative (bands: 95% intervals)", loc="left")
        axes.set_ylim(*_reward_limits([*series.low, *series.high, *series.mean]))
        axes.set_ylabel("Mean reward")
        axes.grid(alpha=0.3)
        date_axis(axes)
        axes.legend(loc="upper left", frameon=False)

    return figure_svg(draw, salt="learning-curve", size=(11, 4), margins=Margins(bottom=0.12, top=0.91))


def _interval(estimate: dict[str, Any]) -> tuple[float, float, float]:
    """(value, distance down to the low end, up to the high end) for an error bar; NaN where not known."""
    value = estimate.get("value")
    low, high = estimate.get("low"), estimate.get("high")
    if value is None:
        return math.nan, 0.0, 0.0
    return value, 0.0 if low is None else value - low, 0.0 if high is None else high - value


def evaluations_svg(evaluations: list[PolicyEvaluation]) -> SafeString:
    """Per finished evaluation (oldest left): target and logged values with their intervals, and the paired
    difference with its interval against zero (green: the gate passes)."""
    labels = [f"#{e.pk} v{e.model_id}" for e in evaluations]
    positions = list(range(len(evaluations)))

    def draw(figure: Any) -> None:
        values_axes, difference_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        for name, offset, colour in (("target", -0.12, "C0"), ("logged", 0.12, "C7")):
            points = [_interval(e.result.get(name) or {}) for e in evaluations]
            values_axes.errorbar(
                [x + offset for x in positions],
                [p[0] for p in points],
                yerr=[[p[1] for p in points], [p[2] for p in points]],
                fmt="o",
                capsize=3,
                color=colour,
                label="Target (doubly robust)" if name == "target" else "Logged policy",
            )
        for x, evaluation in zip(positions, evaluations, strict=True):
            value, down, up = _interval(evaluation.result.get("difference") or {})
            colour = "C2" if evaluation.passed else "C3"
            difference_axes.errorbar([x], [value], yerr=[[down], [up]], fmt="s", capsize=3, color=colour)
        difference_axes.axhline(0.0, color="black", linewidth=0.8)
        values_axes.set_title("Estimated mean reward on held-out picks (95% intervals)", loc="left")
        values_axes.set_ylabel("Mean reward")
        # Above the panel's right end, beside its title: never over a point.
        values_axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=2)
        difference_axes.set_title("Target - logged, paired 95% interval (green: passes the gate)", loc="left")
        difference_axes.set_ylabel("Difference")
        difference_axes.set_xticks(positions, labels)
        for axes in (values_axes, difference_axes):
            axes.grid(alpha=0.3)
            axes.set_xlim(-0.6, max(len(positions), 1) - 0.4)

    return figure_svg(draw, salt="evaluations", size=(11, 4.6), margins=Margins(bottom=0.08, top=0.9))
