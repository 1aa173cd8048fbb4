"""Run a Celery task in the background, whatever TASKS_MODE this process runs in; never lose it to the broker."""

import contextvars
import logging
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import Retry
from django.conf import settings
from django.db import close_old_connections, transaction
from kombu.exceptions import OperationalError as BrokerError

from tipengine.celery import app
from tipengine.models import PendingTask

logger = logging.getLogger(__name__)

# Per process: until when publishing is not even tried (the broker failed a moment ago), so a dead or frozen
# broker costs one request one connect timeout per OUTBOX_BROKER_RETRY_S, not every request.
_broker_down_until = 0.0


def _apply(task: Task, args: tuple[Any, ...]) -> None:
    """Run `task` here; a retry it asks for (autoretry_for) runs here too, at once, up to its max_retries.

    Celery's own eager run raises the Retry instead when it propagates errors.
    """
    retries = 0
    while True:
        try:
            task.apply(args=args, retries=retries, throw=True)
            return
        except Retry:
            retries += 1


def _run_in_thread(task: Task, args: tuple[Any, ...]) -> None:
    try:
        _apply(task, args)
    except Exception:
        logger.exception("Background task %s failed", task.name)
    finally:
        close_old_connections()


def _keep(task_name: str, args: tuple[Any, ...], error: str) -> None:
    PendingTask.objects.create(task=task_name, args=list(args), error=error[:300])


def _publish_or_keep(task: Task, args: tuple[Any, ...]) -> None:
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        _keep(task.name, args, "broker skipped after a recent failure")
        return
    try:
        task.apply_async(args=args)
    except (BrokerError, OSError) as exc:  # kombu wraps redis' connection errors; a timeout is an OSError
        _broker_down_until = time.monotonic() + settings.OUTBOX_BROKER_RETRY_S
        logger.warning("broker unavailable, %s kept in the outbox: %s: %s", task.name, type(exc).__name__, exc)
        _keep(task.name, args, f"{type(exc).__name__}: {exc}")


def enqueue(task: Task, *args: Any) -> None:
    """Queue `task(*args)`: on the broker, on a daemon thread (embedded run) or inline (tests).

    On the broker, a task it refuses is kept in the outbox (PostgreSQL) and sent by `flush_outbox`.
    """
    mode = settings.TASKS_MODE
    if mode == "celery":
        _publish_or_keep(task, args)
    elif mode == "thread":
        # The caller's context goes along: the task logs under the request's id.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(_run_in_thread, task, args), daemon=True, name=task.name).start()
    else:
        _apply(task, args)


def outbox_flush(*, batch_size: int = 500) -> int:
    """Publish up to `batch_size` kept tasks, oldest first; return how many were sent.

    A row is deleted in the transaction that locked it, after its publish succeeded: a crash in between sends
    it twice, never zero times (every task is idempotent, ADR 0001). Stops at the first publish that fails.
    """
    sent: list[int] = []
    with transaction.atomic():
        rows = list(PendingTask.objects.select_for_update(skip_locked=True).order_by("id")[:batch_size])
        try:
            for row in rows:
                app.send_task(row.task, args=row.args)
                sent.append(row.pk)
        except (BrokerError, OSError) as exc:
            logger.warning("outbox flush stopped after %d of %d: %s", len(sent), len(rows), exc)
        PendingTask.objects.filter(pk__in=sent).delete()
    return len(sent)
