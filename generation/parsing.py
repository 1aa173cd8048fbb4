"""Turn a model's answer into validated `TipCandidate`s: lenient on the wrapping, strict on the content."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from generation.candidates import BODY_MAX, RATIONALE_MAX, TITLE_MAX, TipCandidate, TipKind, TipSource
from generation.context import PromptContext

# ```json ... ```, bare ``` ... ```, ~~~ ... ~~~ (any info string after the opener).
FENCE_RE = re.compile(r"(?P<fence>```|~~~)[^\n]*\n(?P<body>.*?)(?:\n[ \t]*(?P=fence)|\Z)", re.DOTALL)
# How many opening braces to try when the JSON sits inside prose (bounds work on long answers).
MAX_JSON_STARTS = 20
_MISSING = object()


class OutputError(ValueError):
    """The answer as a whole is unusable; the message is quoted back to the model in a correction."""


@dataclass(frozen=True)
class ParsedTips:
    candidates: list[TipCandidate]
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> count
    merged: int = 0  # duplicates folded into an earlier candidate


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON value found in `text`, most likely first: the whole text, fenced blocks, then prose."""
    for candidate in [text, *(m.group("body").strip() for m in FENCE_RE.finditer(text))]:
        try:
            yield json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for start in [m.start() for m in re.finditer(r"[{\[]", text)][:MAX_JSON_STARTS]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
            yield value


def extract_json(text: str, *, prefer_key: str | None = None) -> Any:
    """The JSON in `text`, tolerating fences and prose around it.

    With `prefer_key`, an object having that key wins over JSON found earlier (e.g. an example in prose).
    """
    stripped = text.strip()
    if not stripped:
        raise OutputError("the answer was empty")
    first: Any = _MISSING
    for value in _json_values(stripped):
        if prefer_key is None or (isinstance(value, dict) and prefer_key in value):
            return value
        if first is _MISSING:
            first = value
    if first is _MISSING:
        raise OutputError("the answer was not valid JSON")
    return first


def _tip_items(data: Any) -> list[Any]:
    if isinstance(data, list):  # a bare list of tips: accept the obvious intent
        return data
    if not isinstance(data, dict):
        raise OutputError('the JSON was not an object with a "tips" list')
    tips = data.get("tips")
    if tips is None and {"kind", "title"} <= data.keys():
        return [data]  # a single tip without the wrapper
    if not isinstance(tips, list):
        raise OutputError('the JSON object has no "tips" list')
    return tips


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return " ".join(value.split()) if isinstance(value, str) else ""


class _Dropped(Exception):
    def __init__(self, reason: str, note: str) -> None:
        super().__init__(note)
        self.reason, self.note = reason, note


def _check_tip(item: Any, allowed_ids: frozenset[str]) -> dict[str, Any]:
    """Return the cleaned fields of a valid tip; raise _Dropped (reason, note for the model) otherwise."""
    if not isinstance(item, dict):
        raise _Dropped("not_an_object", "a tip was not a JSON object")
    kind = item.get("kind")
    if kind not in TipKind.values:
        raise _Dropped("unknown_kind", f"kind {kind!r} is not one of {', '.join(TipKind.values)}")
    title, body, rationale = _text(item, "title"), _text(item, "body"), _text(item, "rationale")
    if not title or not body:
        raise _Dropped("empty_text", "title and body must not be empty")
    limits = (("title", title, TITLE_MAX), ("body", body, BODY_MAX), ("rationale", rationale, RATIONALE_MAX))
    for name, value, limit in limits:
        if len(value) > limit:
            raise _Dropped("too_long", f"{name} has {len(value)} characters, the limit is {limit}")
    raw_ids = item.get("task_ids") or []
    if not isinstance(raw_ids, list) or not all(isinstance(i, (str, int)) for i in raw_ids):
        raise _Dropped("bad_task_ids", "task_ids must be a list of task id strings")
    task_ids = tuple(dict.fromkeys(str(i) for i in raw_ids))
    unknown = sorted(set(task_ids) - allowed_ids)
    if unknown:
        raise _Dropped("unknown_task_ids", f"task ids {unknown} are not in the context")
    return {"kind": kind, "title": title, "body": body, "rationale": rationale, "task_ids": task_ids}


def parse_tips(text: str, *, context: PromptContext, llm_model: str, prompt_version: str) -> ParsedTips:
    """Parse and validate an answer; bad tips are dropped and counted, duplicates merged.

    Raises OutputError when the answer is not usable at all (no JSON, wrong shape, or every tip bad),
    so the caller can ask again quoting the message.
    """
    items = _tip_items(extract_json(text, prefer_key="tips"))
    allowed = context.task_ids
    dropped: Counter[str] = Counter()
    notes: list[str] = []
    by_key: dict[Any, TipCandidate] = {}
    for item in items:
        try:
            fields = _check_tip(item, allowed)
        except _Dropped as exc:
            dropped[exc.reason] += 1
            notes.append(exc.note)
            continue
        candidate = TipCandidate(
            source=TipSource.LLM.value,
            llm_model=llm_model,
            prompt_version=prompt_version,
            features=_features(fields["task_ids"], context),
            **fields,
        )
        by_key.setdefault(candidate.key, candidate)  # first one wins: models list their best tip first
    if items and not by_key:
        raise OutputError(f"none of the {len(items)} tips was valid: " + "; ".join(list(dict.fromkeys(notes))[:5]))
    kept = len(items) - sum(dropped.values())
    return ParsedTips(candidates=list(by_key.values()), dropped=dropped, merged=kept - len(by_key))


def _features(task_ids: tuple[str, ...], context: PromptContext) -> dict[str, Any]:
    # What a policy may condition on; due_age_days is re-derivable from the tasks at serve time.
    return {
        "task_count": len(task_ids),
        "due_age_days": max((context.overdue_days(task_id) for task_id in task_ids), default=0),
        "max_priority": max((context.priority(task_id) for task_id in task_ids), default=0),
    }
