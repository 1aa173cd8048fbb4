"""The directory through which a server's processes share their metrics; set before prometheus_client loads."""

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """Give this server's processes one empty directory to share counters through; return it.

    Called once by the parent (gunicorn's arbiter, Celery's main process) before it forks and before
    prometheus_client is imported: an explicit PROMETHEUS_MULTIPROC_DIR is emptied (a previous run's files would
    add to the totals); otherwise a fresh temporary one is made.
    """
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        path = Path(existing)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="tipengine-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir() -> None:
    """Remove the directory when its server stops (its totals die with the server, as a restart resets them)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        shutil.rmtree(path, ignore_errors=True)
