"""Reads for offline evaluation: served tips with their request's candidate arms, and final rewards, streamed.

Both queries are `values_list` querysets streamed in chunks from a server-side cursor (no model instances,
no per-row converters). The database does the reductions: the candidate set becomes the list of its
arms, once per request; (source, tip_kind) becomes an arm index; times become epoch floats. So a request's
feature payload never travels, and Python touches each row only in C-level column copies.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)

from generation.candidates import TipKind, TipSource, arm_name
from recommender.evaluation.logs import PENDING, SlateBuilder, explain_skipped
from recommender.evaluation.offline import Evaluation, NothingToEvaluate, evaluate
from recommender.evaluation.targets import RewardEvents
from recommender.models import TipRequest, TipScore
from recommender.policies import POLICIES, Policy, get_policy
from recommender.reward_table import window_closes_at
from recommender.services.stats import LEGACY_KIND

SEGMENT_COLUMNS = ("prompt_version", "tip_kind", "llm_model")
CHUNK = 20_000  # rows per round trip of the server-side cursor


class CandidateArms(Func):
    """The `arm` of every candidate in a TipRequest.candidates JSON array, as a JSON array of names (one
    jsonpath call, a third of what a subquery aggregate costs)."""

    output_field = CharField()
    template = "jsonb_path_query_array(%(expressions)s, '$[*].arm')::text"


class LeftOutCandidates(Func):
    """The candidates a TipRequest left out of some positions, as one JSON array: their lists of positions,
    then their arms (two jsonpath calls filtered alike, so the halves line up); `[]` for most requests."""

    output_field = CharField()
    template = (
        "(jsonb_path_query_array(%(expressions)s, '$[*] ? (exists(@.not_offered_at)).not_offered_at') || "
        "jsonb_path_query_array(%(expressions)s, '$[*] ? (exists(@.not_offered_at)).arm'))::text"
    )


class Epoch(Func):
    """Seconds since 1970 as a float, computed by the database (parsing a million datetimes in Python is slow)."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"


def _period(prefix: str, since: datetime | None, until: datetime | None) -> Q:
    query = Q()
    if since is not None:
        query &= Q(**{f"{prefix}__gte": since})
    if until is not None:
        query &= Q(**{f"{prefix}__lt": until})
    return query


# Every arm a row can have (the sources and kinds are closed enums, plus legacy rows without a kind), in the
# order of their indices: the database turns (source, tip_kind) into the index, so no name travels per row.
KNOWN_ARMS = [arm_name(source, kind) for source in TipSource.values for kind in (*TipKind.values, LEGACY_KIND)]


class EstimatesText(Func):
    """A request's logged arm estimates as "count,sum,..." for every KNOWN_ARMS arm in order (0,0 for an arm
    it has no estimate of, which a policy reads alike): the builder parses a chunk of them in one call."""

    output_field = CharField()
    template = "concat_ws(',', {})".format(
        ", ".join(f"COALESCE(%(expressions)s -> '{arm}' ->> {i}, '0')" for arm in KNOWN_ARMS for i in (0, 1))
    )


def _arm_expression() -> Case:
    whens = [
        When(source=source, tip_kind=kind, then=Value(i))
        if kind != LEGACY_KIND
        else When(source=source, tip_kind__isnull=True, then=Value(i))
        for i, (source, kind) in enumerate(a.split(":") for a in KNOWN_ARMS)
    ]
    return Case(*whens, default=Value(-1), output_field=IntegerField())


def _chunks(rows: QuerySet) -> Iterator[list[tuple]]:
    """Yield the raw tuples of a values_list queryset in chunks, from a server-side cursor.

    The SQL is the ORM's; only the per-row converters are skipped (a million rows spend seconds in them):
    callers get text for JSON.
    """
    sql, params = rows.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk


def logged_rows(
    *, since: datetime | None = None, until: datetime | None = None, by: str | None = None
) -> Iterator[list[tuple]]:
    """Yield, in chunks, every tip served by a request created in [since, until), grouped by request in position
    order, as `LoggedRow` tuples with the arm as an index into KNOWN_ARMS and the candidate arms as text."""
    if by is not None and by not in SEGMENT_COLUMNS:
        raise ValueError(f"by must be one of {SEGMENT_COLUMNS}")
    rows = (
        TipScore.objects.filter(_period("request__created_at", since, until))
        .annotate(
            # The candidate set travels once per request, with its first tip (the builder reads it there).
            candidate_arms=Case(When(position=0, then=CandidateArms(F("request__candidates"))), default=None),
            request_time=Epoch(F("request__created_at")),
            arm_index=_arm_expression(),
            final=ExpressionWrapper(Q(finalized_at__isnull=False), output_field=BooleanField()),
            # What the logging policy decided from, once per request like the candidate set.
            estimates=Case(
                When(position=0, request__arm_estimates__isnull=False, then=EstimatesText("request__arm_estimates")),
                default=None,
            ),
            dropped=Case(When(position=0, then=LeftOutCandidates(F("request__candidates"))), default=None),
            # Without --by the segment column is a constant NULL (nothing to split by, nothing to send).
            no_segment=Value(None, output_field=IntegerField()),
        )
        .order_by("request_id", "position")
        .values_list(
            "request_id",
            "request_time",
            "request__user_id",
            "request__policy",
            "candidate_arms",
            "position",
            "arm_index",
            "propensity",
            "reward",
            "final",
            "estimates",
            by or "no_segment",
            "dropped",
        )
    )
    yield from _chunks(rows)


def reward_events(*, until: datetime | None) -> RewardEvents:
    """Return every reward finalized before `until`, as the arm statistics received them (arms: KNOWN_ARMS)."""
    query = Q(finalized_at__isnull=False, reward__isnull=False) & _period("finalized_at", None, until)
    rows = (
        TipScore.objects.filter(query)
        .annotate(finalized=Epoch(F("finalized_at")), arm_index=_arm_expression())
        .values_list("finalized", "user_id", "arm_index", "reward")
    )
    times, users, arms, rewards = array("d"), array("q"), array("q"), array("d")
    for chunk in _chunks(rows):
        finalized, user_ids, arm_ids, values = zip(*chunk, strict=True)
        times.extend(finalized)
        users.extend(user_ids)
        arms.extend(arm_ids)
        rewards.extend(values)
    return RewardEvents(
        time=np.frombuffer(times, dtype=float),
        user=np.frombuffer(users, dtype=np.int64),
        arm=np.frombuffer(arms, dtype=np.int64),
        count=np.ones(len(times)),
        reward_sum=np.frombuffer(rewards, dtype=float),
    )


def logging_policies(*, since: datetime | None = None, until: datetime | None = None) -> dict[str, Policy]:
    """The policy behind each logging policy name of the period, built with its most often logged parameters.

    Requests log their policy's parameters (policy_params); one grouped query counts each combination.
    """
    keys = sorted({key for registered in POLICIES.values() for key in registered.cls().params()})
    rows = (
        TipRequest.objects.filter(_period("created_at", since, until), policy__in=list(POLICIES))
        .values_list("policy", *(f"policy_params__{key}" for key in keys))
        .annotate(n=Count("id"))
        .order_by()
    )
    seen: dict[str, Counter[tuple]] = defaultdict(Counter)
    for name, *values, n in rows:
        accepted = POLICIES[name].cls().params()
        seen[name][tuple((k, v) for k, v in zip(keys, values, strict=True) if k in accepted and v is not None)] += n
    built = {}
    for name, params in seen.items():
        try:
            built[name] = get_policy(name, **dict(params.most_common(1)[0][0]))
        except (TypeError, ValueError):  # parameters this version's class no longer takes: leave it unchecked
            continue
    return built


def pending_closes_at(*, since: datetime | None = None, until: datetime | None = None) -> datetime | None:
    """When the reward window of the earliest served tip of the period that is not final yet closes."""
    first = (
        TipScore.objects.filter(_period("request__created_at", since, until), finalized_at__isnull=True)
        .order_by("served_at")
        .values_list("served_at", flat=True)
        .first()
    )
    return window_closes_at(first) if first is not None else None


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
    builder = SlateBuilder(KNOWN_ARMS)
    for chunk in logged_rows(since=since, until=until, by=by):
        builder.add_chunk(chunk, segments=by is not None)
    slates = builder.build()
    closes = pending_closes_at(since=since, until=until) if slates.skipped.get(PENDING) else None
    if slates.n_rows == 0:
        raise NothingToEvaluate(_nothing_message(slates.skipped, closes), skipped=dict(slates.skipped))
    events = reward_events(until=until)
    evaluation = evaluate(
        slates=slates,
        events=events,
        policy=policy,
        n_arms=len(builder.arm_ids),
        positions=positions,
        stats=stats,
        shrinkage=settings.TIPS_SHRINKAGE_STRENGTH,
        by=by,
        frozen_at=since.timestamp() if since is not None else -np.inf,
        logging=logging_policies(since=since, until=until),
    )
    return replace(evaluation, pending_closes_at=closes)


def _nothing_message(skipped: Counter[str], closes: datetime | None) -> str:
    if not skipped:
        return "No tips were served in this period."
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    lines = [f"No usable tips in this period: every served tip was skipped ({counts}).", *explain_skipped(skipped)]
    if closes is not None:
        lines.append(
            f"The earliest pending tip's reward window closes at {closes:%Y-%m-%d %H:%M:%S %Z}: run "
            "finalize_rewards after that (the embedded run and Celery beat do it periodically), then evaluate again."
        )
    return "\n".join(lines)
