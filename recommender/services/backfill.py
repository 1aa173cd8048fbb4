"""Backfill of tip_kind, prompt_version and llm_model on tip_scores rows logged before those columns existed."""

import json
import queue
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from generation.candidates import TipSource
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
    """What a pending row still tells: its request, source, tasks, and the hints its features carry."""

    id: int
    request_id: int
    source: str
    task_ids: tuple[str, ...]
    hints: Mapping[str, str | None]  # features' kind, rule, prompt_version, llm_model
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


# A logged candidate reduced to what the backfill can learn from it: (kind, prompt_version, llm_model).
Logged = tuple[str | None, str | None, str | None]
# A request's logged candidates by (source, sorted task ids): the served tip is one of the entries under its key.
RequestIndex = dict[tuple[str | None, tuple[str, ...]], list[Logged]]
HINTS = ("kind", "rule", "prompt_version", "llm_model")


def _tasks_key(task_ids: Any) -> tuple[str, ...]:
    return tuple(sorted(str(t) for t in task_ids or ()))


def index_candidates(candidates: Any) -> RequestIndex:
    """Index one request's logged candidate set (TipCandidate.describe() entries); tolerate any old shape."""
    index: RequestIndex = {}
    for entry in candidates if isinstance(candidates, list) else ():
        if not isinstance(entry, dict):
            continue
        kind = entry.get("kind")
        if not kind and isinstance(entry.get("arm"), str) and ":" in entry["arm"]:
            kind = entry["arm"].split(":", 1)[1]
        key = (entry.get("source"), _tasks_key(entry.get("task_ids")))
        index.setdefault(key, []).append(
            (kind or None, entry.get("prompt_version") or None, entry.get("llm_model") or None)
        )
    return index


def _agreed(values: Iterable[str | None]) -> str | None:
    """The one value all matching candidates agree on, else None (ambiguous evidence is no evidence)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def infer(row: LegacyRow, index: RequestIndex) -> dict[str, tuple[str | None, str]]:
    """Return field -> (value, origin) for the fields this row is missing.

    Evidence, best first: the row's own features; the candidates its request logged with the same source
    and tasks (and the same kind, when the features name the rule), if they all agree; else `legacy`.
    """
    hints = row.hints
    matches = index.get((row.source, row.task_ids), ())
    if hints.get("rule"):
        matches = [m for m in matches if m[0] in (None, hints["rule"])]
    evidence = {
        "tip_kind": (hints.get("kind") or hints.get("rule"), 0),
        "prompt_version": (hints.get("prompt_version"), 1),
        "llm_model": (hints.get("llm_model"), 2),
    }
    filled: dict[str, tuple[str | None, str]] = {}
    for name in FIELDS:
        if getattr(row, name) is not None:
            continue
        if name == "llm_model" and row.source != TipSource.LLM:
            continue  # null is the right value for a rule tip
        hint, position = evidence[name]
        if hint:
            filled[name] = (hint, FROM_FEATURES)
        elif logged := _agreed(m[position] for m in matches):
            filled[name] = (logged, FROM_REQUEST)
        else:
            filled[name] = (LEGACY, FROM_NOTHING)
    return filled


def _load(ids_after: int, batch_size: int) -> list[LegacyRow]:
    # JSON is taken apart in the database (hints) or decoded here once (task ids): no per-value ORM decoding.
    hints = {f"hint_{name}": KeyTextTransform(name, "features") for name in HINTS}
    rows = (
        pending(after_id=ids_after)
        .annotate(tasks_text=Cast("task_ids", TextField()), **hints)
        .values_list("id", "request_id", "source", "tasks_text", *hints, *FIELDS)[:batch_size]
    )
    return [
        LegacyRow(
            row[0],
            row[1],
            row[2],
            _tasks_key(json.loads(row[3]) if row[3] else ()),
            dict(zip(HINTS, row[4:8], strict=True)),
            *row[8:],
        )
        for row in rows
    ]


def _request_indexes(request_ids: set[int]) -> dict[int, RequestIndex]:
    rows = TipRequest.objects.filter(pk__in=request_ids).values_list("id", Cast("candidates", TextField()))
    return {pk: index_candidates(json.loads(text) if text else []) for pk, text in rows}


def _write(updates: list[tuple[int, str | None, str | None, str | None]]) -> None:
    """One set-based UPDATE for the batch (like a plain UPDATE), never a statement per row.

    The values travel as four arrays (a short statement, whatever the batch size); the primary-key range
    lets the planner read only the batch's slice of the table.
    """
    table = connection.ops.quote_name(TipScore._meta.db_table)
    ids = [row[0] for row in updates]
    columns = [list(column) for column in zip(*updates, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET tip_kind = v.k, prompt_version = v.p, llm_model = v.m "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[]) AS v(i, k, p, m) "
            f"WHERE {table}.id = v.i AND {table}.id BETWEEN %s AND %s",
            [*columns, min(ids), max(ids)],
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """One batch, read and inferred, ready to write."""

    last_id: int
    updates: list[tuple[int, str | None, str | None, str | None]]
    origins: Counter


def _prepare(after: int, batch_size: int) -> Prepared | None:
    rows = _load(after, batch_size)
    if not rows:
        return None
    indexes = _request_indexes({row.request_id for row in rows})
    updates: list[tuple[int, str | None, str | None, str | None]] = []
    origins: Counter[tuple[str, str]] = Counter()
    for row in rows:
        filled = infer(row, indexes.get(row.request_id) or {})
        origins.update((name, origin) for name, (_, origin) in filled.items())
        values = [filled[name][0] if name in filled else getattr(row, name) for name in FIELDS]
        updates.append((row.id, values[0], values[1], values[2]))
    return Prepared(rows[-1].id, updates, origins)


def _read_in_turn(batch_size: int) -> Iterator[Prepared]:
    after = 0
    while (batch := _prepare(after, batch_size)) is not None:
        yield batch
        after = batch.last_id


def _read_ahead(batch_size: int) -> Iterator[Prepared]:
    """Prepare the next batch on a second connection while the caller writes this one.

    Reading and inferring (Python) then overlaps the UPDATE (the database), so a run costs about the larger
    of the two instead of their sum. Keyset reads never depend on the writes in flight: every batch starts
    after the last id of the one before.
    """
    ready: queue.Queue[Prepared | Exception | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: Prepared | Exception | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in _read_in_turn(batch_size):
                if not offer(batch):
                    return
            offer(None)
        except Exception as exc:  # handed to the writer, which raises it
            offer(exc)
        finally:
            connection.close()  # this thread's own connection

    reader = threading.Thread(target=produce, name="backfill-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def backfill_batches(*, batch_size: int, dry_run: bool, summary: BackfillSummary) -> Iterator[int]:
    """Fill pending rows in primary-key order, one committed transaction per batch; yield rows per batch.

    Resumable: a killed run loses at most its open batch, and the next run starts from what is still
    pending. Idempotent: filled rows no longer match `needs_backfill`, so a second run finds nothing.
    Inside a caller's transaction batches are read in turn: a second connection could not
    see the caller's uncommitted rows.
    """
    parallel = not connection.in_atomic_block
    for batch in (_read_ahead if parallel else _read_in_turn)(batch_size):
        if not dry_run:
            with transaction.atomic():
                _write(batch.updates)
        summary.origins.update(batch.origins)
        summary.examined += len(batch.updates)
        summary.changed += len(batch.updates)
        summary.batches += 1
        yield len(batch.updates)
