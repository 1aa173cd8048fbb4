"""A task lost with its worker (SIGKILL mid-task) is delivered again and finishes, on either broker.

Redis holds the lost task until the visibility timeout passes; RabbitMQ requeues it the moment the dead
worker's connection closes (ADR 0065, ADR 0091).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from celery import Celery
from django.conf import settings

from testsupport.cases import require_service
from testsupport.faults import PrivateRedis, wait_until
from testsupport.rabbitmq import private_queue, rabbitmq_reachable, rabbitmq_url
from tipengine.tests.test_settings import run_python

VISIBILITY_TIMEOUT_S = 4  # production: CELERY_VISIBILITY_TIMEOUT_S (900 s) against a 300 s time limit


@dataclass(frozen=True)
class Broker:
    name: str
    url: str
    queue: str
    env: dict[str, str]
    waiting: Callable[[], int]  # messages in the queue ready for a worker (not those held for a dead one)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "redis":
        server = PrivateRedis().start()
        client = redis.Redis.from_url(server.url())
        env = {"REDIS_URL": server.url(), "CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S)}
        yield Broker("redis", server.url(), "celery", env, waiting=lambda: int(client.llen("celery")))
        server.stop()
        return
    url = rabbitmq_url()
    require_service("RabbitMQ", rabbitmq_reachable(url), f"nothing answers at {url} (TIPENGINE_RABBITMQ_URL)")
    with private_queue(url) as queue:  # the shared server: a queue of this test's own
        yield Broker("rabbitmq", url, queue.name, {"CELERY_BROKER_URL": url}, waiting=queue.ready_messages)


def test_settings_keep_the_visibility_timeout_above_the_longest_task():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < options["visibility_timeout"]
    assert options["visibility_timeout"] <= 900  # a lost task comes back within minutes, not the default hour


def test_an_amqp_broker_gets_publisher_confirms_and_no_redis_options():
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.CELERY_BROKER_URL, s.TASKS_MODE, sorted(s.CELERY_BROKER_TRANSPORT_OPTIONS.items()))"
    )
    result = run_python(code, DEBUG="1", CELERY_BROKER_URL="amqp://u:p@rabbitmq:5672//")
    assert result.returncode == 0, result.stderr
    url, mode, options = result.stdout.strip().split(" ", 2)
    assert (url, mode) == ("amqp://u:p@rabbitmq:5672//", "celery")
    assert "('confirm_publish', True)" in options
    assert "visibility_timeout" not in options


def test_it_refuses_a_broker_it_does_not_support():
    result = run_python("import django; django.setup()", DEBUG="1", CELERY_BROKER_URL="sqs://queue")
    assert result.returncode != 0
    assert "CELERY_BROKER_URL" in result.stderr.strip().splitlines()[-1]


def test_a_task_killed_with_its_worker_is_redelivered_and_finishes(broker, celery_workers, tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "tipengine.settings",
        "DEBUG": "1",
        "TASKS_MODE": "celery",
        "CELERY_TASK_TIME_LIMIT_S": "3",
        "CELERY_TASK_SOFT_TIME_LIMIT_S": "2",
        **broker.env,
    }
    include = "tipengine.tests.worker_tasks"
    first = celery_workers(env=env, queues=broker.queue, include=include)
    producer = Celery(broker=broker.url)
    producer.send_task("tipengine.tests.work_then_mark", args=[str(tmp_path), 1.5], queue=broker.queue)
    wait_until(lambda: list(tmp_path.glob("started-*")), timeout_s=30, what="the task to start")

    first.kill()
    killed_at = time.monotonic()
    assert not (tmp_path / "done").exists()
    if broker.name == "rabbitmq":
        # Requeued by the broker itself, with no worker running: no visibility timeout, no restore sweep.
        wait_until(lambda: broker.waiting() == 1, timeout_s=30, what="RabbitMQ to requeue the dead worker's task")
    else:
        assert broker.waiting() == 0  # Redis keeps it aside until the visibility timeout, for a worker to restore
    requeued_after_s = time.monotonic() - killed_at
    celery_workers(env=env, queues=broker.queue, include=include)
    wait_until(lambda: (tmp_path / "done").exists(), timeout_s=60, what="the redelivered task to finish")
    finished_after_s = time.monotonic() - killed_at

    starts = sorted(p.name for p in tmp_path.glob("started-*"))
    assert len(starts) == 2  # it ran again, on the second worker
    assert f"started-{(tmp_path / 'done').read_text()}" in starts
    back = f"back in the queue {requeued_after_s:.1f} s after the kill, " if broker.name == "rabbitmq" else ""
    print(f"{broker.name}: {back}task finished {finished_after_s:.1f} s after its worker was killed")
