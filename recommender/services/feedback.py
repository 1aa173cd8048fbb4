"""Recording feedback on a served tip: every event kept, idempotent by key, safe under concurrent calls."""

import contextlib
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from generation.candidates import arm_name
from recommender.cache_keys import serving_state_forget
from recommender.errors import AlreadyFinal, IdempotencyKeyReused, TipNotFound, WindowClosed
from recommender.models import FeedbackEvent, TipScore
from recommender.reward_table import COOLDOWN_ACTIONS, REWARDS, Action, window_closes_at
from recommender.services.rewards import ActionResult, action_result, due_age_days_of, reward_logged
from recommender.services.stats import LEGACY_KIND, arm_stats_upsert_sql
from tipengine.domain_errors import DomainError, InvalidFields

IDEMPOTENCY_KEY_MAX = 255
_BIGINT_MAX = 2**63 - 1
# What feedback reads of a tip (not its text), the fields of _Tip.
_TIP_FIELDS = (
    "id",
    "user_id",
    "source",
    "tip_kind",
    "served_at",
    "last_action",
    "reward",
    "finalized_at",
    "due_age_days",
    "features",
)


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    """The answer to a feedback call; `replayed` when it is the stored answer to an earlier call with the key."""

    body: dict[str, Any]
    replayed: bool = False

    def __post_init__(self) -> None:
        # Keys in one canonical order: a replay read back from JSONB (which reorders keys) is byte-identical.
        object.__setattr__(self, "body", dict(sorted(self.body.items())))


def _validate(*, action: str, until: datetime | None, idempotency_key: str | None, now: datetime) -> None:
    if action not in REWARDS:
        raise InvalidFields.of("action", f"Unknown action {action!r}; use one of: {', '.join(Action.values)}.")
    if until is not None:
        if action != Action.SNOOZED:
            raise InvalidFields.of("until", "`until` is only accepted with the action `snoozed`.")
        if until <= now:
            raise InvalidFields.of("until", "`until` must be in the future.")
        # Serving honours a snooze for at most this long (its cool-down look-back): say so instead of ignoring it.
        max_h = settings.TIPS_SNOOZE_MAX_H
        if until > now + timedelta(hours=max_h):
            raise InvalidFields.of("until", f"`until` must be at most {max_h:g} hours ahead.")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise InvalidFields.of(
            "Idempotency-Key", f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} characters."
        )


def _fingerprint(*, tip_id: int, action: str, until: datetime | None) -> str:
    # `until` in UTC: the same instant written with another offset is the same request.
    body = {"tip_id": tip_id, "action": action, "until": until.astimezone(UTC).isoformat() if until else None}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replay(*, user_id: int, idempotency_key: str, fingerprint: str) -> FeedbackOutcome | None:
    prior = (
        FeedbackEvent.objects.filter(user_id=user_id, idempotency_key=idempotency_key)
        .only("request_fingerprint", "response")
        .first()
    )
    if prior is None:
        return None
    if prior.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(details={"idempotency_key": idempotency_key})
    return FeedbackOutcome(body=prior.response or {}, replayed=True)


def _tip_not_found(tip_id: int) -> DomainError:
    # The same answer for a tip that does not exist and for someone else's: ids reveal nothing.
    return TipNotFound(f"Tip {tip_id} was not found.", details={"tip_id": tip_id})


class _Tip(NamedTuple):
    """What feedback reads of a tip (not its text), in _TIP_FIELDS order."""

    id: int
    user_id: int
    source: str
    tip_kind: str | None
    served_at: datetime
    last_action: str | None
    reward: float | None
    finalized_at: datetime | None
    due_age_days: int | None
    features: dict | None


def _read(*, tip_id: int, user_id: int, lock: bool) -> _Tip | None:
    # Raw SQL: the ORM would spend longer compiling this one-row read than the database answering it.
    with connection.cursor() as cursor:
        cursor.execute(_read_sql(lock=lock), [tip_id, user_id])
        row = cursor.fetchone()
    if row is not None and row[-1] is not None:
        # Only the one key of `features` feedback reads; Django has psycopg return JSON as text.
        row = (*row[:-1], {"due_age_days": json.loads(row[-1])})
    return None if row is None else _Tip(*row)


@functools.cache
def _read_sql(*, lock: bool) -> str:
    columns = ", ".join(connection.ops.quote_name(name) for name in _TIP_FIELDS[:-1])
    columns += ", " + connection.ops.quote_name("features") + " -> 'due_age_days'"
    table = connection.ops.quote_name(TipScore._meta.db_table)
    return f"SELECT {columns} FROM {table} WHERE id = %s AND user_id = %s" + (" FOR UPDATE" if lock else "")


def _closed(tip: _Tip, now: datetime) -> DomainError | None:
    """Return the 409 for a tip whose reward can no longer change, or None while its window is open."""
    if tip.finalized_at is not None:
        return AlreadyFinal(
            details={
                "tip_id": tip.id,
                "finalized_at": tip.finalized_at.isoformat(),
                "last_action": tip.last_action,
                "reward": tip.reward,
            },
        )
    closes_at = window_closes_at(tip.served_at)
    if closes_at <= now:
        return WindowClosed(details={"tip_id": tip.id, "window_closed_at": closes_at.isoformat()})
    return None


@dataclass(frozen=True, slots=True)
class _Call:
    """One feedback call, validated."""

    user_id: int
    tip_id: int
    action: str
    until: datetime | None
    idempotency_key: str | None
    fingerprint: str
    now: datetime


def _attempt(call: _Call, *, lock: bool) -> FeedbackOutcome | None:
    """Read the tip, decide, and write; None when another call changed the tip in between (only without lock)."""
    tip = _read(tip_id=call.tip_id, user_id=call.user_id, lock=lock)
    if tip is None:
        raise _tip_not_found(call.tip_id)
    if (error := _closed(tip, call.now)) is not None:
        # A retry of the call that closed it (or of any earlier one) replays. The closing call committed its
        # event with the tip, so it is visible here (and, under the lock, a concurrent call on the tip is done).
        if call.idempotency_key is not None:
            prior = _replay(user_id=call.user_id, idempotency_key=call.idempotency_key, fingerprint=call.fingerprint)
            if prior is not None:
                return prior
        raise error
    result = action_result(last_action=tip.last_action, reward=tip.reward, action=call.action)
    due_age_days = due_age_days_of(column=tip.due_age_days, features=tip.features)
    body = {
        "tip_id": tip.id,
        "action": call.action,
        "until": call.until.isoformat() if call.until else None,
        "reward": result.reward,
        "final": result.final,
        "finalized_at": call.now.isoformat() if result.final else None,
        "window_closes_at": window_closes_at(tip.served_at).isoformat(),
        "due_age_days": due_age_days,
        "recorded_at": call.now.isoformat(),
    }
    arm = arm_name(tip.source, tip.tip_kind or LEGACY_KIND)
    if not _write(call, tip=tip, result=result, arm=arm, body=body, locked=lock):
        return None
    reward_logged(
        tip_id=tip.id, user_id=call.user_id, arm=arm, action=call.action, result=result, due_age_days=due_age_days
    )
    if result.final or call.action in COOLDOWN_ACTIONS:
        # What serving caches of this user (cool-downs, arm statistics) just changed.
        serving_state_forget(user_id=call.user_id)
    return FeedbackOutcome(body=body)


def _write(call: _Call, *, tip: _Tip, result: ActionResult, arm: str, body: dict[str, Any], locked: bool) -> bool:
    """Write the tip, the event and (when final) the arm statistics; False when the tip is no longer as read."""
    params = {
        "tip_id": tip.id,
        "user_id": call.user_id,
        "was_action": tip.last_action,
        "was_reward": tip.reward,
        "last_action": result.last_action,
        "reward": result.reward,
        "finalized_at": call.now if result.final else None,
        "now": call.now,
        "action": call.action,
        "until": call.until,
        "key": call.idempotency_key,
        "fingerprint": call.fingerprint,
        "response": json.dumps(body),
        "arm": arm,
    }
    # Unlocked inside a caller's transaction, a savepoint keeps a duplicate key's IntegrityError from
    # aborting it; in autocommit the statement is its own transaction, and under the lock it is ours.
    savepoint = transaction.atomic() if connection.in_atomic_block and not locked else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(feedback_write_sql(final=result.final), params)
        return cursor.fetchone() is not None


@functools.cache
def feedback_write_sql(*, final: bool) -> str:
    """Return the one PostgreSQL statement that records a feedback call (params: see _write).

    A data-modifying CTE: the tip's UPDATE only matches while the tip is open and as it was read (it
    re-checks that on the row it locks, after any concurrent writer committed), and the event and the arm
    statistics are inserted from its RETURNING, so all of them happen, or none. Returns the event's id.

    PostgreSQL leaves the order of a CTE's sub-statements unspecified, so each one reads the RETURNING rows
    of the one before: tip, event, global statistic, user's statistic. The rows are locked in that order,
    the order of arm_stats_add (global before per-user), so this cannot deadlock with the window closer; and
    a reused key fails at the event before it waits for the hot global row.
    """
    q = connection.ops.quote_name
    tips, events = q(TipScore._meta.db_table), q(FeedbackEvent._meta.db_table)
    sql = (
        f"WITH tip AS (UPDATE {tips} SET last_action = %(last_action)s, reward = %(reward)s, "
        "feedback_at = %(now)s, finalized_at = %(finalized_at)s "
        "WHERE id = %(tip_id)s AND user_id = %(user_id)s AND finalized_at IS NULL "
        "AND last_action IS NOT DISTINCT FROM %(was_action)s AND reward IS NOT DISTINCT FROM %(was_reward)s "
        "RETURNING id), "
        f"event AS (INSERT INTO {events} (tip_id, user_id, action, created_at, until, reward, idempotency_key, "
        "request_fingerprint, response) SELECT id, %(user_id)s, %(action)s, %(now)s, %(until)s, %(reward)s, "
        "%(key)s, %(fingerprint)s, %(response)s::jsonb FROM tip RETURNING id)"
    )
    if final:
        after = "event"
        for name, scoped, user in (("arm_all", False, "NULL::bigint"), ("arm_user", True, "%(user_id)s")):
            rows = f"SELECT {user}, %(arm)s, 1, %(reward)s, %(now)s FROM {after}"
            sql += f", {name} AS ({arm_stats_upsert_sql(scoped=scoped, rows=rows)} RETURNING 1)"
            after = name
    return sql + " SELECT id FROM event"


def _record(call: _Call) -> FeedbackOutcome:
    # Optimistic first, in autocommit: one read and one statement that writes only if the tip is still as
    # read (the UPDATE re-checks its WHERE on the row it locks). Losing that race means another call just
    # changed the tip: then take the row lock and decide again.
    outcome = _attempt(call, lock=False)
    if outcome is not None:
        return outcome
    with transaction.atomic():
        outcome = _attempt(call, lock=True)
    if outcome is None:  # cannot happen under the row lock
        raise RuntimeError(f"tip {call.tip_id} changed under its row lock")
    return outcome


def feedback_record(
    *,
    user: User,
    tip_id: int,
    action: str,
    until: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> FeedbackOutcome:
    """Record one feedback action on the user's tip and return the answer for the client.

    Raises domain errors: InvalidInput (bad action/until/key), NotFound (not the user's tip, or no such tip),
    Conflict (the tip's reward is final or its window closed), KeyReused (the Idempotency-Key was used for a
    different request).
    The same key with the same request returns the first answer again and records nothing.
    """
    now = now or timezone.now()
    _validate(action=action, until=until, idempotency_key=idempotency_key, now=now)
    if not 0 < tip_id <= _BIGINT_MAX:
        raise _tip_not_found(tip_id)
    call = _Call(
        user_id=user.pk,
        tip_id=tip_id,
        action=action,
        until=until,
        idempotency_key=idempotency_key,
        fingerprint=_fingerprint(tip_id=tip_id, action=action, until=until),
        now=now,
    )
    try:
        return _record(call)
    except IntegrityError:
        # The key was used before (the event's unique constraint; the statement or transaction rolled back
        # whole): answer as that call's replay, or 422. Checking the key only here keeps the common path short.
        if idempotency_key is None:
            raise
        prior = _replay(user_id=call.user_id, idempotency_key=idempotency_key, fingerprint=call.fingerprint)
        if prior is None:
            raise
        return prior
