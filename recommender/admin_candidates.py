"""Why this tip: every candidate a request was offered, with its arm's estimate, its chance and what was served.

A candidate's probability is the chance the logging policy picked it first: the policy rebuilt from the
request's logged name and parameters, replayed on the arm estimates the request logged (ADR 0067). Every
policy treats the candidates of one arm alike, so it is the arm's probability over the arm's candidates
(recommender/evaluation/targets.py). Served tips also show their logged score and propensity (at their
position, given the earlier picks). Served tips are matched to candidates by arm and tasks, in slate order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from recommender.evaluation.targets import arm_probabilities
from recommender.models import TipRequest, TipScore
from recommender.policies import POLICIES, Policy, get_policy
from recommender.policies.base import ArmEstimate


def significant(value: float | None, digits: int = 3) -> str:
    """`value` to `digits` significant digits (0.16666666666666666 -> "0.167"); "—" for None."""
    return "—" if value is None else f"{value:.{digits}g}"


@dataclass(frozen=True)
class CandidateRow:
    """One offered candidate, as the why-this-tip table prints it."""

    arm: str
    kind: str
    source: str
    task_ids: list[str]
    features: dict[str, Any]
    estimate: ArmEstimate | None  # what the policy knew about the arm (None: the request logged no estimates)
    probability: float | None  # of being picked first (None: the policy cannot be replayed)
    served: TipScore | None

    @property
    def features_text(self) -> str:
        return ", ".join(
            f"{k}={significant(v) if isinstance(v, float) else v}" for k, v in sorted(self.features.items())
        )

    @property
    def estimate_text(self) -> str:
        if self.estimate is None:
            return "—"
        if self.estimate.count <= 0:
            return "no reward yet"
        return f"{significant(self.estimate.mean())} over {significant(self.estimate.count, 4)}"

    @property
    def probability_text(self) -> str:
        return significant(self.probability)

    @property
    def score_text(self) -> str:
        return significant(self.served.score) if self.served else "—"

    @property
    def propensity_text(self) -> str:
        return significant(self.served.propensity) if self.served else "—"


def logging_policy(request: TipRequest) -> Policy | None:
    """The request's policy with the parameters it logged, or None if this version cannot build it."""
    registered = POLICIES.get(request.policy)
    if registered is None:
        return None
    try:
        accepted = registered.cls().params()
        params = {k: v for k, v in (request.policy_params or {}).items() if k in accepted}
        return get_policy(request.policy, **params)
    except (TypeError, ValueError):  # parameters this version's class no longer takes
        return None


def first_pick_probabilities(request: TipRequest) -> list[float] | None:
    """Each candidate's chance of being picked first, replayed on the logged estimates (None: cannot be told)."""
    candidates, estimates = request.candidates or [], request.arm_estimates
    policy = logging_policy(request)
    if not candidates or estimates is None or policy is None:
        return None
    arms = sorted({c["arm"] for c in candidates})
    left = np.array([[sum(c["arm"] == arm for c in candidates) for arm in arms]], dtype=float)
    count = np.array([[float(estimates.get(arm, (0.0, 0.0))[0]) for arm in arms]])
    reward_sum = np.array([[float(estimates.get(arm, (0.0, 0.0))[1]) for arm in arms]])
    try:
        by_arm = arm_probabilities(policy, left, count, reward_sum)[0]
    except ValueError:  # a policy that scores candidates one by one (contextual) has no per-arm probabilities
        return None
    column = {arm: i for i, arm in enumerate(arms)}
    return [float(by_arm[column[c["arm"]]] / left[0, column[c["arm"]]]) for c in candidates]


def match_served(candidates: list[dict[str, Any]], served: list[TipScore]) -> list[TipScore | None]:
    """For each candidate, the tip served from it: same arm and tasks, else the first of the same arm left."""
    matched: list[TipScore | None] = [None] * len(candidates)
    for tip in sorted(served, key=lambda t: t.position):
        same_arm = [i for i, c in enumerate(candidates) if matched[i] is None and c.get("arm") == tip.arm]
        same_tasks = [i for i in same_arm if sorted(candidates[i].get("task_ids") or []) == sorted(tip.task_ids)]
        for i in same_tasks[:1] or same_arm[:1]:
            matched[i] = tip
    return matched


def candidate_rows(request: TipRequest, served: list[TipScore]) -> list[CandidateRow]:
    """Every candidate of `request` in the order it was offered, with its served tip (of `served`) if any."""
    candidates = request.candidates or []
    probabilities = first_pick_probabilities(request)
    estimates = request.arm_estimates
    matched = match_served(candidates, served)
    return [
        CandidateRow(
            arm=c.get("arm", ""),
            kind=c.get("kind", ""),
            source=c.get("source", ""),
            task_ids=list(c.get("task_ids") or []),
            features=dict(c.get("features") or {}),
            estimate=None if estimates is None else ArmEstimate(*map(float, estimates.get(c.get("arm"), (0, 0)))),
            probability=None if probabilities is None else probabilities[i],
            served=matched[i],
        )
        for i, c in enumerate(candidates)
    ]


def why_this_tip_table(request: TipRequest) -> SafeString:
    """The candidates table of a TipRequest's admin page (one query: the request's served tips)."""
    served = list(request.scores.order_by("position"))
    rows = candidate_rows(request, served)
    reason = None
    if request.arm_estimates is None:
        reason = "This request logged no arm estimates (it predates them): probabilities cannot be replayed."
    elif logging_policy(request) is None or (rows and rows[0].probability is None):
        reason = f"The policy {request.policy!r} cannot be replayed by this version: no probabilities."
    context = {
        "rows": rows,
        "served_count": len(served),
        "unmatched": [tip for tip in served if all(row.served is not tip for row in rows)],
        "reason": reason,
        "total": sum(row.probability for row in rows if row.probability is not None),
    }
    return render_to_string("admin/recommender/tiprequest/why_this_tip.html", context)
