"""Offline evaluation of a contextual model on logged first picks: target minus logged, paired, with its interval.

For each logged pick the model's probability of the same candidate is replayed from the logged features and
estimates (the target's PMF over the logged candidate set); the weight is that over the logged propensity.
The paired difference per pick (its DR value minus its reward) has mean (target - logged) and a normal 95% interval
from the same units, so a gain is judged on one interval, not two that overlap. The target value is doubly
robust: a reward model, cross-fitted on folds of the same picks, carries most of it; weights may be clipped, or
(Switch-DR) the weighted correction dropped for picks whose weight exceeds a threshold, where it would be noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recommender.evaluation.estimators import Estimate, effective_sample_size, ratio_estimate
from recommender.policies.contextual import ContextualModel
from recommender.policies.features import action_lines, shared_line
from recommender.selectors.contextual import LoggedExample


@dataclass(frozen=True)
class PairedEvaluation:
    """The logged value, the target's IPS value, their paired difference, and how much the weights are worth."""

    n: int
    logged: Estimate
    target: Estimate
    difference: Estimate
    ess: float
    clip: float | None
    switch: float | None = None

    @property
    def ess_share(self) -> float:
        """The effective sample size as a share of n: low means the target strays far from the logged policy."""
        return self.ess / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "logged": self.logged.as_dict(),
            "target": self.target.as_dict(),
            "difference": self.difference.as_dict(),
            "ess": self.ess,
            "ess_share": self.ess_share,
            "clip": self.clip,
            "switch": self.switch,
            "estimator": "switch-dr" if self.switch is not None else "dr",
        }


# The reward model: squared-loss regression on the same features, kind crossed with context and candidate.
REWARD_MODEL_ARGUMENTS = "--quiet -q ks -q ka --loss_function squared"
FOLDS = 2


@dataclass(frozen=True)
class Replayed:
    """Per logged pick: the target's weight, the reward, and the DR baseline (target-weighted predicted reward)."""

    weights: np.ndarray
    rewards: np.ndarray
    predicted_logged: np.ndarray  # the reward model's prediction for the logged pick
    predicted_target: np.ndarray  # ... and its expectation under the target's PMF


def _regression_lines(example: LoggedExample) -> list[str]:
    shared = shared_line(example.candidates, example.stats).removeprefix("shared ")
    return [f"{shared} {action}" for action in action_lines(example.candidates)]


def replay(model: ContextualModel, examples: Iterable[LoggedExample]) -> Replayed:
    """Replay the target on logged picks, with a reward model cross-fitted on FOLDS folds (by tip id)."""
    import vowpalwabbit  # as the policy does: loaded only where a contextual model is evaluated

    examples = list(examples)  # two passes (fit, predict); evaluation periods are bounded by the caller
    regressors = [vowpalwabbit.Workspace(REWARD_MODEL_ARGUMENTS) for _ in range(FOLDS)]
    for example in examples:  # each fold's regressor learns from the other folds only
        line = _regression_lines(example)[example.chosen]
        for fold, regressor in enumerate(regressors):
            if example.tip_id % FOLDS != fold:
                regressor.learn(f"{example.reward} {line}")
    weights, rewards, logged, target = [], [], [], []
    for example in examples:
        pmf = model.pmf(shared_line(example.candidates, example.stats), action_lines(example.candidates))
        regressor = regressors[example.tip_id % FOLDS]
        predicted = np.array([regressor.predict(line) for line in _regression_lines(example)], dtype=float)
        weights.append(pmf[example.chosen] / example.propensity)
        rewards.append(example.reward)
        logged.append(predicted[example.chosen])
        target.append(float(pmf @ predicted))
    return Replayed(*(np.asarray(v, dtype=float) for v in (weights, rewards, logged, target)))


def paired_evaluation(
    replayed: Replayed, *, clip: float | None = None, switch: float | None = None
) -> PairedEvaluation:
    """Target (doubly robust) and logged values, and their paired difference.

    DR per pick: the reward model's expectation under the target plus the weighted residual of the logged pick.
    `clip` caps the weights; `switch` (Switch-DR, as Open Bandit Pipeline defines it) keeps the residual only
    where the weight is at most `switch`, so the few picks the target favours far more than the logger did
    fall back on the reward model instead of carrying a huge weight.
    """
    if clip is not None and switch is not None:
        raise ValueError("clip and switch are two ways to bound the weights: give one")
    weights = replayed.weights if clip is None else np.minimum(replayed.weights, clip)
    corrected = weights if switch is None else np.where(weights <= switch, weights, 0.0)
    rewards = replayed.rewards
    doubly_robust = replayed.predicted_target + corrected * (rewards - replayed.predicted_logged)
    return PairedEvaluation(
        n=len(rewards),
        logged=ratio_estimate(rewards),
        target=ratio_estimate(doubly_robust, weights=corrected),
        difference=ratio_estimate(doubly_robust - rewards, weights=corrected),
        ess=effective_sample_size(corrected),
        clip=clip,
        switch=switch,
    )
