"""What the contextual loop's admin pages show: evaluations with their estimates, switches, model versions in use."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString

from recommender.admin_arm_stats import MIN_SAMPLE, daily_rows, wilson_interval
from recommender.admin_arm_summary import percent
from recommender.admin_cache import cached_figures
from recommender.admin_chart import daily_series
from recommender.admin_loop_charts import evaluations_svg, learning_curve_svg
from recommender.admin_period import PERIODS, period_bounds, preset_start
from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch
from recommender.selectors.contextual import newest_model, serving_switch
from recommender.selectors.evaluations import (
    evaluations_pending,
    evaluations_recent,
    model_versions,
    shadow_agreement,
    switches_recent,
)
from recommender.selectors.rollup import covered_days, rolled_up_shadow
from recommender.services.rollup import day_start

CHARTED = 12  # finished evaluations the chart shows, the newest
# The evaluations chart is keyed by what it draws, so it never shows an old set of runs: kept a day.
EVALUATIONS_CHART_TTL_S = 86400
DEFAULT_PERIOD = "7d"  # the model versions page's period, as the arm comparison's


def when(moment: datetime | None) -> str:
    return "—" if moment is None else date_format(timezone.localtime(moment), "Y-m-d H:i")


def estimate_text(estimate: dict[str, Any] | None) -> tuple[str, str]:
    """(value, "[low, high]") of a logged Estimate.as_dict(); dashes when not known."""
    if not estimate or estimate.get("value") is None:
        return "—", ""
    low, high = estimate.get("low"), estimate.get("high")
    interval = "no interval" if low is None or high is None else f"[{low:.4f}, {high:.4f}]"
    return f"{estimate['value']:.4f}", interval


class RunForm(forms.Form):
    model = forms.TypedChoiceField(coerce=int, label="Model version")

    def __init__(self, *args: Any, versions: list[PolicyModel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["model"]
        assert isinstance(field, forms.TypedChoiceField)  # declared above; Form.fields is typed as plain Fields
        field.choices = [(v.pk, f"v{v.pk} ({when(v.created_at)}, {v.total_rows} rows)") for v in versions]


class PromoteForm(RunForm):
    override = forms.BooleanField(required=False, label="Override the gate")
    reason = forms.CharField(required=False, max_length=500, label="Reason (needed to override)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("override") and not (data.get("reason") or "").strip():
            raise forms.ValidationError("An override needs a reason: the audit row says why the gate was overruled.")
        return data


def evaluation_cells(evaluation: PolicyEvaluation) -> dict[str, Any]:
    """One evaluation as the page's table prints it."""
    result = evaluation.result or {}
    ess, share = result.get("ess"), result.get("ess_share")
    took = (
        f"{(evaluation.finished_at - evaluation.started_at).total_seconds():.0f} s"
        if evaluation.finished_at and evaluation.started_at
        else ""
    )
    return {
        "id": evaluation.pk,
        "model": evaluation.model_id,
        "status": evaluation.status,
        "actor": evaluation.actor,
        "queued": when(evaluation.queued_at),
        "took": took,
        "after": when(evaluation.held_out_after) if evaluation.held_out_after else "the first pick",
        "until": when(evaluation.held_out_until),
        "n": result.get("n", "—"),
        "target": estimate_text(result.get("target")),
        "logged": estimate_text(result.get("logged")),
        "difference": estimate_text(result.get("difference")),
        "ess": "—" if ess is None else f"{ess:.0f}",
        "ess_share": "" if share is None else percent(share),
        "passed": evaluation.passed,
        "verdict": evaluation.error or evaluation.verdict or "—",
    }


def switch_cells(switch: PolicySwitch) -> dict[str, Any]:
    evidence = switch.evaluation or {}
    return {
        "when": when(switch.created_at),
        "policy": switch.policy,
        "model": switch.model_id,
        "actor": switch.actor,
        "overridden": switch.overridden,
        "reason": switch.reason or "—",
        "difference": estimate_text(evidence.get("difference")),
        "n": evidence.get("n", "—"),
    }


def _evaluations_chart(charted: list[PolicyEvaluation]) -> SafeString | None:
    """The chart of `charted`, drawn once per set of finished runs: a new run, or one deleted, draws it again.

    A finished evaluation is written once, with its result and finished_at together (recommender/services/
    evaluations.py), so its id and finish time name what it draws.
    """
    if not charted:
        return None
    drawn = ",".join(f"{e.pk}@{e.finished_at.isoformat() if e.finished_at else '-'}" for e in charted)
    digest = hashlib.sha256(drawn.encode()).hexdigest()[:32]  # a short key whatever the number charted
    return cached_figures(
        "evaluations", (digest,), lambda: evaluations_svg(charted), timeout=EVALUATIONS_CHART_TTL_S
    ).value


def evaluations_context(*, run_form: RunForm | None = None, promote_form: PromoteForm | None = None) -> dict[str, Any]:
    """Everything the evaluations page shows: the table, its chart, the two forms, the audit trail."""
    evaluations = evaluations_recent()
    versions = model_versions()
    switch = serving_switch()
    charted = [e for e in evaluations if e.status == PolicyEvaluation.Status.DONE and e.result][:CHARTED][::-1]
    return {
        "rows": [evaluation_cells(e) for e in evaluations],
        "pending": evaluations_pending(),
        "chart": _evaluations_chart(charted),
        "run_form": run_form or RunForm(versions=versions),
        "promote_form": promote_form or PromoteForm(versions=versions),
        "has_versions": bool(versions),
        "switches": [switch_cells(s) for s in switches_recent()],
        "serving_version": switch.model_id if switch else None,
        "min_rows": settings.TIPS_PROMOTION_MIN_ROWS,
        "clip": settings.TIPS_EVALUATION_CLIP,
    }


def _agreement(shadowed: int, agreed: int) -> tuple[str, str]:
    interval = wilson_interval(agreed, shadowed)
    if interval is None:
        return "—", ""
    return percent(agreed / shadowed), f"[{percent(interval.low)}, {percent(interval.high)}]"


def _shadow_agreement(*, versions: list[int], since: datetime | None) -> dict[int, tuple[int, int]]:
    """`shadow_agreement` since `since`, the days the rollup holds read from it (docs/adr/0099), the rest live."""
    days = covered_days(since=since, until=None)
    zone = timezone.get_current_timezone()
    if days is None or (since is not None and days[0] is not None and since < day_start(days[0], zone)):
        return shadow_agreement(versions=versions, since=since)  # none held, or a period starting within a day
    first, end = days
    found = rolled_up_shadow(zone_name=timezone.get_current_timezone_name(), first=first, end=end, versions=versions)
    for version, (n, agreed) in shadow_agreement(versions=versions, since=day_start(end, zone)).items():
        rolled_n, rolled_agreed = found.get(version, (0, 0))
        found[version] = (rolled_n + n, rolled_agreed + agreed)
    return found


def _usage(
    since: datetime | None, policy: str, versions: list[int]
) -> tuple[dict[int, int], dict[int, tuple[int, int]], SafeString | None]:
    """Since `since`: tips served per version, shadow agreement per version, and `policy`'s learning curve."""
    # One aggregate of the period's tips per day, policy and model version: tips served per version and the curve.
    daily = daily_rows(since=since, until=None, group_by=["policy", "model_version"])
    served: dict[int, int] = defaultdict(int)
    for day in daily:
        if day["model_version"] is not None:
            served[day["model_version"]] += day["served"]
    curve = daily_series([day for day in daily if day["policy"] == policy], ["policy"])
    agreement = _shadow_agreement(versions=versions, since=since)
    return dict(served), agreement, learning_curve_svg(curve[0]) if curve else None


def models_context(*, period: str) -> dict[str, Any]:
    """The model versions page: serving and shadow versions, per version its use in the period, the curve."""
    period = period if period in PERIODS else DEFAULT_PERIOD
    label, days = PERIODS[period]
    since, _ = period_bounds(preset_start(days), None) if days else (None, None)
    versions = model_versions()
    switch, newest = serving_switch(), newest_model()
    serving = switch.model_id if switch else None
    shadow = newest.pk if newest and newest.pk != serving else None
    policy = settings.TIPS_POLICY
    ids = [v.pk for v in versions]
    figures = cached_figures("model-versions", (since, policy, *ids), lambda: _usage(since, policy, ids))
    served, agreement, chart = figures.value
    rows = []
    for version in versions:
        shadowed, agreed = agreement.get(version.pk, (0, 0))
        rate, interval = _agreement(shadowed, agreed)
        rows.append(
            {
                "version": version.pk,
                "role": "serving" if version.pk == serving else "shadow" if version.pk == shadow else "",
                "created": when(version.created_at),
                "parent": version.parent_id,
                "trained": f"{when(version.trained_from)} to {when(version.trained_until)}",
                "rows": version.rows,
                "total_rows": version.total_rows,
                "served": served.get(version.pk, 0),
                "shadowed": shadowed,
                "agreed": agreed,
                "rate": rate,
                "interval": interval,
                "small": 0 < shadowed < MIN_SAMPLE,
            }
        )
    return {
        "period": period,
        "period_label": label,
        "presets": [{"key": key, "label": text} for key, (text, _) in PERIODS.items()],
        "rows": rows,
        "serving_version": serving,
        "serving_since": when(switch.created_at) if switch else None,
        "shadow_version": shadow,
        "policy": policy,
        "chart": chart,
        "computed_at": figures.computed_at,
        "min_sample": MIN_SAMPLE,
    }
