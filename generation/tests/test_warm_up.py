"""Processes that will call the gateway import litellm as they start, in the background: runserver and the Celery
worker of the llm queue (not the `celery` queue's, whose tasks make no LLM calls)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from celery import Celery
from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase, TestCase

from generation.apps import serves_with_runserver
from testsupport.faults import wait_until
from testsupport.llm.fake_ollama import unused_port_url

REPO = Path(settings.BASE_DIR)
DEADLINE_S = 180.0  # litellm's import takes 5 s on an idle machine and much longer on a loaded one


class WarmUpTests(SimpleTestCase):
    def test_it_warms_only_the_process_runserver_serves_from(self):
        cases = [
            (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),  # the autoreloader's child
            (["manage.py", "runserver", "--noreload", "127.0.0.1:8016"], {}, True),
            (["manage.py", "runserver"], {}, False),  # the autoreloader's parent never serves
            (["manage.py", "migrate"], {"RUN_MAIN": "true"}, False),
            (["pytest"], {}, False),
        ]
        for argv, environ, expected in cases:
            with self.subTest(argv=argv, environ=environ):
                self.assertIs(serves_with_runserver(argv, environ), expected)


def test_only_the_worker_of_the_llm_queue_imports_litellm(celery_workers, private_redis, tmp_path):
    """Real workers, prefork as compose's `worker` runs: the `celery` queue's process never imports litellm."""
    env = {"DJANGO_SETTINGS_MODULE": "tipengine.settings", "DEBUG": "1", "TASKS_MODE": "celery"}
    env |= {"REDIS_URL": private_redis.url(), "LITELLM_URL": ""}
    for queue in ("celery", "llm"):
        celery_workers(env=env, queues=queue, include="generation.tests.worker_tasks")
    producer = Celery(broker=private_redis.url())
    for queue in ("celery", "llm"):
        producer.send_task("generation.tests.report_litellm", args=[str(tmp_path / queue)], queue=queue)
    reports = {queue: tmp_path / queue for queue in ("celery", "llm")}
    wait_until(lambda: all(path.exists() for path in reports.values()), timeout_s=60, what="both workers to report")
    reported = {queue: json.loads(path.read_text()) for queue, path in reports.items()}
    assert reported["celery"] == {"imported": False, "warming": False}
    # Warm already, or warming since its start: either way before its first task.
    assert reported["llm"]["imported"] or reported["llm"]["warming"], reported["llm"]


class RunserverWarmUpTests(TestCase):
    def test_runserver_warms_the_gateway_without_a_request(self):
        port = unused_port_url().rsplit(":", 1)[1]
        connection.ensure_connection()  # the test database (embedded or not): runserver checks its migrations
        info = connection.connection.info
        host = quote(info.host, safe="")  # a socket directory is a path
        database_url = f"postgres://{info.user}@{host}:{info.port}/{info.dbname}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testsupport.settings",
            "DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
        }
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.addCleanup(server.wait, 10)
        self.addCleanup(server.kill)
        seen: list[str] = []
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and server.stdout is not None:
            line = server.stdout.readline()
            if not line:
                break  # the server exited
            seen.append(line)
            if "gateway warm: litellm ready" in line:
                return
        self.fail("runserver never warmed the gateway:\n" + "".join(seen[-30:]))
