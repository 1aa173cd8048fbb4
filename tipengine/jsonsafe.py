"""Make JSON data storable in PostgreSQL: no NUL characters and no lone UTF-16 surrogates in any string."""

import re
from typing import Any

# NUL (jsonb refuses \u0000) and any surrogate code point (no UTF-8 encoding exists for one on its own).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def json_storable(value: Any) -> Any:
    """Return `value` with every unstorable character in its strings (keys too) replaced by U+FFFD.

    Lossy on purpose, for JSON columns only: whoever needs the exact input keeps the raw bytes beside it.
    """
    if isinstance(value, str):
        return UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {json_storable(k): json_storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_storable(v) for v in value]
    return value
