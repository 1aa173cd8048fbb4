"""A task lost with its worker (SIGKILL mid-task) is delivered again and finishes within the visibility timeout."""

import time

from celery import Celery
from django.conf import settings

from testsupport.faults import wait_until

VISIBILITY_TIMEOUT_S = 4  # production: CELERY_VISIBILITY_TIMEOUT_S (900 s) against a 300 s time limit


def test_settings_keep_the_visibility_timeout_above_the_longest_task():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < options["visibility_timeout"]
    assert options["visibility_timeout"] <= 900  # a lost task comes back within minutes, not the default hour


def test_a_task_killed_with_its_worker_is_redelivered_and_finishes(private_redis, celery_workers, tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "tipengine.settings",
        "DEBUG": "1",
        "REDIS_URL": private_redis.url(),
        "TASKS_MODE": "celery",
        "CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        "CELERY_TASK_TIME_LIMIT_S": "3",
        "CELERY_TASK_SOFT_TIME_LIMIT_S": "2",
    }
    include = "tipengine.tests.worker_tasks"
    first = celery_workers(env=env, include=include)
    producer = Celery(broker=private_redis.url())
    producer.send_task("tipengine.tests.work_then_mark", args=[str(tmp_path), 1.5], queue="celery")
    wait_until(lambda: list(tmp_path.glob("started-*")), timeout_s=30, what="the task to start")

    first.kill()
    killed_at = time.monotonic()
    assert not (tmp_path / "done").exists()
    celery_workers(env=env, include=include)
    wait_until(lambda: (tmp_path / "done").exists(), timeout_s=60, what="the redelivered task to finish")
    finished_after_s = time.monotonic() - killed_at

    starts = sorted(p.name for p in tmp_path.glob("started-*"))
    assert len(starts) == 2  # it ran again, on the second worker
    assert f"started-{(tmp_path / 'done').read_text()}" in starts
    print(f"task finished {finished_after_s:.1f} s after its worker was killed")
