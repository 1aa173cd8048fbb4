"""Reads for offline evaluation: served tips with their request's candidate arms, and final rewards, streamed.

Both queries are `values_list` querysets streamed from a server-side cursor (no model instances, no per-row
converters), and the candidate set is reduced to its list of arms inside the database, once per request,
so a request's whole feature payload never travels.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    JSONField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat

from recommender.evaluation.logs import LoggedRow, SlateBuilder
from recommender.evaluation.offline import Evaluation, NothingToEvaluate, evaluate
from recommender.evaluation.targets import RewardEvents
from recommender.models import TipScore
from recommender.policies import Policy
from recommender.services.stats import LEGACY_KIND

SEGMENT_COLUMNS = ("prompt_version", "tip_kind", "llm_model")
CHUNK = 20_000  # rows per round trip of the server-side cursor


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


def _arm_expression() -> Concat:
    return Concat("source", Value(":"), Coalesce("tip_kind", Value(LEGACY_KIND)), output_field=CharField())


def _stream(rows: QuerySet) -> Iterator[tuple]:
    """Yield the raw tuples of a values_list queryset from a server-side cursor (PostgreSQL), in chunks.

    The SQL is the ORM's; only the per-row converters are skipped (a million rows spend seconds in them),
    so JSON arrives as text and booleans may be 0/1 (SQLite): callers decode what they use.
    """
    sql, params = rows.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield from chunk


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def logged_rows(
    *, since: datetime | None = None, until: datetime | None = None, by: str | None = None
) -> Iterator[LoggedRow]:
    """Yield every tip served by a request created in [since, until), grouped by request in position order."""
    if by is not None and by not in SEGMENT_COLUMNS:
        raise ValueError(f"by must be one of {SEGMENT_COLUMNS}")
    rows = (
        TipScore.objects.filter(_period("request__created_at", since, until))
        .annotate(
            # The candidate set travels once per request, with its first tip (the builder reads it there).
            candidate_arms=Case(When(position=0, then=CandidateArms(F("request__candidates"))), default=None),
            request_time=Epoch(F("request__created_at")),
            arm=_arm_expression(),
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
            "arm",
            "propensity",
            "reward",
            "final",
            by or "request_id",
        )
    )
    for row in _stream(rows):
        # Only first rows carry the candidate set; the segment column is the last one (or a placeholder).
        yield LoggedRow(*row[:4], _json(row[4]) if row[4] is not None else None, *row[5:10], row[10] if by else None)


def reward_events(*, until: datetime | None, builder: SlateBuilder) -> RewardEvents:
    """Return every reward finalized before `until`, as the arm statistics received them (arms via `builder`)."""
    query = Q(finalized_at__isnull=False, reward__isnull=False) & _period("finalized_at", None, until)
    rows = (
        TipScore.objects.filter(query)
        .annotate(finalized=Epoch(F("finalized_at")), arm=_arm_expression())
        .values_list("finalized", "user_id", "arm", "reward")
    )
    times, users, arms, rewards = array("d"), array("q"), array("q"), array("d")
    stream = _stream(rows)
    while chunk := list(islice(stream, CHUNK)):
        finalized, user_ids, arm_names, values = zip(*chunk, strict=True)
        times.extend(finalized)
        users.extend(user_ids)
        known = builder.arm_ids
        arms.extend([known[name] if name in known else builder.arm_id(name) for name in arm_names])
        rewards.extend(values)
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
