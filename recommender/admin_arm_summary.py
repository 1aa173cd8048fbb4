"""The arm comparison page: its period picker, its sortable columns and what its template shows per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString

from recommender.admin_arm_stats import (
    DEFAULT_GROUPS,
    GROUPS,
    MIN_SAMPLE,
    MISSING,
    ArmRow,
    Interval,
    arm_rows,
    daily_rows,
    sort_rows,
)
from recommender.admin_cache import cached_figures
from recommender.admin_chart import MAX_SERIES, daily_series, svg_chart
from recommender.admin_period import DEFAULT_DAYS, PERIODS, PeriodForm, period_bounds, preset_start
from recommender.models import TipScore

CUSTOM = "custom"
# The figures a row can be sorted by, besides its group values: key -> column label.
FIGURES = {
    "served": "Tips served",
    "feedback_rate": "Feedback rate (95% interval)",
    "rewarded": "Final rewards",
    "mean_reward": "Mean reward (95% interval)",
}
DEFAULT_ORDER = "-served"


@dataclass(frozen=True)
class Period:
    key: str  # a PERIODS key, or CUSTOM
    label: str
    first_day: date | None  # None: from the first tip
    last_day: date | None  # inclusive; None: up to now

    @property
    def since(self) -> datetime | None:
        return period_bounds(self.first_day, self.last_day)[0]

    @property
    def until(self) -> datetime | None:  # exclusive
        return period_bounds(self.first_day, self.last_day)[1]

    def as_query(self) -> dict[str, str]:
        """The period as the export's `since`/`until` parameters."""
        days = {"since": self.first_day, "until": self.last_day}
        return {name: day.isoformat() for name, day in days.items() if day is not None}


class ArmSummaryForm(PeriodForm):
    period = forms.ChoiceField(choices=[(k, label) for k, (label, _) in PERIODS.items()], required=False)
    group_by = forms.MultipleChoiceField(
        choices=[(key, label) for key, (_, label) in GROUPS.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def chosen_period(self) -> Period | None:
        """The period asked for (dates win over a preset); by default the last 7 days if they hold a tip, else
        all time, so that the page shows data whenever there is any. None when the form is invalid."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        first: date | None = data.get("since")
        last: date | None = data.get("until")
        if first or last:
            label = f"{first.isoformat() if first else 'the first tip'} to {last.isoformat() if last else 'today'}"
            return Period(CUSTOM, label, first, last)
        key = data.get("period") or _default_period()
        label, days = PERIODS[key]
        return Period(key, label, preset_start(days) if days else None, None)

    def groups(self) -> list[str]:
        """The grouping asked for, in the order GROUPS lists them; by default prompt version, LLM model and kind."""
        data = self.cleaned_data if self.is_valid() else {}
        chosen = set(data.get("group_by") or DEFAULT_GROUPS)
        return [key for key in GROUPS if key in chosen]


def _default_period() -> str:
    week, _ = period_bounds(preset_start(DEFAULT_DAYS), None)
    return "7d" if TipScore.objects.filter(served_at__gte=week).exists() else "all"


def percent(value: float) -> str:
    return f"{value:.1%}"


def _interval_text(interval: Interval | None, show: Any) -> str:
    return f"[{show(interval.low)}, {show(interval.high)}]" if interval else "no interval"


def _reward(value: float) -> str:
    return f"{value:.3f}"


def row_cells(row: ArmRow) -> dict[str, Any]:
    """What the template prints for `row`: labels for missing group values, percentages, interval texts."""
    return {
        "group": [MISSING.get(key, "—") if value is None else str(value) for key, value in row.group.items()],
        "served": row.served,
        "feedback_rate": percent(row.feedback_rate),
        "feedback_interval": _interval_text(row.feedback_interval, percent),
        "rewarded": row.rewarded,
        "mean_reward": "—" if row.mean_reward is None else _reward(row.mean_reward),
        "reward_interval": _interval_text(row.reward_interval, _reward),
        "warnings": row.warnings,
    }


def columns(group_by: list[str], order: str) -> list[dict[str, Any]]:
    """The table's headers: label, the `o` value a click asks for (toggling the direction) and the current one."""
    current, descending = order.removeprefix("-"), order.startswith("-")
    found = []
    for key, label in [*((k, GROUPS[k][1]) for k in group_by), *FIGURES.items()]:
        numeric = key in FIGURES
        if key == current:
            next_order = key if descending else f"-{key}"
            arrow = "▼" if descending else "▲"
        else:
            next_order, arrow = (f"-{key}" if numeric else key), ""
        found.append({"key": key, "label": label, "next": next_order, "arrow": arrow, "numeric": numeric})
    return found


def _figures(period: Period, group_by: list[str]) -> tuple[list[ArmRow], SafeString | None]:
    """The period's rows per group and their chart, from one per-day aggregate."""
    daily = daily_rows(since=period.since, until=period.until, group_by=group_by)
    rows = arm_rows(daily, group_by)
    return rows, svg_chart(daily_series(daily, group_by)) if rows else None


def summary_context(request: HttpRequest) -> dict[str, Any]:
    """Everything the arm comparison template needs for `request` (GET: period, since, until, group_by, o)."""
    data = request.GET.copy()
    if not data.getlist("group_by"):  # bound with the default groups, so their boxes show ticked
        data.setlist("group_by", list(DEFAULT_GROUPS))
    form = ArmSummaryForm(data)
    period, group_by = form.chosen_period(), form.groups()
    order = request.GET.get("o") or DEFAULT_ORDER
    if order.removeprefix("-") not in (*group_by, *FIGURES):
        order = DEFAULT_ORDER
    rows: list[ArmRow] = []
    chart = computed_at = None
    if period is not None:
        figures = cached_figures(
            "arm-summary", (period.since, period.until, *group_by), lambda: _figures(period, group_by)
        )
        unsorted, chart = figures.value
        rows, computed_at = sort_rows(unsorted, order), figures.computed_at
    return {
        "form": form,
        "period": period,
        "export_url": f"{reverse('admin:recommender_tipscore_export')}?{urlencode(period.as_query())}"
        if period
        else "",
        "presets": [{"key": key, "label": label} for key, (label, _) in PERIODS.items()],
        "group_by": group_by,
        "columns": columns(group_by, order),
        "rows": rows,
        "cells": [row_cells(row) for row in rows],
        "chart": chart,
        "computed_at": computed_at,
        "chart_groups": MAX_SERIES,
        "min_sample": MIN_SAMPLE,
        "order": order,
    }
