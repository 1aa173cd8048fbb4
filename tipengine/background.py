"""Run a Celery task in the background, whatever TASKS_MODE this process runs in."""

import contextvars
import logging
import threading
from typing import Any

from celery import Task
from celery.exceptions import Retry
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


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


def enqueue(task: Task, *args: Any) -> None:
    """Queue `task(*args)`: on the broker, on a daemon thread (embedded run) or inline (tests)."""
    mode = settings.TASKS_MODE
    if mode == "celery":
        task.delay(*args)
    elif mode == "thread":
        # The caller's context goes along: the task logs under the request's id.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(_run_in_thread, task, args), daemon=True, name=task.name).start()
    else:
        _apply(task, args)
