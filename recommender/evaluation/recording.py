"""Write a simulated policy's requests into TipRequest / tip_scores / feedback events, as serving would have.

For development and test databases: it lets `evaluate_policy` run on logs whose truth is known. Simulated
users are ordinary users named `sim<seed>-<n>`; arm statistics (ArmStat) are not touched, so serving is not
steered by simulated traffic (the rebuild command would count these rows: keep them out of production).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import reset_queries, transaction

from recommender.evaluation.simulation import simulated_policy
from recommender.evaluation.simulation_result import Served, SimulationResult, finalized_time, request_time
from recommender.models import FeedbackEvent, TipRequest, TipScore
from recommender.policies import Choice
from recommender.policies.base import offered_candidates

BATCH = 2000
FEEDBACK_DELAY = timedelta(minutes=5)


def _simulated_users(seed: int, users: int) -> dict[int, int]:
    """Return simulated user index -> user id, creating the missing users in one batch."""
    user_model = get_user_model()
    names = {i: f"sim{seed}-{i:05d}" for i in range(users)}
    unusable = make_password(None)
    user_model.objects.bulk_create(
        [user_model(username=name, password=unusable) for name in names.values()],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    ids = dict(user_model.objects.filter(username__in=names.values()).values_list("username", "id"))
    return {i: ids[name] for i, name in names.items()}


def _with_user(candidates: list[dict[str, Any]], user_id: int) -> list[dict[str, Any]]:
    """The logged candidates with the simulated user's index replaced by their id, as serving logs it."""
    return [{**c, "features": {**c["features"], "user_id": user_id}} for c in candidates]


class SimulationLogWriter:
    """Writes one simulated policy's requests as they come (a `simulate` sink), BATCH requests at a time.

    Only one batch of model instances exists at once. The caller owns the transaction.
    """

    def __init__(self, *, policy: str, users: int, seed: int, slate: int, epsilon: float, start: datetime) -> None:
        self.policy, self.slate, self.start, self.users = policy, slate, start, users
        self.user_ids = _simulated_users(seed, users)
        # The parameters it ran with, as serving logs them (the evaluator rebuilds the logging policy from them).
        self.params = {**simulated_policy(policy, epsilon).params(), "simulated": True, "seed": seed, "limit": slate}
        self.written = {"users": len(self.user_ids), "requests": 0, "tips": 0, "feedback_events": 0}

    def write(self, served: Sequence[Served]) -> None:
        for first in range(0, len(served), BATCH):
            self._write_batch(served[first : first + BATCH])
            # --write-logs runs with DEBUG=1, where Django keeps the SQL of every statement (up to 9,000 of
            # them): multi-megabyte bulk inserts would otherwise grow the process by gigabytes.
            reset_queries()

    def _write_batch(self, batch: Sequence[Served]) -> None:
        requests = [
            TipRequest(
                user_id=self.user_ids[s.context.user],
                created_at=request_time(self.start, self.users, s.round, s.context.user),
                policy=self.policy,
                policy_params=self.params,
                candidates=_with_user(
                    offered_candidates(s.context.candidates, s.choices), self.user_ids[s.context.user]
                ),
                arm_estimates=s.logged_estimates(),
            )
            for s in batch
        ]
        TipRequest.objects.bulk_create(requests)
        scores = [
            _score(request, position, choice, action, reward, finalized_time(self.start, served.round))
            for request, served in zip(requests, batch, strict=True)
            for position, (choice, action, reward) in enumerate(
                zip(served.choices, served.actions, served.rewards, strict=True)
            )
        ]
        TipScore.objects.bulk_create(scores, batch_size=BATCH)
        events = [
            FeedbackEvent(
                tip=tip, user_id=tip.user_id, action=tip.last_action, created_at=tip.feedback_at, reward=tip.reward
            )
            for tip in scores
            if tip.last_action and tip.feedback_at
        ]
        FeedbackEvent.objects.bulk_create(events, batch_size=BATCH)
        self.written["requests"] += len(requests)
        self.written["tips"] += len(scores)
        self.written["feedback_events"] += len(events)


@transaction.atomic
def simulation_logs_write(*, result: SimulationResult, policy: str) -> dict[str, int]:
    """Write every request `policy` served in `result` (it must have been kept); return what was written."""
    run = result.runs[policy]
    if not run.served and result.rounds and result.users:
        raise ValueError(f"The simulation did not keep the requests of {policy!r}.")
    writer = SimulationLogWriter(
        policy=policy, users=result.users, seed=result.seed, slate=result.slate, epsilon=result.epsilon,
        start=result.start,
    )  # fmt: skip
    writer.write(run.served)
    return writer.written


def _score(
    request: TipRequest, position: int, choice: Choice, action: str | None, reward: float, finalized: datetime
) -> TipScore:
    """One served tip as serving logs it, with the simulated user's answer and its final reward."""
    candidate = choice.candidate
    return TipScore(
        request=request,
        user_id=request.user_id,
        position=position,
        tip_kind=candidate.kind,
        source=candidate.source,
        title=candidate.title,
        body=candidate.body,
        rationale=candidate.rationale,
        task_ids=list(candidate.task_ids),
        prompt_version=candidate.prompt_version or None,
        llm_model=candidate.llm_model,
        score=min(choice.score, 1e300),  # UCB1 scores untried arms +inf
        propensity=choice.propensity,
        due_age_days=candidate.features.get("due_age_days"),
        features=dict(candidate.features),
        served_at=request.created_at,
        last_action=action,
        reward=reward,
        feedback_at=request.created_at + FEEDBACK_DELAY if action else None,
        finalized_at=finalized,
    )
