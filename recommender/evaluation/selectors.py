"""Reads for offline evaluation: served tips with their request's candidate arms, and final rewards, streamed.

Both queries stream with `.iterator()` over `values_list` (no model instances), and the candidate set is
reduced to its list of arms inside the database, so a request's whole feature payload never travels.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, F, FloatField, Func, JSONField, Q

from recommender.evaluation.logs import LoggedRow, SlateBuilder
from recommender.evaluation.offline import Evaluation, NothingToEvaluate, evaluate
from recommender.evaluation.targets import RewardEvents
from recommender.models import TipScore
from recommender.policies import Policy
from recommender.services.stats import LEGACY_KIND

SEGMENT_COLUMNS = ("prompt_version", "tip_kind", "llm_model")
CHUNK = 5000


class CandidateArms(Func):
    """The `arm` of every candidate in a TipRequest.candidates JSON array, as a JSON array of strings."""

    output_field = JSONField()
    template = "jsonb_path_query_array(%(expressions)s, '$[*].arm')"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "(SELECT json_group_array(json_extract(value, '$.arm')) FROM json_each(%(expressions)s))"
        return self.as_sql(compiler, connection, template=template, **extra)


class Epoch(Func):
    """Seconds since 1970 as a float, computed by the database (parsing a million datetimes in Python is slow)."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="(julianday(%(expressions)s) - 2440587.5) * 86400.0", **extra)


def _period(prefix: str, since: datetime | None, until: datetime | None) -> Q:
    query = Q()
    if since is not None:
        query &= Q(**{f"{prefix}__gte": since})
    if until is not None:
        query &= Q(**{f"{prefix}__lt": until})
    return query


def logged_rows(
    *, since: datetime | None = None, until: datetime | None = None, by: str | None = None
) -> Iterator[LoggedRow]:
    """Yield every tip served by a request created in [since, until), grouped by request in position order."""
    if by is not None and by not in SEGMENT_COLUMNS:
        raise ValueError(f"by must be one of {SEGMENT_COLUMNS}")
    rows = (
        TipScore.objects.filter(_period("request__created_at", since, until))
        .annotate(
            candidate_arms=CandidateArms(F("request__candidates")),
            request_time=Epoch(F("request__created_at")),
            final=ExpressionWrapper(Q(finalized_at__isnull=False), output_field=BooleanField()),
        )
        .order_by("request_id", "position")
        .values_list(
            "request_id",
            "request_time",
            "request__user_id",
            "request__policy",
            "candidate_arms",
            "position",
            "source",
            "tip_kind",
            "propensity",
            "reward",
            "final",
            by or "request_id",
        )
    )
    for (
        request_id,
        created,
        user_id,
        policy,
        arms,
        position,
        source,
        kind,
        propensity,
        reward,
        final,
        label,
    ) in rows.iterator(chunk_size=CHUNK):
        yield LoggedRow(
            request_id,
            created,
            user_id,
            policy,
            arms,
            position,
            f"{source}:{kind or LEGACY_KIND}",
            propensity,
            reward,
            final,
            label if by else None,
        )


def reward_events(*, until: datetime | None, builder: SlateBuilder) -> RewardEvents:
    """Return every reward finalized before `until`, as the arm statistics received them (arms via `builder`)."""
    query = Q(finalized_at__isnull=False, reward__isnull=False) & _period("finalized_at", None, until)
    rows = (
        TipScore.objects.filter(query)
        .annotate(finalized=Epoch(F("finalized_at")))
        .values_list("finalized", "user_id", "source", "tip_kind", "reward")
    )
    times, users, arms, rewards = array("d"), array("q"), array("q"), array("d")
    arm_of: dict[tuple[str, str | None], int] = {}
    for finalized, user_id, source, kind, reward in rows.iterator(chunk_size=CHUNK):
        key = (source, kind)
        if key not in arm_of:
            arm_of[key] = builder.arm_id(f"{source}:{kind or LEGACY_KIND}")
        times.append(finalized)
        users.append(user_id)
        arms.append(arm_of[key])
        rewards.append(reward)
    return RewardEvents(
        time=np.frombuffer(times, dtype=float),
        user=np.frombuffer(users, dtype=np.int64),
        arm=np.frombuffer(arms, dtype=np.int64),
        count=np.ones(len(times)),
        reward_sum=np.frombuffer(rewards, dtype=float),
    )


def policy_evaluation(
    *,
    policy: Policy,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    positions: str = "first",
    stats: str = "replay",
) -> Evaluation:
    """Evaluate `policy` on the tips served in [since, until); raises NothingToEvaluate (with the skip counts)."""
    builder = SlateBuilder().extend(logged_rows(since=since, until=until, by=by))
    slates = builder.build()
    if slates.n_rows == 0:
        raise NothingToEvaluate(_nothing_message(slates.skipped), skipped=dict(slates.skipped))
    events = reward_events(until=until, builder=builder)
    return evaluate(
        slates=slates,
        events=events,
        policy=policy,
        n_arms=len(builder.arm_ids),
        positions=positions,
        stats=stats,
        shrinkage=float(getattr(settings, "TIPS_SHRINKAGE_STRENGTH", 0.0)),
        by=by,
        frozen_at=since.timestamp() if since is not None else -np.inf,
    )


def _nothing_message(skipped: Counter[str]) -> str:
    if not skipped:
        return "No tips were served in this period."
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    return f"No usable tips in this period: every served tip was skipped ({counts})."
