"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")

app = Celery("tipengine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def warm_the_gateway(**_: Any) -> None:
    """A prefork child (or the solo pool) imports litellm as it starts, not inside its first refresh's budget.

    In the background, so the worker takes tasks at once; a task that needs the gateway meanwhile waits on
    the same import.
    """
    from generation.gateway import warm_up_in_background

    warm_up_in_background()


@worker_ready.connect
def warm_the_gateway_in_a_thread_pool(sender: Any = None, **_: Any) -> None:
    """The threads pool runs tasks in this process and sends no worker_process_init."""
    if type(getattr(sender, "pool", None)).__module__ == "celery.concurrency.thread":
        warm_the_gateway()
