"""Recording feedback on a served tip: every event kept, idempotent by key, safe under concurrent calls."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.caching import serving_state_forget
from recommender.models import FeedbackEvent, TipScore
from recommender.rewards import COOLDOWN_ACTIONS, REWARDS, Action, window_closes_at
from recommender.services.rewards import tip_apply_action, tip_due_age_days
from tipengine.errors import ApiError

IDEMPOTENCY_KEY_MAX = 255
SNOOZE_MAX_H_DEFAULT = 168.0
_BIGINT_MAX = 2**63 - 1
# What feedback reads of a tip (not its text): the row lock is taken with the smallest read.
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
    status: int
    replayed: bool = False

    def __post_init__(self) -> None:
        # Keys in one canonical order: a replay read back from JSONB (which reorders keys) is byte-identical.
        object.__setattr__(self, "body", dict(sorted(self.body.items())))


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(status=400, code="invalid", message=message, details={"fields": {field: [message]}})


def _validate(*, action: str, until: datetime | None, idempotency_key: str | None, now: datetime) -> None:
    if action not in REWARDS:
        raise _invalid("action", f"Unknown action {action!r}; use one of: {', '.join(Action.values)}.")
    if until is not None:
        if action != Action.SNOOZED:
            raise _invalid("until", "`until` is only accepted with the action `snoozed`.")
        if until <= now:
            raise _invalid("until", "`until` must be in the future.")
        # Serving honours a snooze for at most this long (its cool-down look-back): say so instead of ignoring it.
        max_h = getattr(settings, "TIPS_SNOOZE_MAX_H", SNOOZE_MAX_H_DEFAULT)
        if until > now + timedelta(hours=max_h):
            raise _invalid("until", f"`until` must be at most {max_h:g} hours ahead.")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise _invalid("Idempotency-Key", f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} characters.")


def _fingerprint(*, tip_id: int, action: str, until: datetime | None) -> str:
    # `until` in UTC: the same instant written with another offset is the same request.
    body = {"tip_id": tip_id, "action": action, "until": until.astimezone(UTC).isoformat() if until else None}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replay(*, user: AbstractBaseUser, idempotency_key: str, fingerprint: str) -> FeedbackOutcome | None:
    prior = (
        FeedbackEvent.objects.filter(user=user, idempotency_key=idempotency_key)
        .only("request_fingerprint", "response")
        .first()
    )
    if prior is None:
        return None
    if prior.request_fingerprint != fingerprint:
        raise ApiError(
            status=422,
            code="idempotency_key_reused",
            message="This Idempotency-Key was already used with a different request; use a new key for a new request.",
            details={"idempotency_key": idempotency_key},
        )
    return FeedbackOutcome(body=prior.response, status=201, replayed=True)


def _tip_not_found(tip_id: int) -> ApiError:
    # The same answer for a tip that does not exist and for someone else's: ids reveal nothing.
    return ApiError(status=404, code="not_found", message=f"Tip {tip_id} was not found.", details={"tip_id": tip_id})


def _closed(tip: TipScore, now: datetime) -> ApiError | None:
    """Return the 409 for a tip whose reward can no longer change, or None while its window is open."""
    if tip.is_final:
        return ApiError(
            status=409,
            code="already_final",
            message="This tip's reward is already final, so feedback can no longer change it.",
            details={
                "tip_id": tip.pk,
                "finalized_at": tip.finalized_at.isoformat(),
                "last_action": tip.last_action,
                "reward": tip.reward,
            },
        )
    closes_at = window_closes_at(tip.served_at)
    if closes_at <= now:
        return ApiError(
            status=409,
            code="window_closed",
            message="This tip's feedback window has closed; its reward is being finalized.",
            details={"tip_id": tip.pk, "window_closed_at": closes_at.isoformat()},
        )
    return None


def _record(
    *,
    user: AbstractBaseUser,
    tip_id: int,
    action: str,
    until: datetime | None,
    idempotency_key: str | None,
    fingerprint: str,
    now: datetime,
) -> FeedbackOutcome:
    with transaction.atomic():
        # The row lock serializes feedback on one tip, so a tip is finalized (and counted) exactly once.
        tip = TipScore.objects.select_for_update().filter(pk=tip_id, user=user).only(*_TIP_FIELDS).first()
        if tip is None:
            raise _tip_not_found(tip_id)
        if (error := _closed(tip, now)) is not None:
            # A retry of the call that closed it (or of any earlier one) replays; checked under the lock,
            # so a concurrent call with the same key on this tip has committed by now.
            if idempotency_key is not None:
                prior = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
                if prior is not None:
                    return prior
            raise error
        reward = tip_apply_action(tip=tip, action=action, at=now)
        body = {
            "tip_id": tip.pk,
            "action": action,
            "until": until.isoformat() if until else None,
            "reward": reward,
            "final": tip.is_final,
            "finalized_at": tip.finalized_at.isoformat() if tip.finalized_at else None,
            "window_closes_at": window_closes_at(tip.served_at).isoformat(),
            "due_age_days": tip_due_age_days(tip),
            "recorded_at": now.isoformat(),
        }
        FeedbackEvent.objects.create(
            tip=tip,
            user=user,
            action=action,
            created_at=now,
            until=until,
            reward=reward,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            response=body,
        )
        if action in COOLDOWN_ACTIONS:
            serving_state_forget(user_id=user.pk)
    return FeedbackOutcome(body=body, status=201)


def feedback_record(
    *,
    user: AbstractBaseUser,
    tip_id: int,
    action: str,
    until: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> FeedbackOutcome:
    """Record one feedback action on the user's tip and return the answer for the client.

    Raises ApiError: 400 bad action/until/key, 404 not the user's tip (or no such tip), 409 the tip's
    reward is final or its window closed, 422 the Idempotency-Key was used for a different request.
    The same key with the same request returns the first answer again and records nothing.
    """
    now = now or timezone.now()
    _validate(action=action, until=until, idempotency_key=idempotency_key, now=now)
    if not 0 < tip_id <= _BIGINT_MAX:
        raise _tip_not_found(tip_id)
    fingerprint = _fingerprint(tip_id=tip_id, action=action, until=until)
    try:
        return _record(
            user=user,
            tip_id=tip_id,
            action=action,
            until=until,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
        )
    except IntegrityError:
        # The key was used before (the event's unique constraint; the transaction rolled back whole): answer
        # as that call's replay, or 422. Checking the key only here keeps the common path one query shorter.
        if idempotency_key is None:
            raise
        prior = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if prior is None:
            raise
        return prior
