"""Processes that will call the gateway import litellm as they start, in the background: runserver and Celery."""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from celery.signals import worker_process_init
from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase, TestCase

from generation import gateway
from generation.apps import serves_with_runserver
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

    def test_a_celery_worker_process_builds_the_router_as_it_starts(self):
        gateway.reset_router()
        self.addCleanup(gateway.reset_router)
        worker_process_init.send(sender="celery@test")
        deadline = time.monotonic() + DEADLINE_S
        while gateway._router is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline
        self.assertIsNotNone(gateway._router, "the worker process did not warm the gateway")


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
