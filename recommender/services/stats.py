"""Arm statistics: incremented atomically when rewards become final, and rebuildable from tip_scores."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from generation.candidates import arm_name
from recommender.cache_keys import GLOBAL_ARMS_KEY, arms_key, serving_state_forget
from recommender.models import ArmStat, TipScore
from tipengine.caching import cache_forget

LEGACY_KIND = "legacy"


@dataclass(frozen=True, slots=True)
class FinalReward:
    """One tip whose reward just became final: what the statistics need to know about it."""

    user_id: int
    source: str
    tip_kind: str | None
    reward: float

    @property
    def arm(self) -> str:
        return arm_name(self.source, self.tip_kind or LEGACY_KIND)


def arm_stats_upsert_sql(*, scoped: bool, rows: str) -> str:
    """Return the upsert that adds `rows` (VALUES or a SELECT of user_id, arm, count, reward_sum, updated_at).

    The increment happens in the database, so concurrent upserts of one arm cannot lose an update. A caller
    other than arm_stats_add must forget the users' serving state itself (serving_state_forget).
    """
    table = connection.ops.quote_name(ArmStat._meta.db_table)
    count = connection.ops.quote_name("count")
    # ON CONFLICT names the partial unique index by its columns and predicate .
    target = "(user_id, arm) WHERE user_id IS NOT NULL" if scoped else "(arm) WHERE user_id IS NULL"
    return (
        f"INSERT INTO {table} (user_id, arm, {count}, reward_sum, updated_at) {rows} "
        f"ON CONFLICT {target} DO UPDATE SET {count} = {table}.{count} + excluded.{count}, "
        f"reward_sum = {table}.reward_sum + excluded.reward_sum, updated_at = excluded.updated_at"
    )


def arm_stats_add(*, rewards: Iterable[FinalReward]) -> None:
    """Add final rewards to the global and per-user statistics of their arms, in one upsert per scope.

    Call it inside the transaction that finalizes the tips, so a rollback takes both back. Increments
    happen in the database (never read-modify-write in Python), so concurrent calls cannot lose an update;
    rows are written in key order so two batches touching the same arms cannot deadlock.
    """
    per_user: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0.0])
    per_arm: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for final in rewards:
        for bucket in (per_user[(final.user_id, final.arm)], per_arm[final.arm]):
            bucket[0] += 1
            bucket[1] += final.reward
    if not per_arm:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        everyone: dict[tuple[int | None, str], list[float]] = {(None, arm): v for arm, v in per_arm.items()}
        by_user: dict[tuple[int | None, str], list[float]] = {key: v for key, v in per_user.items()}
        for scoped, groups in ((False, everyone), (True, by_user)):
            keys = sorted(groups, key=lambda k: (k[0] or 0, k[1]))
            params: list[Any] = []
            for user_id, arm in keys:
                count, reward_sum = groups[(user_id, arm)]
                params += [user_id, arm, count, reward_sum, now]
            values = "VALUES " + ", ".join(["(%s, %s, %s, %s, %s)"] * len(keys))
            cursor.execute(arm_stats_upsert_sql(scoped=scoped, rows=values), params)
    for user_id in {user_id for user_id, _ in per_user}:
        serving_state_forget(user_id=user_id)


def _final_totals(*, per_user: bool) -> list[dict]:
    fields = ("user_id", "arm_key") if per_user else ("arm_key",)
    return list(
        TipScore.objects.filter(finalized_at__isnull=False)
        .annotate(arm_key=Concat("source", Value(":"), Coalesce("tip_kind", Value(LEGACY_KIND))))
        .values(*fields)
        .annotate(n=Count("id"), total=Sum("reward"))
        .order_by()
    )


@transaction.atomic
def arm_stats_rebuild() -> dict[str, int]:
    """Recompute every arm statistic from the final rewards in tip_scores; return what was deleted and written.

    The table is locked first so no finalization commits between the aggregate and the write:
    one that is still open when the lock is taken adds its increment after the rebuild, on top of totals
    that do not contain it yet.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(ArmStat._meta.db_table)} IN EXCLUSIVE MODE")
    now = timezone.now()
    # Global sums come from SQL too (not from adding per-user floats in Python), like the increments.
    rows = [
        ArmStat(user_id=row.get("user_id"), arm=row["arm_key"], count=row["n"], reward_sum=row["total"], updated_at=now)
        for per_user in (False, True)
        for row in _final_totals(per_user=per_user)
    ]
    users = set(ArmStat.objects.exclude(user=None).values_list("user_id", flat=True).distinct().iterator())
    users.update(row.user_id for row in rows if row.user_id is not None)
    deleted, _ = ArmStat.objects.all().delete()
    ArmStat.objects.bulk_create(rows, batch_size=1000)
    # The next serve of every user whose statistics moved reads the rebuilt ones, not a cached copy.
    keys = [GLOBAL_ARMS_KEY, *(arms_key(user_id) for user_id in users)]
    for start in range(0, len(keys), 1000):
        cache_forget(keys[start : start + 1000])
    return {"deleted": deleted, "written": len(rows)}
