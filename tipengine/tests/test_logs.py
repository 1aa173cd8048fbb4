"""Logs: one JSON object a line, each with the request id, carried from a request into the tasks it queues."""

import json
import logging
import threading
import uuid

import pytest
from celery import shared_task
from celery.contrib.testing.worker import start_worker
from django.test import override_settings
from django_guid import get_guid, set_guid

from testsupport.cases import captured_logs, require_service
from tipengine.background import enqueue
from tipengine.celery import app
from tipengine.tests.test_settings import PRODUCTION, run_python

said: list[str] = []
task_done = threading.Event()


@shared_task(name="tipengine.tests.say")
def say(word: str) -> None:
    logging.getLogger("tipengine.tests").warning("task says %s", word)
    task_done.set()


def said_by_the_task(records: list[logging.LogRecord]) -> logging.LogRecord:
    return next(r for r in records if r.getMessage().startswith("task says"))


REQUESTS = """import django, json, sys; django.setup()
from django.test import Client
client = Client(HTTP_HOST="tips.example.org")
for sent in sys.argv[1:]:
    headers = {"HTTP_X_REQUEST_ID": sent} if sent != "-" else {}
    answer = client.get("/api/v1/tips/", secure=True, **headers)
    print(json.dumps({"sent": sent, "returned": answer["X-Request-ID"], "status": answer.status_code}))
"""


def test_every_line_of_a_request_is_json_with_the_id_it_returned(tmp_path):
    given = str(uuid.uuid4())
    code = REQUESTS.replace("sys.argv[1:]", repr([given, "-", "x\\n{forged}"]))
    # A built STATIC_ROOT, as in the image: without one WhiteNoise warns (a plain-text line) at start-up.
    result = run_python(code, **PRODUCTION, STATIC_ROOT=str(tmp_path))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # fails on any line that is not JSON
    access = [line for line in lines if line["logger"] == "tipengine.access"]
    assert [a["request_id"] for a in access] == [a["returned"] for a in answers]
    assert answers[0]["returned"] == given  # a caller's UUID is kept
    assert len({a["returned"] for a in answers}) == 3  # the others get fresh ones
    assert "forged" not in result.stderr  # not a UUID: replaced, never written
    assert access[0] | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "tipengine.access",
        "message": "GET /api/v1/tips/ 401",
        "request_id": given,
        "method": "GET",
        "path": "/api/v1/tips/",
        "status": 401,
        "ms": access[0]["ms"],
    }


def test_a_task_run_in_process_logs_under_the_callers_id_and_leaves_it_in_place():
    set_guid("a" * 32)
    with captured_logs(logging.INFO) as records:
        enqueue(say, "inline")
    assert said_by_the_task(records).request_id == "a" * 32
    assert get_guid() == "a" * 32


@override_settings(TASKS_MODE="thread")
def test_a_task_on_a_thread_logs_under_the_id_of_the_request_that_queued_it():
    set_guid("b" * 32)
    task_done.clear()
    with captured_logs(logging.INFO) as records:
        enqueue(say, "thread")
        assert task_done.wait(30)
    assert said_by_the_task(records).request_id == "b" * 32


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_through_the_broker_logs_under_the_id_of_the_request_that_queued_it(settings):
    require_service("Redis", bool(settings.REDIS_URL), "the broker")
    app.conf.task_always_eager = False
    task_done.clear()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False), captured_logs(logging.INFO) as records:
            set_guid("c" * 32)
            say.delay("broker")
            set_guid("d" * 32)  # the request has moved on; the task keeps the id it was sent with
            assert task_done.wait(30)
    finally:
        app.conf.task_always_eager = True
    assert said_by_the_task(records).request_id == "c" * 32


@pytest.mark.django_db
def test_a_bad_host_header_logs_one_warning_without_a_traceback(client):
    with captured_logs(logging.INFO) as records:
        response = client.get("/api/v1/tips/", HTTP_HOST="attacker.example.org")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert [(r.name, r.levelname, r.exc_info) for r in records if r.levelno >= logging.WARNING] == [
        ("django.security.DisallowedHost", "WARNING", None)
    ]


@pytest.mark.django_db
def test_readyz_logs_a_redis_outage_once_when_it_starts_and_once_when_it_ends(client, private_redis):
    redis_cache = {
        "BACKEND": "tipengine.redis_cache.ReusingRedisCache",
        "LOCATION": private_redis.url(),
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    with override_settings(CACHES={"default": redis_cache}):
        assert client.get("/readyz").status_code == 200
        private_redis.kill()
        with captured_logs(logging.INFO) as records:
            assert [client.get("/readyz").status_code for _ in range(5)] == [503] * 5
        problems = [(r.name, r.levelname, r.getMessage()) for r in records if r.levelno >= logging.WARNING]
        assert [problem[:2] for problem in problems] == [("tipengine.unavailable", "WARNING")], problems
        assert problems[0][2].startswith("readiness check cache unavailable: ConnectionError")

        private_redis.start()
        with captured_logs(logging.INFO) as records:
            assert client.get("/readyz").status_code == 200
        assert [r.getMessage()[:41] for r in records if r.name == "tipengine.unavailable"] == [
            "readiness check cache available again aft"
        ]
