"""Backfill of tip_kind, prompt_version and llm_model on tip_scores rows logged before those columns existed."""

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from recommender.candidates import TipSource
from recommender.models import TipRequest, TipScore

LEGACY = "legacy"
FIELDS = ("tip_kind", "prompt_version", "llm_model")

# Where a filled value came from, for the summary.
FROM_ROW = "row"
FROM_FEATURES = "features"
FROM_REQUEST = "request"
FROM_NOTHING = "nothing (marked legacy)"


def needs_backfill() -> Q:
    """Rows with something left to fill. Rule tips keep llm_model null: that is known, not missing."""
    return Q(tip_kind__isnull=True) | Q(prompt_version__isnull=True) | Q(source=TipSource.LLM, llm_model__isnull=True)


def pending(*, after_id: int = 0) -> QuerySet[TipScore]:
    return TipScore.objects.filter(needs_backfill(), id__gt=after_id).order_by("id")


@dataclass(frozen=True, slots=True)
class LegacyRow:
    id: int
    request_id: int
    source: str
    task_ids: tuple[str, ...]
    features: Mapping[str, Any]
    tip_kind: str | None
    prompt_version: str | None
    llm_model: str | None


@dataclass
class BackfillSummary:
    """What a run looked at and changed: rows, and per field how each value was found."""

    examined: int = 0
    changed: int = 0
    batches: int = 0
    origins: Counter = field(default_factory=Counter)  # (field, origin) -> rows

    def lines(self) -> list[str]:
        out = [f"rows examined: {self.examined}", f"rows changed: {self.changed}", f"batches: {self.batches}"]
        for (name, origin), n in sorted(self.origins.items()):
            out.append(f"  {name}: {n} from {origin}")
        return out


def _kind_of(entry: Mapping[str, Any]) -> str | None:
    kind = entry.get("kind")
    if not kind and isinstance(entry.get("arm"), str) and ":" in entry["arm"]:
        kind = entry["arm"].split(":", 1)[1]
    return kind or None


def _matches(row: LegacyRow, entry: Mapping[str, Any]) -> bool:
    """Whether a logged candidate of the row's request is the tip that was served (same source and tasks)."""
    if entry.get("source") != row.source:
        return False
    if tuple(sorted(str(t) for t in entry.get("task_ids") or ())) != row.task_ids:
        return False
    rule = row.features.get("rule")
    return not rule or _kind_of(entry) in (None, rule)


def _agreed(values: Iterable[str | None]) -> str | None:
    """The one value all matching candidates agree on, else None (ambiguous evidence is no evidence)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def infer(row: LegacyRow, candidates: list[Mapping[str, Any]]) -> dict[str, tuple[str | None, str]]:
    """Return field -> (value, origin) for the fields this row is missing."""
    matches = [c for c in candidates if isinstance(c, Mapping) and _matches(row, c)]
    evidence = {
        "tip_kind": (
            (row.features.get("kind") or row.features.get("rule"), FROM_FEATURES),
            (_agreed(_kind_of(c) for c in matches), FROM_REQUEST),
        ),
        "prompt_version": (
            (row.features.get("prompt_version"), FROM_FEATURES),
            (_agreed(c.get("prompt_version") or None for c in matches), FROM_REQUEST),
        ),
        "llm_model": (
            (row.features.get("llm_model"), FROM_FEATURES),
            (_agreed(c.get("llm_model") or None for c in matches), FROM_REQUEST),
        ),
    }
    filled: dict[str, tuple[str | None, str]] = {}
    for name in FIELDS:
        if getattr(row, name) is not None:
            continue
        if name == "llm_model" and row.source != TipSource.LLM:
            continue  # null is the right value for a rule tip
        value, origin = next(((v, o) for v, o in evidence[name] if isinstance(v, str) and v), (LEGACY, FROM_NOTHING))
        filled[name] = (value, origin)
    return filled


def _load(ids_after: int, batch_size: int) -> list[LegacyRow]:
    rows = pending(after_id=ids_after).values_list("id", "request_id", "source", "task_ids", "features", *FIELDS)[
        :batch_size
    ]
    return [
        LegacyRow(pk, req, src, tuple(sorted(str(t) for t in tasks or ())), feats or {}, kind, version, model)
        for pk, req, src, tasks, feats, kind, version, model in rows
    ]


def _write(updates: list[tuple[int, str | None, str | None, str | None]]) -> None:
    """One UPDATE ... FROM (VALUES ...) per batch: set-based, like a plain UPDATE, not a statement per row."""
    table = connection.ops.quote_name(TipScore._meta.db_table)
    cast = "::varchar" if connection.vendor == "postgresql" else ""
    values = ", ".join([f"(%s, %s{cast}, %s{cast}, %s{cast})"] * len(updates))
    sql = (
        f"UPDATE {table} SET tip_kind = v.k, prompt_version = v.p, llm_model = v.m "
        f"FROM (VALUES {values}) AS v(i, k, p, m) WHERE {table}.id = v.i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in updates for value in row])


def backfill_batches(*, batch_size: int, dry_run: bool, summary: BackfillSummary) -> Iterator[int]:
    """Fill pending rows in primary-key order, one committed transaction per batch; yield rows per batch.

    Resumable: a killed run loses at most its open batch, and the next run starts from what is still
    pending. Idempotent: filled rows no longer match `needs_backfill`, so a second run finds nothing.
    """
    after = 0
    while True:
        rows = _load(after, batch_size)
        if not rows:
            return
        after = rows[-1].id
        request_ids = {row.request_id for row in rows}
        candidates = dict(TipRequest.objects.filter(pk__in=request_ids).values_list("id", "candidates"))
        updates = []
        for row in rows:
            filled = infer(row, candidates.get(row.request_id) or [])
            for name, (_, origin) in filled.items():
                summary.origins[(name, origin)] += 1
            values = {name: filled.get(name, (getattr(row, name), FROM_ROW))[0] for name in FIELDS}
            updates.append((row.id, values["tip_kind"], values["prompt_version"], values["llm_model"]))
        if not dry_run:
            with transaction.atomic():
                _write(updates)
        summary.examined += len(rows)
        summary.changed += len(updates)
        summary.batches += 1
        yield len(rows)
