"""Periods of served tips in the admin: two days (the last inclusive), presets, and the changelist filter for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

DEFAULT_DAYS = 7  # the arm comparison's default period when it holds a tip
# Preset periods, in days back from today (None: all time); pages show them as links.
PERIODS: dict[str, tuple[str, int | None]] = {
    "7d": ("Last 7 days", DEFAULT_DAYS),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
    "all": ("All time", None),
}


def preset_start(days: int) -> date:
    """The first day of the last `days` days, today included."""
    return timezone.localdate() - timedelta(days=days - 1)


def period_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """[since, until] as days in the current time zone (until inclusive) -> [start, end) as aware datetimes."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(since, time.min, tzinfo=zone) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone) if until else None
    return start, end


def in_period(queryset: QuerySet, since: date | None, until: date | None) -> QuerySet:
    """`queryset` limited to tips served from `since` to `until` (inclusive days; None: open)."""
    start, end = period_bounds(since, until)
    if start is not None:
        queryset = queryset.filter(served_at__gte=start)
    if end is not None:
        queryset = queryset.filter(served_at__lt=end)
    return queryset


class PeriodForm(forms.Form):
    """Two optional days, the last inclusive: the period of the arm comparison, the changelist and the export."""

    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The period must start before it ends.")
        return data


class PeriodFilter(admin.ListFilter):
    """`?since=&until=` (days) on served_at, with the presets as links: the changelist and its export read it."""

    title = "period served"
    parameters = ("since", "until")

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def has_output(self) -> bool:
        return True  # else the changelist would not apply it

    def expected_parameters(self) -> list[str | None]:
        return list(self.parameters)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        form = PeriodForm(self.used_parameters)
        if not form.is_valid():  # the changelist answers "?e=1", the export a 400
            raise IncorrectLookupParameters(" ".join(str(e) for e in form.non_field_errors()) or "Invalid period days.")
        return in_period(queryset, form.cleaned_data["since"], form.cleaned_data["until"])

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        current = {name: self.used_parameters.get(name) for name in self.parameters}
        yield {
            "selected": not any(current.values()),
            "query_string": changelist.get_query_string(remove=list(self.parameters)),
            "display": "All time",
        }
        for label, days in PERIODS.values():
            if days is None:
                continue
            since = preset_start(days).isoformat()
            yield {
                "selected": current == {"since": since, "until": None},
                "query_string": changelist.get_query_string({"since": since}, remove=list(self.parameters)),
                "display": label,
            }
        presets = {preset_start(d).isoformat() for _, d in PERIODS.values() if d}
        if any(current.values()) and not (current["until"] is None and current["since"] in presets):
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": f"{current['since'] or 'the first tip'} to {current['until'] or 'today'}",
            }
