"""Operators' admin over tip_scores: read-only, filterable, fast on millions of rows, with an arm comparison."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from recommender.admin_arm_summary import summary_context
from recommender.admin_candidates import significant, why_this_tip_table
from recommender.admin_export import csv_lines, export_filename
from recommender.admin_loop import PolicyEvaluationAdmin, PolicyModelAdmin
from recommender.admin_period import PeriodFilter
from recommender.admin_tools import (
    NONE_VALUE,
    EstimatedCountPaginator,
    RangeDatesQuerySet,
    ViewOnlyAdmin,
    indexed_values_filter,
)
from recommender.models import TipRequest, TipScore

# Registered there: the contextual loop's pages (offline evaluations, model versions).
__all__ = ["PolicyEvaluationAdmin", "PolicyModelAdmin", "TipRequestAdmin", "TipScoreAdmin"]

# Longer titles and model names are cut in the changelist (the whole text is the cell's tooltip).
TITLE_CHARS, MODEL_CHARS, PROMPT_CHARS = 44, 26, 18


def _shortened(text: str, chars: int) -> str:
    shortened = Truncator(text).chars(chars)
    return format_html('<span title="{}">{}</span>', text, shortened) if shortened != text else text


class ReadOnlyAdmin(ViewOnlyAdmin):
    """Logged data is evidence for learning and offline evaluation: operators look, never edit."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no second COUNT(*) over the unfiltered table per page view
    list_per_page = 50


@admin.register(TipScore)
class TipScoreAdmin(ReadOnlyAdmin):
    # What fits 1,400 px beside the filters (docs/adr/0087); every other column is on the detail page.
    list_display = (
        "served",
        "user",
        "short_title",
        "arm",
        "short_model",
        "prompt_version",
        "rounded_propensity",
        "feedback",
    )
    list_display_links = ("served",)
    fieldsets = (
        ("Tip", {"fields": ("title", "body", "rationale", "tip_kind", "source", "task_ids")}),
        ("Serving", {"fields": ("served_at", "user", "request", "why_this_tip", "position", "score", "propensity")}),
        ("Generation", {"fields": ("prompt_version", "llm_model", "due_age_days", "features")}),
        ("Feedback", {"fields": ("last_action", "reward", "feedback_at", "finalized_at")}),
    )
    list_select_related = ("user",)
    list_filter = (
        PeriodFilter,
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
    readonly_fields = ("why_this_tip",)

    @admin.display(description="Served", ordering="served_at")
    def served(self, obj: TipScore) -> str:
        return date_format(timezone.localtime(obj.served_at), "Y-m-d H:i")

    @admin.display(description="Title", ordering="title")
    def short_title(self, obj: TipScore) -> str:
        return _shortened(obj.title, TITLE_CHARS)

    @admin.display(description="LLM model", ordering="llm_model")
    def short_model(self, obj: TipScore) -> str:
        return _shortened(obj.llm_model, MODEL_CHARS) if obj.llm_model else "(rule tip)"

    @admin.display(description="Prompt version", ordering="prompt_version")
    def short_prompt(self, obj: TipScore) -> str:
        return _shortened(obj.prompt_version, PROMPT_CHARS) if obj.prompt_version else "—"

    @admin.display(description="Propensity", ordering="propensity")
    def rounded_propensity(self, obj: TipScore) -> str:
        return significant(obj.propensity)

    @admin.display(description="Feedback", ordering="last_action")
    def feedback(self, obj: TipScore) -> str:
        """The last action and the reward it gave so far ("accepted · 0.75"); "—" before any feedback."""
        if obj.last_action is None:
            return "—" if obj.reward is None else f"none · {significant(obj.reward)}"
        return obj.last_action if obj.reward is None else f"{obj.last_action} · {significant(obj.reward)}"

    @admin.display(description="Why this tip")
    def why_this_tip(self, obj: TipScore) -> str:
        """A link to the request's page: every candidate it was offered and each one's chance."""
        url = reverse("admin:recommender_tiprequest_change", args=[obj.request_id])
        return format_html('<a href="{}">All candidates of request {} and their probabilities</a>', url, obj.request_id)

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        """Served-time order, led by the column a value filter pins, so that its (column, served_at) index serves it."""
        for list_filter in self.list_filter:
            name = getattr(list_filter, "parameter_name", None)
            if not name or not getattr(list_filter, "pins_its_column", False):
                continue
            if request.GET.get(name) not in (None, "", NONE_VALUE):
                return (f"-{name}", *self.ordering)
        return tuple(self.ordering)

    def get_queryset(self, request: HttpRequest) -> RangeDatesQuerySet:
        return RangeDatesQuerySet.of(super().get_queryset(request))

    def get_urls(self) -> list:
        summary = path(
            "arm-summary/", self.admin_site.admin_view(self.arm_summary_view), name="recommender_arm_summary"
        )
        export = path("export/", self.admin_site.admin_view(self.export_view), name="recommender_tipscore_export")
        return [summary, export, *super().get_urls()]

    def arm_summary_view(self, request: HttpRequest) -> HttpResponse:
        """Compare arms: per group, tips served, feedback rate and mean reward with 95% intervals, for a period."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Compare arms",
            **summary_context(request),
        }
        return TemplateResponse(request, "admin/recommender/arm_summary.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The changelist's tips (its filters, period, search and dates) streamed as CSV, oldest first."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters as error:
            return HttpResponseBadRequest(f"Cannot export these tips: {error}")
        response = StreamingHttpResponse(csv_lines(queryset), content_type="text/csv; charset=utf-8")
        period = {name: request.GET.get(name) for name in PeriodFilter.parameters}
        response["Content-Disposition"] = f'attachment; filename="{export_filename(**period)}"'
        return response


@admin.register(TipRequest)
class TipRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "user", "policy", "model_version", "degraded")
    list_select_related = ("user",)
    ordering = ("-id",)  # the primary key grows with time; created_at has no index of its own
    raw_id_fields = ("user",)
    # The candidates as a table instead of their JSON; the estimates stay for whoever replays by hand.
    fieldsets = (
        (
            None,
            {"fields": ("created_at", "user", "policy", "model_version", "apprentice", "policy_params", "degraded")},
        ),
        ("Why this tip", {"fields": ("why_this_tip",)}),
        ("Logged arm estimates", {"fields": ("arm_estimates",), "classes": ("collapse",)}),
    )
    readonly_fields = ("why_this_tip", "apprentice")

    @admin.display(description="Apprentice (shadow model)")
    def apprentice(self, obj: TipRequest) -> str:
        """What the shadow model thought of this serve: its version, whether it agreed, its chance for the pick."""
        shadow = (obj.policy_params or {}).get("shadow")
        if not shadow:
            return "— (no shadow model scored this serve)"
        agreed = "agreed with the tip served first" if shadow.get("agrees") else "would have picked another tip"
        probability = significant(shadow.get("probability"))
        return f"v{shadow.get('model_version')} {agreed} (its probability for that tip: {probability})"

    @admin.display(description="Candidates")
    def why_this_tip(self, obj: TipRequest) -> SafeString:
        return why_this_tip_table(obj)
