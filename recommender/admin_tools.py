"""Admin building blocks that stay fast on tables of millions of rows (tip_scores).

- `EstimatedCountPaginator`: on PostgreSQL, a large changelist's row count is the planner's estimate
  (EXPLAIN), not an exact COUNT(*) that reads the whole table on every page view; small results are
  counted exactly, with the count capped so a wrong estimate cannot turn into a full scan.
- `indexed_values_filter`: a list filter over a column's distinct values, found by a "skip scan" (a
  recursive CTE that hops through the column's index, one probe per distinct value) and cached briefly,
  instead of SELECT DISTINCT over every row.
- `ViewOnlyAdmin`: a model admin where operators look and nothing is added, changed or deleted.
- `RangeDatesQuerySet`: the date hierarchy's links are the periods between the first and the last row
  (MIN and MAX: two index probes) instead of SELECT DISTINCT DATE_TRUNC(...) over every row; a period
  without rows may be listed and then shows an empty page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from recommender.cache_keys import distinct_values_key

# Below this estimate an exact count is cheap, and exact is what an operator expects on small results.
EXACT_COUNT_BELOW = 10_000
DISTINCT_VALUES_TTL_S = 300
NONE_VALUE = "__none__"


class ViewOnlyAdmin(admin.ModelAdmin):
    """Operators look; nothing is added, changed or deleted (the view permission still decides who looks)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def planner_estimate(queryset: QuerySet) -> int:
    """Return PostgreSQL's estimate of how many rows `queryset` returns."""
    connection = connections[queryset.db]
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. .none(), or `id__in=[]`: nothing to ask the planner
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to `exact_below` rows (a capped COUNT), else trusts the planner's estimate.

    The exact count is capped (COUNT over a LIMIT-ed subquery) because estimates can be far off for a
    filter or a search: an estimate of 1 000 for a search that matches 90 000 rows must not turn into a
    full count. Pages near the end of an estimated count may be short or empty.
    """

    exact_below = EXACT_COUNT_BELOW

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not isinstance(object_list, QuerySet):
            return super().count
        estimate = planner_estimate(object_list)
        if estimate >= self.exact_below:
            return estimate
        capped = object_list.order_by()[: self.exact_below].count()
        return capped if capped < self.exact_below else max(estimate, capped)


def distinct_values(model: type[Model], field: str, *, using: str = "default") -> list[Any]:
    """Return the distinct non-null values of `model.field`, cached for DISTINCT_VALUES_TTL_S."""
    key = distinct_values_key(model._meta.label_lower, field)
    values = cache.get(key)
    if values is None:
        values = _skip_scan(model, field, using) or []
        cache.set(key, values, timeout=DISTINCT_VALUES_TTL_S)
    return values


def _skip_scan(model: type[Model], field: str, using: str) -> list[Any]:
    connection = connections[using]
    table = connection.ops.quote_name(model._meta.db_table)
    column_name = getattr(model._meta.get_field(field), "column", None)  # a reverse relation has none
    if not isinstance(column_name, str):
        raise ValueError(f"{model._meta.label}.{field} is not a column")
    column = connection.ops.quote_name(column_name)
    # Each step finds the next larger value with one index probe: cost grows with distinct values, not rows.
    sql = f"""
        WITH RECURSIVE skip(v) AS (
            (SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > skip.v ORDER BY {column} LIMIT 1)
            FROM skip WHERE skip.v IS NOT NULL
        )
        SELECT v FROM skip WHERE v IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def indexed_values_filter(field: str, title: str, *, none_label: str | None = None) -> type[admin.SimpleListFilter]:
    """Return a list filter on `field` whose choices come from `distinct_values` (plus `none_label` for NULL)."""

    class IndexedValuesFilter(admin.SimpleListFilter):
        parameter_name = field
        pins_its_column = True  # TipScoreAdmin.get_ordering leads the order with a filtered column

        def lookups(self, request: Any, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
            choices = [(str(v), str(v)) for v in distinct_values(model_admin.model, field)]
            return [*choices, (NONE_VALUE, none_label)] if none_label else choices

        def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
            value = self.value()
            if value == NONE_VALUE:
                return queryset.filter(**{f"{field}__isnull": True})
            return RangeDatesQuerySet.of(queryset).pinned(field, value) if value else queryset

    IndexedValuesFilter.title = title
    IndexedValuesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return IndexedValuesFilter


def _periods(first: datetime, last: datetime, kind: str, zone: tzinfo) -> Iterator[datetime]:
    """Yield the start of every year, month or day from `first`'s to `last`'s, in `zone`."""
    if kind == "year":
        for year in range(first.year, last.year + 1):
            yield datetime(year, 1, 1, tzinfo=zone)
    elif kind == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            yield datetime(year, month, 1, tzinfo=zone)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    elif kind == "day":
        day = first.date()
        while day <= last.date():
            yield datetime(day.year, day.month, day.day, tzinfo=zone)
            day += timedelta(days=1)
    else:
        raise ValueError(f"kind must be year, month or day, not {kind!r}")


class RangeDatesQuerySet(QuerySet):
    """A queryset whose `datetimes()` (what the admin's date hierarchy calls) costs MIN and MAX, not a scan.

    MIN/MAX of an indexed column is two index probes on the whole table, but with a selective filter
    (a rare search term) PostgreSQL may walk the column's index until a row matches, i.e. the whole table.
    So when the planner expects few rows, MIN/MAX are taken over the filtered rows themselves, behind an
    `OFFSET 0` fence that makes PostgreSQL plan the filter on its own (with the filter's index).

    A column pinned to one value (`pinned`) leads the order of the bounds' queries, so they run along its
    (column, served_at) index whatever the planner believes about how rows of that value spread over time.
    """

    _pinned: tuple[str, ...] = ()

    def pinned(self, field: str, value: Any) -> RangeDatesQuerySet:
        """Return the rows whose `field` is `value`, written as a one-value range.

        With `field = value`, PostgreSQL treats the column as a constant and may serve ORDER BY served_at
        from the served_at index, stepping over every newer row, which is every row served since a model or
        prompt version was retired. As a range, with `field` leading the ORDER BY (the admin's get_ordering),
        only the (field, served_at) index delivers the order: 220 ms -> 1.5 ms on 2 M rows (docs/benchmarks.md).
        """
        clone = self.filter(**{f"{field}__range": (value, value)})
        clone._pinned = (*self._pinned, field)
        return clone

    def _clone(self) -> RangeDatesQuerySet:
        # Every chained call clones through here; django-stubs does not declare this private hook.
        clone = super()._clone()  # type: ignore[misc]
        clone._pinned = self._pinned
        return clone

    def _bound(self, name: str, *, last: bool) -> Any:
        """The first (or last) value of `name` in the order of the pinned columns, then `name`: MIN (or MAX)."""
        sign = "-" if last else ""
        ordering = [f"{sign}{column}" for column in (*self._pinned, name)]
        rows = self.exclude(**{f"{name}__isnull": True}).order_by(*ordering)
        return rows.values_list(name, flat=True).first()

    # A list, not a queryset of datetimes: the admin's date hierarchy (its one caller) only iterates it.
    def datetimes(  # type: ignore[override]
        self, field_name: str, kind: str, order: str = "ASC", tzinfo: tzinfo | None = None
    ) -> list[datetime]:
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (timezone.localtime(bounds[k], zone) for k in ("first", "last"))
        periods = list(_periods(first, last, kind, zone))
        return periods[::-1] if order == "DESC" else periods

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        fields = {getattr(a, "source_expressions", [None])[0] for a in kwargs.values()}
        plain = not args and kwargs and all(type(a) in (Min, Max) for a in kwargs.values())
        if not (plain and self.query.where):
            return super().aggregate(*args, **kwargs)
        if self._pinned:
            return {
                alias: self._bound(a.source_expressions[0].name, last=type(a) is Max) for alias, a in kwargs.items()
            }
        estimate = planner_estimate(self)
        if not estimate or estimate >= EXACT_COUNT_BELOW:
            return super().aggregate(*args, **kwargs)  # many matches: the index walk stops early
        names = sorted({f.name for f in fields})
        sql, params = self.order_by().values(*names).query.sql_with_params()
        columns = {name: f"v{i}" for i, name in enumerate(names)}
        inner_columns = ", ".join(f'"{name}" AS {alias}' for name, alias in columns.items())
        outer = ", ".join(
            f"{'MIN' if type(a) is Min else 'MAX'}({columns[a.source_expressions[0].name]})" for a in kwargs.values()
        )
        with connections[self.db].cursor() as cursor:
            cursor.execute(f"SELECT {outer} FROM (SELECT {inner_columns} FROM ({sql} OFFSET 0) f) s", params)
            row = cursor.fetchone()
        return dict(zip(kwargs, row, strict=True))

    @classmethod
    def of(cls, queryset: QuerySet) -> RangeDatesQuerySet:
        """Return `queryset` (same model, query and database) as a RangeDatesQuerySet; one already is returned as is."""
        if isinstance(queryset, cls):
            return queryset  # keeps the columns it pins
        return cls(model=queryset.model, query=queryset.query, using=queryset.db)
