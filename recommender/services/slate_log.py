"""Writing one served slate (its TipRequest and TipScores) atomically: one statement on PostgreSQL."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from django.db import connection
from psycopg.types.json import Jsonb

from recommender.models import SERVED_TIP_COLUMNS, TipRequest, TipScore

TIP_COLUMNS = SERVED_TIP_COLUMNS
REQUEST_COLUMNS = (
    "user_id", "created_at", "policy", "policy_params", "candidates", "degraded", "arm_estimates", "model_version",
)  # fmt: skip


def _json_number(value: float | None) -> float | str | None:
    """Return `value` as JSON can carry it: JSON has no infinity (UCB1's untried arms), PostgreSQL reads "inf"."""
    return value if value is None or math.isfinite(value) else str(value)


@cache
def _one_statement_sql() -> str:
    """INSERT the request, INSERT its tips from one JSON array of rows, and return both ids: one round trip.

    One JSON parameter for the tips (not one typed array per column) because dumping it is one C-speed
    json.dumps, a fifth of the client time of thirteen arrays dumped element by element.
    """
    quote = connection.ops.quote_name
    table = quote(TipScore._meta.db_table)
    columns = ", ".join(quote(name) for name in TIP_COLUMNS)
    from_rows = ", ".join(f"rows.{quote(name)}" for name in TIP_COLUMNS)
    return (
        f"WITH request AS (INSERT INTO {quote(TipRequest._meta.db_table)} "
        f"({', '.join(quote(c) for c in REQUEST_COLUMNS)}) VALUES ({', '.join(['%s'] * len(REQUEST_COLUMNS))}) "
        "RETURNING id), "
        f"tips AS (INSERT INTO {table} (request_id, user_id, served_at, {columns}) "
        f"SELECT request.id, %s, %s, {from_rows} FROM request, jsonb_populate_recordset(NULL::{table}, %s) AS rows "
        "RETURNING id, position) "
        "SELECT (SELECT id FROM request), ARRAY(SELECT id FROM tips ORDER BY position)"
    )


def slate_log(*, request: dict[str, Any], tips: list[dict[str, Any]]) -> tuple[int, list[int]]:
    """Insert the request row (REQUEST_COLUMNS) and its tip rows (TIP_COLUMNS; served_at and user from the request)
    in one atomic write; return the request's id and the tips' ids, in slate order.

    A single statement: no BEGIN/COMMIT round trips on the serving path. The rows are plain dicts, not model
    instances: building those cost more than their parameters (docs/benchmarks.md, "A lighter warm serve").
    """
    rows = [{**tip, "score": _json_number(tip["score"]), "propensity": _json_number(tip["propensity"])} for tip in tips]
    json_columns = {"policy_params", "candidates", "degraded", "arm_estimates"}
    params: list[Any] = [  # psycopg adapts Jsonb too, beyond the plain values the stubs list
        *(Jsonb(request[name]) if name in json_columns else request[name] for name in REQUEST_COLUMNS),
        request["user_id"],
        request["created_at"],
        Jsonb(rows),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_one_statement_sql(), params)
        request_id, tip_ids = cursor.fetchone()
    return request_id, tip_ids
