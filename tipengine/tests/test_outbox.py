"""Background work the broker cannot take waits in PostgreSQL and is sent once the broker is back."""

import base64
import json

import pytest
import redis
from django.test import override_settings

from tipengine import background
from tipengine.background import enqueue, outbox_flush
from tipengine.celery import app
from tipengine.models import PendingTask
from tipengine.tests.test_background import record_run

pytestmark = pytest.mark.django_db


def forget_connections() -> None:
    """Make the app's producers connect anew, to the broker configured now."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker(private_redis):
    """The Celery app publishing to the private Redis, for real (not eagerly), as in production."""
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = private_redis.url(), False
    forget_connections()
    background._broker_down_until = 0.0
    try:
        with override_settings(TASKS_MODE="celery", OUTBOX_BROKER_RETRY_S=60):
            yield private_redis
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        forget_connections()
        background._broker_down_until = 0.0


def queued_tasks(server) -> list[tuple[str, list]]:
    """(task name, args) of the messages waiting in the default queue, oldest first."""
    messages = redis.Redis.from_url(server.url()).lrange("celery", 0, -1)
    out = []
    for raw in reversed(messages):  # kombu pushes on the left
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args))
    return out


def test_it_publishes_straight_to_a_live_broker(broker):
    enqueue(record_run, "live")
    assert queued_tasks(broker) == [("tipengine.tests.record_run", ["live"])]
    assert not PendingTask.objects.exists()


def test_it_keeps_work_the_dead_broker_refused_and_sends_it_when_the_broker_is_back(broker):
    broker.kill()
    enqueue(record_run, "while-down")
    enqueue(record_run, "also-while-down")  # no second wait on the dead broker: straight to the outbox
    assert list(PendingTask.objects.values_list("task", "args")) == [
        ("tipengine.tests.record_run", ["while-down"]),
        ("tipengine.tests.record_run", ["also-while-down"]),
    ]
    assert outbox_flush() == 0  # still down: nothing sent, nothing lost
    assert PendingTask.objects.count() == 2

    broker.start()
    assert outbox_flush() == 2
    assert queued_tasks(broker) == [
        ("tipengine.tests.record_run", ["while-down"]),
        ("tipengine.tests.record_run", ["also-while-down"]),
    ]
    assert not PendingTask.objects.exists()


def test_beat_flushes_the_outbox_well_within_a_minute():
    entry = app.conf.beat_schedule["tipengine.flush_outbox"]
    assert entry["task"] == "tipengine.flush_outbox"
    assert entry["schedule"] <= 30
