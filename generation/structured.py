"""Structured-output forms per alias: the alias file's choice, and JSON mode when a server rejects a schema.

Two forms of `response_format` reach model servers through litellm:
- `json_schema` (OpenAI's form): Ollama turns it into a grammar (`format: {schema}`); some OpenAI-compatible
  servers (the real-model bench's, docs/benchmarks.md) answer HTTP 500 to it.
- `json_object` with the schema beside it: JSON mode everywhere; that same server also honours the schema.
Our own parsing and validation run on every answer either way, so JSON mode loses only the grammar.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from generation import gateway
from generation.errors import GenerationError

logger = logging.getLogger(__name__)

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
FORMS = (JSON_SCHEMA, JSON_OBJECT)
# The alias file's per-alias setting, under `model_info` (which litellm keeps as free-form metadata).
SETTING = "response_format"
# After a server rejected the schema form, this process uses JSON mode for the alias for this long, then
# tries the schema again (a server upgrade, or a one-off 500 that was not about the format).
DOWNGRADE_S = 3600.0

_downgraded_until: dict[str, float] = {}
_lock = threading.Lock()


def configured_form(alias: str) -> str:
    """The form the alias file asks for (`model_info.response_format`); the schema form by default."""
    form = gateway.alias_info(alias).get(SETTING, JSON_SCHEMA)
    if form not in FORMS:
        raise ValueError(f"alias {alias!r}: model_info.{SETTING} must be one of {FORMS}, not {form!r}")
    return form


def current_form(alias: str) -> str:
    """The form to send now: the configured one, unless this process saw the server reject it lately."""
    with _lock:
        until = _downgraded_until.get(alias)
    if until is not None and until > time.monotonic():
        return JSON_OBJECT
    return configured_form(alias)


def response_format(form: str, *, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` argument for `form`."""
    if form == JSON_SCHEMA:
        return {"type": JSON_SCHEMA, "json_schema": {"name": name, "schema": schema}}
    return {"type": JSON_OBJECT, "schema": schema}


def rejects_form(error: GenerationError, form: str) -> bool:
    """True when `error` may be the server refusing the schema form: a bare HTTP 500 is how the server seen
    doing it says so. A 4xx is not taken as such (a request is wrong for many reasons): for a server that
    answers 4xx to the schema form, set the alias's `response_format` in the alias file.
    """
    status = error.details.get("status")
    return form == JSON_SCHEMA and error.details.get("reason") == "server" and status == 500


def downgrade(alias: str) -> None:
    """Use JSON mode for `alias` in this process for DOWNGRADE_S."""
    with _lock:
        _downgraded_until[alias] = time.monotonic() + DOWNGRADE_S
    logger.warning("generation: alias=%s rejected the schema form; JSON mode for %.0f s", alias, DOWNGRADE_S)


def reset() -> None:
    """Forget downgrades (the alias file or the server changed; tests)."""
    with _lock:
        _downgraded_until.clear()
