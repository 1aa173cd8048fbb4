"""Reads for the contextual loop: logged first picks as examples (features, propensity, reward), and models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from prometheus_client.core import GaugeMetricFamily

from generation.candidates import TipCandidate
from recommender.models import PolicyModel, PolicySwitch, TipScore
from recommender.policies.base import ArmEstimate

CHUNK = 2000


@dataclass(frozen=True)
class LoggedExample:
    """One logged first pick: what was offered, what the policy saw, what it picked, how likely, what came back."""

    tip_id: int
    candidates: tuple[TipCandidate, ...]
    stats: dict[str, ArmEstimate]
    chosen: int  # index into candidates
    propensity: float
    reward: float
    finalized_at: datetime


def _candidate(described: dict[str, Any]) -> TipCandidate:
    """A logged candidate (TipCandidate.describe()) back as a candidate: everything a policy scores."""
    return TipCandidate(
        kind=described["kind"],
        source=described["source"],
        title="",
        body="",
        task_ids=tuple(described.get("task_ids") or ()),
        llm_model=described.get("llm_model"),
        prompt_version=described.get("prompt_version") or "",
        features=dict(described.get("features") or {}),
    )


def _served_index(described: list[dict[str, Any]], kind: str, source: str, task_ids: list[str]) -> int | None:
    for index, entry in enumerate(described):
        if entry["kind"] == kind and entry["source"] == source and list(entry.get("task_ids") or ()) == task_ids:
            return index
    return None


def logged_examples(*, after: datetime | None = None, until: datetime | None = None) -> Iterator[LoggedExample]:
    """Finalized first picks with a candidate set and a propensity, in finalization order, streamed.

    Only the first position: later positions were drawn from what the earlier picks left, which a
    finalized row alone does not say (the evaluator's default is the first position as well).
    """
    query = Q(position=0, finalized_at__isnull=False, propensity__gt=0, reward__isnull=False)
    if after is not None:
        query &= Q(finalized_at__gt=after)
    if until is not None:
        query &= Q(finalized_at__lte=until)
    columns = ("id", "tip_kind", "source", "task_ids", "propensity", "reward", "finalized_at")
    rows = (
        TipScore.objects.filter(query)
        .order_by("finalized_at", "id")
        .values_list(*columns, "request__candidates", "request__arm_estimates")
    )
    for tip_id, kind, source, task_ids, propensity, reward, finalized_at, described, estimates in rows.iterator(
        chunk_size=CHUNK
    ):
        chosen = _served_index(described or [], kind or "", source, list(task_ids or ()))
        if chosen is None or propensity is None or reward is None or finalized_at is None:
            continue  # a legacy row whose candidate set does not list it: nothing to learn from
        stats = {arm: ArmEstimate(float(c), float(s)) for arm, (c, s) in (estimates or {}).items()}
        yield LoggedExample(
            tip_id, tuple(_candidate(d) for d in described), stats, chosen, propensity, reward, finalized_at
        )


def newest_model() -> PolicyModel | None:
    """The newest version, without its weights: reading `weights` fetches them (only when a caller loads it)."""
    return PolicyModel.objects.defer("weights").order_by("-id").first()


def serving_switch() -> PolicySwitch | None:
    """The latest switch: which policy (and model) serving uses; None until the first promotion.

    The model's weights are left behind, as in `newest_model`: the reloader polls this every minute.
    """
    return PolicySwitch.objects.select_related("model").defer("model__weights").order_by("-created_at", "-id").first()


def policy_model_metrics() -> Iterator[GaugeMetricFamily]:
    """tipengine_policy_model_version: the newest trained version and the one serving is switched to (0: none)."""
    switch = serving_switch()
    newest = newest_model()
    family = GaugeMetricFamily(
        "tipengine_policy_model_version", "Contextual model versions: newest trained, and promoted.", labels=["role"]
    )
    family.add_metric(["newest"], float(newest.pk if newest else 0))
    family.add_metric(["promoted"], float(switch.model_id or 0) if switch else 0.0)
    yield family
