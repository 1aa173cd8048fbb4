"""The embedded run's beat: Celery beat's schedule run on one daemon thread of the serving process.

Without a broker (TASKS_MODE thread or inline) nothing runs CELERY_BEAT_SCHEDULE, so reward windows never
closed and pools were never refreshed ahead under `make run`. When PERIODIC_IN_PROCESS is on (the default
unless TASKS_MODE is celery), the first request a process serves starts this thread: every entry runs at
once, then every `schedule` seconds, through the same Celery task as beat would queue (`task.apply`, in
this thread). The jobs are idempotent and safe to overlap (SKIP LOCKED, upserts), so several processes
each running the schedule only repeat work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from tipengine.celery import app

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One schedule entry: the Celery task's name, its period and when it is next due (clock seconds)."""

    name: str
    task: str
    every_s: float
    due_at: float = 0.0


class InProcessBeat:
    """Runs the due jobs of a beat schedule, in a loop on a daemon thread (`start`) or one pass at a time."""

    def __init__(self, schedule: Mapping[str, Mapping[str, Any]], *, clock: Callable[[], float] = time.monotonic):
        self.jobs = [Job(name, entry["task"], float(entry["schedule"])) for name, entry in sorted(schedule.items())]
        self.clock = clock
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def run_due(self) -> list[str]:
        """Run every job that is due now, each at most once; return their names."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            if job.due_at > now:
                continue
            job.due_at = now + job.every_s
            try:
                app.loader.import_default_modules()  # the tasks register on import (cheap after the first time)
                app.tasks[job.task].apply(throw=True)
            except Exception:
                logger.exception("Periodic job %s (%s) failed; next run in %.0f s", job.name, job.task, job.every_s)
            ran.append(job.name)
        return ran

    def seconds_to_next(self) -> float:
        return max(0.0, min((job.due_at for job in self.jobs), default=60.0) - self.clock())

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_due()
            finally:
                close_old_connections()  # this thread's connection, as after a request
            self.stopped.wait(self.seconds_to_next())
        connections.close_all()  # this thread's connections

    def start(self) -> InProcessBeat:
        self.thread = threading.Thread(target=self._loop, name="tipengine-periodic", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


_beat: InProcessBeat | None = None
_lock = threading.Lock()


def periodic_start(**_: Any) -> InProcessBeat | None:
    """`request_started` receiver: start the in-process beat once per process when PERIODIC_IN_PROCESS is on."""
    global _beat
    if _beat is not None or not settings.PERIODIC_IN_PROCESS:
        return _beat
    with _lock:
        if _beat is None:
            _beat = InProcessBeat(settings.CELERY_BEAT_SCHEDULE).start()
            logger.info("Running %d periodic jobs in process (no Celery beat)", len(_beat.jobs))
    return _beat
