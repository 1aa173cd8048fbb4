"""The request id (django-guid's) carried from a request into the Celery tasks it queues, for every log line."""

import logging.config
from typing import Any

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django_guid import clear_guid, get_guid, set_guid
from django_guid.utils import generate_guid

HEADER = "request_id"  # a Celery message header
_outer: dict[str, str | None] = {}  # task id -> the id in force before the task ran (inline and thread runs)


@before_task_publish.connect
def _carry_into_the_task(headers: dict, **kwargs: Any) -> None:
    request_id = get_guid()
    if request_id:
        headers[HEADER] = request_id


@task_prerun.connect
def _adopt_in_the_task(task_id: str, task: Any, **kwargs: Any) -> None:
    """A queued task logs under the id of the request that queued it; one run in-process keeps the caller's; one
    sent by beat gets its own."""
    _outer[task_id] = get_guid()
    carried = task.request.get(HEADER)
    if carried:
        set_guid(carried)
    elif not (task.request.is_eager and get_guid()):
        set_guid(generate_guid())


@task_postrun.connect
def _restore_after_the_task(task_id: str, **kwargs: Any) -> None:
    outer = _outer.pop(task_id, None)
    if outer:
        set_guid(outer)
    else:
        clear_guid()


@setup_logging.connect
def _log_as_django_does(**kwargs: Any) -> None:
    """Celery workers and beat log through settings.LOGGING (JSON, with the request id), not Celery's format."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
