"""Operators' admin over tip_scores: read-only, filterable, fast on millions of rows, with an arm comparison."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from recommender.admin_tools import NONE_VALUE, EstimatedCountPaginator, RangeDatesQuerySet, indexed_values_filter
from recommender.models import TipRequest, TipScore
from recommender.selectors.arm_summary import DIMENSIONS, arm_summary

SUMMARY_DEFAULT_DAYS = 7


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logged data is evidence for learning and offline evaluation: operators look, never edit."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no second COUNT(*) over the unfiltered table per page view
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TipScore)
class TipScoreAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "served_at",
        "user",
        "tip_kind",
        "source",
        "title",
        "llm_model",
        "prompt_version",
        "position",
        "propensity",
        "last_action",
        "reward",
    )
    list_select_related = ("user",)
    list_filter = (
        "tip_kind",
        "source",
        indexed_values_filter("llm_model", "LLM model", none_label="(rule tip)"),
        indexed_values_filter("prompt_version", "prompt version"),
        indexed_values_filter("last_action", "last action", none_label="(no feedback)"),
    )
    date_hierarchy = "served_at"
    # Served-time order is what the served_at index (and each filter's (column, served_at) index) delivers.
    ordering = ("-served_at",)
    search_fields = ("title",)  # a trigram index (migration 0002) serves it on PostgreSQL
    search_help_text = "Search in the tip's title."
    raw_id_fields = ("user", "request")
    change_list_template = "admin/recommender/tipscore/change_list.html"

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        """Served-time order, led by the column a value filter pins, so that its (column, served_at) index serves it."""
        for list_filter in self.list_filter:
            name = getattr(list_filter, "parameter_name", None)
            if getattr(list_filter, "pins_its_column", False) and request.GET.get(name) not in (None, "", NONE_VALUE):
                return (f"-{name}", *self.ordering)
        return tuple(self.ordering)

    def get_queryset(self, request: HttpRequest) -> RangeDatesQuerySet:
        return RangeDatesQuerySet.of(super().get_queryset(request))

    def get_urls(self) -> list:
        summary = path(
            "arm-summary/", self.admin_site.admin_view(self.arm_summary_view), name="recommender_arm_summary"
        )
        return [summary, *super().get_urls()]

    def arm_summary_view(self, request: HttpRequest) -> HttpResponse:
        """Compare arms: served, feedback rate and mean reward per prompt version, model and kind, for a period."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ArmSummaryForm(request.GET or None)
        since, until, group_by = form.period_and_groups()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Compare arms",
            "form": form,
            "since": since,
            "until": until,
            "group_by": group_by,
            "rows": arm_summary(since=since, until=until, group_by=group_by) if group_by else [],
        }
        return TemplateResponse(request, "admin/recommender/arm_summary.html", context)


class ArmSummaryForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")
    group_by = forms.MultipleChoiceField(
        choices=[(d, d.replace("_", " ")) for d in DIMENSIONS], required=False, widget=forms.CheckboxSelectMultiple
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The period must start before it ends.")
        return data

    def period_and_groups(self) -> tuple[datetime, datetime, list[str]]:
        """Return [since, until) as aware datetimes and the grouping; defaults: the last week, by the issue's three."""
        today = timezone.localdate()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        first = data.get("since") or today - timedelta(days=SUMMARY_DEFAULT_DAYS - 1)
        last = data.get("until") or today
        groups = list(data.get("group_by") or DIMENSIONS[:3])
        zone = timezone.get_current_timezone()
        since = datetime.combine(first, time.min, tzinfo=zone)
        until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
        if not self.is_bound:
            self.initial = {"since": first, "until": last, "group_by": groups}
        return since, until, groups if not (self.is_bound and self.errors) else []


@admin.register(TipRequest)
class TipRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "user", "policy", "degraded")
    list_select_related = ("user",)
    ordering = ("-id",)  # the primary key grows with time; created_at has no index of its own
    raw_id_fields = ("user",)
