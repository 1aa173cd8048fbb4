"""The contextual loop's writes: train a model version from finalized rewards, promote one behind a gate.

Also the process-wide serving model: a background thread reloads the promoted version when a new switch
appears, so no request ever loads a model (the first ones after a start are served by the baseline).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import close_old_connections, transaction

from generation.candidates import TipCandidate
from recommender.errors import ModelNotFound, PromotionRefused
from recommender.evaluation.contextual import PairedEvaluation, paired_evaluation, replay
from recommender.models import PolicyModel, PolicySwitch
from recommender.policies.base import ArmEstimate
from recommender.policies.contextual import TRAINING_PASSES, TRAINING_WINDOW_ROWS, ContextualModel
from recommender.policies.features import action_lines, shared_line
from recommender.selectors.contextual import logged_examples, newest_model, serving_switch
from tipengine import metrics

logger = logging.getLogger(__name__)


def _model_of(row: PolicyModel) -> ContextualModel:
    return ContextualModel.from_bytes(bytes(row.weights), version=row.pk)


def policy_model_train(*, until: datetime | None = None) -> PolicyModel | None:
    """Continue the newest model on the first picks finalized since it, and publish the result as a version.

    Returns None when nothing new was finalized (no empty versions). Incremental: each version starts from
    its parent's weights and learns only the rows after the parent's `trained_until` (up to `until`).
    """
    parent = newest_model()
    model = _model_of(parent) if parent else ContextualModel()
    started, picks, rows, reward_sum = time.perf_counter(), [], 0, 0.0
    first = last = None
    for example in logged_examples(after=parent.trained_until if parent else None, until=until):
        shared, actions = shared_line(example.candidates, example.stats), action_lines(example.candidates)
        picks.append((shared, actions, example.chosen, example.reward, example.propensity))
        first = first or example.finalized_at
        last = example.finalized_at
        rows += 1
        reward_sum += example.reward
        if len(picks) == TRAINING_WINDOW_ROWS:  # a first run over months of logs stays in bounded memory
            model.learn_window(picks)
            picks = []
    if rows == 0:
        return None
    model.learn_window(picks)  # TRAINING_PASSES over each window, in order
    version = PolicyModel.objects.create(
        parent=parent,
        trained_from=first,
        trained_until=last,
        rows=rows,
        total_rows=rows + (parent.total_rows if parent else 0),
        metrics={
            "mean_logged_reward": reward_sum / rows,
            "train_seconds": time.perf_counter() - started,
            "passes": TRAINING_PASSES,
        },
        weights=model.to_bytes(),
    )
    logger.info("policy model v%s trained on %d rows", version.pk, rows, extra={"model_version": version.pk})
    return version


def model_evaluate(
    *, model_id: int, clip: float | None = None, switch: float | None = None, until: datetime | None = None
) -> PairedEvaluation:
    """Evaluate a model version on the first picks finalized after what it was trained on (held out), up to `until`.

    Weights are clipped at `clip` (TIPS_EVALUATION_CLIP by default), or, with `switch`, Switch-DR at that threshold.
    """
    clip = None if switch is not None else (settings.TIPS_EVALUATION_CLIP if clip is None else clip)
    row = PolicyModel.objects.filter(pk=model_id).first()
    if row is None:
        raise ModelNotFound(f"There is no model version {model_id}.")
    examples = logged_examples(after=row.trained_until, until=until)
    return paired_evaluation(replay(_model_of(row), examples), clip=clip, switch=switch)


def gate_verdict(evaluation: PairedEvaluation) -> tuple[bool, str]:
    """Whether the gate switches on this evidence, and why: enough held-out picks, and the paired interval's
    lower bound above zero (the refusal's words when it does not)."""
    low, high = evaluation.difference.low, evaluation.difference.high
    if evaluation.n < settings.TIPS_PROMOTION_MIN_ROWS:
        return False, f"only {evaluation.n} held-out picks (at least {settings.TIPS_PROMOTION_MIN_ROWS} needed)"
    if low > 0:
        return True, f"passes the gate: the paired interval [{low:.4f}, {high:.4f}] is above zero"
    return False, f"the paired interval [{low:.4f}, {high:.4f}] does not exclude zero from above"


def policy_promote(
    *, model_id: int, actor: str, override: bool = False, reason: str = "", clip: float | None = None
) -> PolicySwitch:
    """Switch serving to a model version when its paired interval is above zero on enough held-out picks.

    Without `override`, a model the gate refuses raises Conflict (code `promotion_refused`) and nothing
    changes; with it, the switch is made and recorded as overridden, with the reason and the evidence.
    """
    evaluation = model_evaluate(model_id=model_id, clip=clip)
    return policy_promote_on(model_id=model_id, evaluation=evaluation, actor=actor, override=override, reason=reason)


def policy_promote_on(
    *, model_id: int, evaluation: PairedEvaluation, actor: str, override: bool = False, reason: str = ""
) -> PolicySwitch:
    """`policy_promote` on evidence already in hand (a recorded evaluation's): the same gate, nothing evaluated."""
    better, why = gate_verdict(evaluation)
    if not better and not override:
        raise PromotionRefused(f"Model v{model_id} is not promoted: {why}.")
    with transaction.atomic():
        switch = PolicySwitch.objects.create(
            policy="contextual",
            model_id=model_id,
            actor=actor,
            overridden=not better,
            reason=reason,
            evaluation={**evaluation.as_dict(), "passed": better},
        )
    logger.warning("policy switch to contextual v%s by %s (overridden=%s)", model_id, actor, not better)
    return switch


class _ServingModel:
    """The promoted model this process serves with, the newest one scoring in shadow, and their reloader."""

    def __init__(self) -> None:
        self.model: ContextualModel | None = None
        self.switch_id: int | None = None
        self.shadow: ContextualModel | None = None  # the newest version, while it is not the promoted one
        self.shadow_id: int | None = None  # the newest version last tried (loaded or found unreadable)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def reload(self) -> ContextualModel | None:
        """Load the latest switch's model and the newest version when they changed; returns the serving one."""
        self._reload_shadow()
        return self._reload_serving()

    def _reload_shadow(self) -> None:
        newest = newest_model()
        if newest is None or newest.pk == self.shadow_id:
            return
        self.shadow_id = newest.pk
        try:
            self.shadow = _model_of(newest)
        except ValueError:
            logger.error("policy model v%s cannot be loaded for shadow scoring", newest.pk)
            self.shadow = None

    def _reload_serving(self) -> ContextualModel | None:
        """Load the latest switch's model when it is not the one loaded; a corrupt one leaves the old in place."""
        switch = serving_switch()
        if switch is None or switch.pk == self.switch_id or switch.model is None:
            return self.model
        try:
            model = _model_of(switch.model)
        except ValueError:
            logger.error("policy model v%s cannot be loaded; serving keeps the previous one", switch.model_id)
            self.switch_id = switch.pk  # not retried every minute: the next switch will be
            return self.model
        self.model, self.switch_id = model, switch.pk
        logger.info("serving policy model v%s loaded", model.version)
        return model

    def current(self) -> ContextualModel | None:
        """The loaded model (None before the first load); starts the reloader once per process."""
        if settings.TIPS_MODEL_RELOADER and self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._reload_forever, name="policy-model", daemon=True)
                    self._thread.start()
        return self.model

    def _reload_forever(self) -> None:
        while True:
            try:
                self.reload()
            except Exception:  # a database blip must not end the thread: the next round retries
                logger.warning("policy model reload failed", exc_info=True)
            finally:
                close_old_connections()
            time.sleep(settings.TIPS_MODEL_RELOAD_S)  # a period between polls, not synchronisation


SERVING_MODEL = _ServingModel()


def shadow_opinion(
    *, candidates: Sequence[TipCandidate], stats: Mapping[str, ArmEstimate], served: int
) -> dict[str, Any] | None:
    """Apprentice mode: the newest model's probability for the candidate served first, and whether it would
    have picked it too (counted in /metrics). None when it is the serving model, or none is loaded."""
    shadow, serving = SERVING_MODEL.shadow, SERVING_MODEL.model
    if shadow is None or (serving is not None and shadow.version == serving.version):
        return None
    pmf = shadow.pmf(shared_line(candidates, stats), action_lines(candidates))
    agrees = int(np.argmax(pmf)) == served
    metrics.SHADOW_AGREEMENT.labels("yes" if agrees else "no").inc()
    return {"model_version": shadow.version, "probability": float(pmf[served]), "agrees": agrees}


def serving_model_reload() -> Any:
    """Reload the serving model now (what the background thread does each TIPS_MODEL_RELOAD_S)."""
    return SERVING_MODEL.reload()
