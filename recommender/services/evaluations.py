"""Offline evaluations as rows: queue one (the admin's button), run one (its task, or `promote_policy --dry-run`),
and promote on a fresh one (the admin's promote button).

Each run calls `model_evaluate`, the gate's own evidence, and records on a PolicyEvaluation row who asked,
its progress (queued, running, done, failed), the traffic it covered, the estimates and the gate's verdict.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.errors import ModelNotFound
from recommender.evaluation.contextual import PairedEvaluation
from recommender.evaluation.estimators import Estimate
from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch
from recommender.services.contextual import gate_verdict, model_evaluate, policy_promote, policy_promote_on
from recommender.tasks import run_policy_evaluation
from tipengine.background import enqueue
from tipengine.domain_errors import DomainError

logger = logging.getLogger(__name__)
Status = PolicyEvaluation.Status
# A finished evaluation this young is the promote button's evidence: a day's new held-out picks (a model is
# trained every hour) do not make a day-old verdict wrong enough to spend seconds of the request re-running it.
EVIDENCE_FRESH_FOR = timedelta(days=1)


def _queued(*, model_id: int, actor: str, clip: float | None) -> PolicyEvaluation:
    if not PolicyModel.objects.filter(pk=model_id).exists():
        raise ModelNotFound(f"There is no model version {model_id}.")
    return PolicyEvaluation.objects.create(model_id=model_id, actor=actor, clip=clip)


def policy_evaluation_queue(*, model_id: int, actor: str, clip: float | None = None) -> PolicyEvaluation:
    """Record a queued evaluation of model `model_id` and run it in the background once the row is committed."""
    evaluation = _queued(model_id=model_id, actor=actor, clip=clip)
    transaction.on_commit(lambda: enqueue(run_policy_evaluation, evaluation.pk))
    return evaluation


def policy_evaluation_run(*, model_id: int, actor: str, clip: float | None = None) -> PolicyEvaluation:
    """Evaluate model `model_id` now, recording the row as the background run does (`promote_policy --dry-run`)."""
    return policy_evaluation_perform(evaluation=_queued(model_id=model_id, actor=actor, clip=clip))


def policy_evaluation_perform(*, evaluation: PolicyEvaluation) -> PolicyEvaluation:
    """Run a queued (or interrupted: still `running`) evaluation and record its outcome; a finished one is kept.

    Idempotent for a redelivered task. A failure is recorded on the row (status `failed`, the reason), never
    left as `running`.
    """
    if evaluation.status in (Status.DONE, Status.FAILED):
        return evaluation
    model = PolicyModel.objects.defer("weights").get(pk=evaluation.model_id)
    evaluation.status, evaluation.started_at = Status.RUNNING, timezone.now()
    evaluation.held_out_after, evaluation.held_out_until = model.trained_until, evaluation.started_at
    evaluation.save(update_fields=["status", "started_at", "held_out_after", "held_out_until"])
    try:
        found = model_evaluate(model_id=evaluation.model_id, clip=evaluation.clip)
    except DomainError as exc:
        _finished(evaluation, error=exc.message)
        return evaluation
    except Exception as exc:  # recorded and logged: the row must not stay "running" for ever
        logger.exception("evaluation %s of model v%s failed", evaluation.pk, evaluation.model_id)
        _finished(evaluation, error=f"The evaluation failed: {type(exc).__name__}: {exc}")
        return evaluation
    evaluation.passed, evaluation.verdict = gate_verdict(found)
    evaluation.result = found.as_dict()
    _finished(evaluation, error="")
    logger.info("evaluation %s of model v%s: %s", evaluation.pk, evaluation.model_id, evaluation.verdict)
    return evaluation


def _finished(evaluation: PolicyEvaluation, *, error: str) -> None:
    evaluation.status = Status.FAILED if error else Status.DONE
    evaluation.error, evaluation.finished_at = error, timezone.now()
    evaluation.save(update_fields=["status", "error", "finished_at", "passed", "verdict", "result"])


def evaluation_fresh(*, model_id: int) -> PolicyEvaluation | None:
    """The newest finished evaluation of model `model_id` at the gate's clip from the last EVIDENCE_FRESH_FOR."""
    found = (
        PolicyEvaluation.objects.filter(
            model_id=model_id, status=Status.DONE, finished_at__gte=timezone.now() - EVIDENCE_FRESH_FOR
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    result = found.result if found else {}
    if found is None or result.get("clip") != settings.TIPS_EVALUATION_CLIP or result.get("switch") is not None:
        return None
    return found


def policy_promote_recorded(
    *, model_id: int, actor: str, override: bool = False, reason: str = ""
) -> tuple[PolicySwitch, PolicyEvaluation | None]:
    """Promote behind the gate on the model's fresh evaluation row (`evaluation_fresh`), evaluating nothing; without
    one, evaluate now as `policy_promote` does. Returns the switch and the row whose evidence it rests on."""
    evaluation = evaluation_fresh(model_id=model_id)
    if evaluation is None:
        return policy_promote(model_id=model_id, actor=actor, override=override, reason=reason), None
    evidence = _paired(evaluation.result)
    switch = policy_promote_on(model_id=model_id, evaluation=evidence, actor=actor, override=override, reason=reason)
    return switch, evaluation


def _estimate(recorded: dict[str, Any]) -> Estimate:
    """An Estimate from its as_dict(), which wrote NaN (unknown) as None."""
    known = {key: math.nan if value is None else float(value) for key, value in recorded.items() if key != "n"}
    return Estimate(**known, n=int(recorded["n"]))


def _paired(result: dict[str, Any]) -> PairedEvaluation:
    """The PairedEvaluation a row's result recorded (PairedEvaluation.as_dict())."""
    return PairedEvaluation(
        n=result["n"],
        logged=_estimate(result["logged"]),
        target=_estimate(result["target"]),
        difference=_estimate(result["difference"]),
        ess=result["ess"],
        clip=result["clip"],
        switch=result.get("switch"),
    )
