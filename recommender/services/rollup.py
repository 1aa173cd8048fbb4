"""The daily rollup of tip_scores the admin's chart pages read for days whose rows are all final (docs/adr/0099).

A day is rolled up once every tip served on it is final: a final row never changes again (feedback and
completions only touch open rows, recommender/services/feedback.py and rewards.py), so its sums stay exact.
`tip_score_days_covered` keeps, per time zone, the first day not rolled up; the pages read the days before it
from `tip_score_days` (and the requests' shadow agreement from `tip_request_shadow_days`: a request is written
once, as it is served) and every later day live (`recommender.selectors.rollup`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from recommender.models import TipRequest, TipRequestShadowDay, TipScore, TipScoreDay, TipScoreDaysCovered

logger = logging.getLogger(__name__)

# The groups a rollup row is kept per: its tip's columns, then its request's (policy and model version).
TIP_GROUPS = ("prompt_version", "llm_model", "tip_kind", "source")
REQUEST_GROUPS = ("policy", "model_version")
SUMS = ("served", "with_feedback", "rewarded", "reward_sum", "reward_squares")
BATCH_DAYS = 31  # days summed by one statement per table: a month of a million-row table is ~0.1 s here


@dataclass(frozen=True)
class RollupRefresh:
    """What a refresh did: the days it summed, [first, end), the rows it wrote, and the first day read live now."""

    first: date
    end: date
    rows: int
    covered_before: date


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight starting `day` in `zone`, as an aware datetime (the admin's period bounds, admin_period.py)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def open_before(*, zone: ZoneInfo, now: datetime) -> date:
    """The first day that can still change: today, or the day of the oldest tip not final yet if earlier."""
    oldest_open = TipScore.objects.filter(finalized_at__isnull=True).aggregate(at=Min("served_at"))["at"]
    today = timezone.localdate(now, zone)
    return min(today, timezone.localdate(oldest_open, zone)) if oldest_open else today


@functools.cache
def upsert_sql() -> str:
    """Sum the tips served in [start, end) per day in a zone and group, and write those days' rows in one statement.

    Raw SQL because the ORM cannot write INSERT ... SELECT ... ON CONFLICT DO UPDATE: the sums stay in the
    database (a month is a few thousand groups), and the same statement deletes the rows of groups that no
    longer have a tip on those days (a rebuild after a backfill or a deleted user), so a refresh of any day
    range leaves exactly what summing it again would give. Idempotent.
    """
    quote = connection.ops.quote_name
    days, tips, requests = (quote(m._meta.db_table) for m in (TipScoreDay, TipScore, TipRequest))
    groups = (*TIP_GROUPS, *REQUEST_GROUPS)
    key = ", ".join(("zone", "day", *groups))
    selected = ", ".join(
        [f"s.{g}" for g in TIP_GROUPS] + [f"r.{g}" for g in REQUEST_GROUPS]
    )  # the columns of tip_scores (s) and of its requests (r)
    final = "FILTER (WHERE s.finalized_at IS NOT NULL)"
    same = " AND ".join(f"f.{g} IS NOT DISTINCT FROM d.{g}" for g in groups)
    return (
        f"WITH fresh AS (SELECT %(zone)s::text AS zone, (s.served_at AT TIME ZONE %(zone)s)::date AS day, {selected}, "
        f"count(*) AS served, count(s.feedback_at) AS with_feedback, count(s.reward) {final} AS rewarded, "
        f"coalesce(sum(s.reward) {final}, 0) AS reward_sum, "
        f"coalesce(sum(s.reward * s.reward) {final}, 0) AS reward_squares "
        f"FROM {tips} s JOIN {requests} r ON r.id = s.request_id "
        f"WHERE s.served_at >= %(start)s AND s.served_at < %(end)s GROUP BY {', '.join(str(i) for i in range(2, 9))}), "
        f"gone AS (DELETE FROM {days} d WHERE d.zone = %(zone)s AND d.day >= %(first)s AND d.day < %(last)s "
        f"AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.day = d.day AND {same})) "
        f"INSERT INTO {days} ({key}, {', '.join(SUMS)}) SELECT {key}, {', '.join(SUMS)} FROM fresh "
        f"ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{s} = excluded.{s}" for s in SUMS)
    )


@functools.cache
def shadow_upsert_sql() -> str:
    """Count the requests served in [start, end) that a shadow model scored, and those it agreed with, per day and
    shadow version, and write those days' rows: `upsert_sql`'s statement for `TipRequestShadowDay`.

    The same expressions as `recommender.selectors.evaluations.shadow_agreement` (has_key, KT cast, agrees = true).
    """
    quote = connection.ops.quote_name
    days, requests = (quote(m._meta.db_table) for m in (TipRequestShadowDay, TipRequest))
    return (
        f"WITH fresh AS (SELECT %(zone)s::text AS zone, (r.created_at AT TIME ZONE %(zone)s)::date AS day, "
        "(r.policy_params #>> '{shadow,model_version}')::integer AS model_version, count(*) AS shadowed, "
        "count(*) FILTER (WHERE r.policy_params -> 'shadow' -> 'agrees' = 'true'::jsonb) AS agreed "
        f"FROM {requests} r WHERE r.policy_params ? 'shadow' AND r.created_at >= %(start)s "
        "AND r.created_at < %(end)s GROUP BY 2, 3), "
        f"gone AS (DELETE FROM {days} d WHERE d.zone = %(zone)s AND d.day >= %(first)s AND d.day < %(last)s "
        "AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.day = d.day "
        "AND f.model_version IS NOT DISTINCT FROM d.model_version)) "
        f"INSERT INTO {days} (zone, day, model_version, shadowed, agreed) "
        "SELECT zone, day, model_version, shadowed, agreed FROM fresh "
        "ON CONFLICT (zone, day, model_version) DO UPDATE SET shadowed = excluded.shadowed, agreed = excluded.agreed"
    )


def _sum_days(*, zone: ZoneInfo, first: date, end: date, batch_days: int) -> int:
    """Write the rollup rows of the days [first, end), `batch_days` per statement; returns the rows written."""
    written = 0
    while first < end:
        last = min(end, first + timedelta(days=batch_days))
        params: dict[str, str | date | datetime] = {
            "zone": settings.TIME_ZONE,
            "start": day_start(first, zone),
            "end": day_start(last, zone),
            "first": first,
            "last": last,
        }
        with connection.cursor() as cursor:
            for sql in (upsert_sql(), shadow_upsert_sql()):  # the tips' sums, then the requests' shadow counts
                cursor.execute(sql, params)
                written += cursor.rowcount
        first = last
    return written


def _first_tip_day(zone: ZoneInfo) -> date | None:
    first = TipScore.objects.aggregate(at=Min("served_at"))["at"]
    return timezone.localdate(first, zone) if first else None


def tip_score_days_refresh(*, now: datetime | None = None, batch_days: int = BATCH_DAYS) -> RollupRefresh | None:
    """Roll up the days that became final since the last refresh (the first time: every day), in TIME_ZONE.

    The periodic task (beat) calls it. The covered bound follows the oldest open tip both ways: a day with a tip
    not final yet (finalization behind) is read live again until a refresh sums it. None: no tip yet, so nothing
    is covered (tips imported later with their old days are summed by the first refresh after them).
    """
    zone = ZoneInfo(settings.TIME_ZONE)
    now = now or timezone.now()
    bound = open_before(zone=zone, now=now)
    with transaction.atomic():
        covered = TipScoreDaysCovered.objects.select_for_update().filter(zone=settings.TIME_ZONE).first()
        first = covered.before if covered else _first_tip_day(zone)  # the lock: one refresh at a time
        if first is None:
            return None
        if covered is None:  # a fresh start: no row of an earlier rollup of this zone is left to be read
            TipScoreDay.objects.filter(zone=settings.TIME_ZONE).delete()
            TipRequestShadowDay.objects.filter(zone=settings.TIME_ZONE).delete()
        rows = _sum_days(zone=zone, first=first, end=bound, batch_days=batch_days)
        TipScoreDaysCovered.objects.update_or_create(
            zone=settings.TIME_ZONE, defaults={"before": bound, "refreshed_at": now}
        )
    if first < bound:
        logger.info("tip_score_days_refresh zone=%s days=%s..%s rows=%d", zone, first, bound, rows)
    return RollupRefresh(first, max(first, bound), rows, bound)


def tip_score_days_rebuild(
    *, first: date | None = None, last: date | None = None, batch_days: int = BATCH_DAYS
) -> RollupRefresh | None:
    """Sum the days from `first` to `last` (inclusive) again, then refresh; with neither, start the rollup afresh.

    For rows changed behind the rollup's back (docs/operations.md): a backfill of old rows, deleted users, tips
    imported with their old days, a restore. Days not covered yet are left to the refresh.
    """
    zone = ZoneInfo(settings.TIME_ZONE)
    rows = 0
    with transaction.atomic():
        covered = TipScoreDaysCovered.objects.select_for_update().filter(zone=settings.TIME_ZONE).first()
        if first is None and last is None:  # the refresh then starts afresh
            TipScoreDaysCovered.objects.filter(zone=settings.TIME_ZONE).delete()
        elif covered is not None:
            start = first or _first_tip_day(zone) or covered.before
            end = min(covered.before, last + timedelta(days=1)) if last else covered.before
            rows = _sum_days(zone=zone, first=start, end=end, batch_days=batch_days)
    refreshed = tip_score_days_refresh(batch_days=batch_days)
    if refreshed is None:
        return None
    return RollupRefresh(refreshed.first, refreshed.end, rows + refreshed.rows, refreshed.covered_before)
