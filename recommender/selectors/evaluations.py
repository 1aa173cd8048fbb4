"""Reads for the operators' pages of the contextual loop: evaluations, switches, model versions and their use."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, IntegerField, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch, TipRequest

RECENT = 50  # rows each list shows: the newest first


def evaluations_recent(*, limit: int = RECENT) -> list[PolicyEvaluation]:
    """The newest evaluations, newest first."""
    return list(PolicyEvaluation.objects.order_by("-id")[:limit])


def evaluations_pending() -> bool:
    """Whether an evaluation is queued or running (the page then refreshes itself)."""
    pending = (PolicyEvaluation.Status.QUEUED, PolicyEvaluation.Status.RUNNING)
    return PolicyEvaluation.objects.filter(status__in=pending).exists()


def switches_recent(*, limit: int = RECENT) -> list[PolicySwitch]:
    """The audit trail: the newest policy switches, newest first."""
    return list(PolicySwitch.objects.order_by("-created_at", "-id")[:limit])


def model_versions(*, limit: int = RECENT) -> list[PolicyModel]:
    """The newest model versions, newest first, without their weights."""
    return list(PolicyModel.objects.defer("weights").order_by("-id")[:limit])


def shadow_agreement(*, versions: list[int], since: datetime | None = None) -> dict[int, tuple[int, int]]:
    """Per version of `versions`: the serves it scored in shadow since `since`, and how many it agreed with.

    One aggregate over the requests whose policy_params carry a shadow opinion (`shadow_opinion`).
    """
    if not versions:
        return {}
    requests: QuerySet = TipRequest.objects.filter(policy_params__has_key="shadow")
    if since is not None:
        requests = requests.filter(created_at__gte=since)
    rows = (
        requests.annotate(version=Cast(KT("policy_params__shadow__model_version"), IntegerField()))
        .filter(version__in=versions)
        .values("version")
        .annotate(n=Count("id"), agreed=Count("id", filter=Q(policy_params__shadow__agrees=True)))
        .order_by()
    )
    return {row["version"]: (row["n"], row["agreed"]) for row in rows}
