"""/metrics: who may read it, what moves when requests and tasks run, and totals across gunicorn workers."""

import os
import subprocess
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.test import override_settings

from recommender.tasks import finalize_rewards
from testsupport.cases import BaseTestCase, metric_value, require_service
from tipengine.background import enqueue
from tipengine.tests.test_settings import PRODUCTION, ROOT

TOKEN = "scrape-" + "s" * 30


@override_settings(METRICS_TOKEN=TOKEN)
class MetricsEndpointTestCase(BaseTestCase):
    def scrape(self) -> str:
        response = self.client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/plain; version=0.0.4"))
        return response.content.decode()

    def test_it_serves_nothing_when_no_token_is_set(self):
        with override_settings(METRICS_TOKEN=""):
            response = self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["error"]["code"], "not_found")

    def test_it_refuses_a_scraper_without_the_token(self):
        for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Token {TOKEN}"}):
            response = self.client.get("/metrics", **header)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(response["WWW-Authenticate"], "Bearer")
            self.assertEqual(response.json()["error"]["code"], "not_authenticated")

    def test_it_counts_requests_by_route_and_their_database_statements(self):
        labels = {"method": "GET", "route": "api/v1/tips/history/", "status": "200"}
        before = self.scrape()
        for _ in range(2):
            self.assertEqual(self.api(self.alice).get("/api/v1/tips/history/").status_code, 200)
        self.assertEqual(self.api(self.alice).get("/api/v1/tips/999999/feedback/").status_code, 405)
        after = self.scrape()
        self.assertEqual(
            metric_value("tipengine_http_requests_total", after, **labels)
            - metric_value("tipengine_http_requests_total", before, **labels),
            2,
        )
        route = "api/v1/tips/<int:tip_id>/feedback/"  # the pattern, not the id: one series per route
        self.assertEqual(
            metric_value("tipengine_http_requests_total", after, method="GET", route=route, status="405")
            - metric_value("tipengine_http_requests_total", before, method="GET", route=route, status="405"),
            1,
        )
        moved = metric_value("tipengine_db_queries_total", after, outcome="ok") - metric_value(
            "tipengine_db_queries_total", before, outcome="ok"
        )
        self.assertGreaterEqual(moved, 2)

    def test_it_still_answers_when_the_cache_behind_a_scrape_time_figure_is_down(self):
        with socket_port() as port:
            down = {
                "default": {
                    "BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": f"redis://127.0.0.1:{port}/0",
                }
            }
            with override_settings(CACHES=down):
                text = self.scrape()
        self.assertNotIn("tipengine_llm_breaker_state", text)  # left out, not guessed
        self.assertIn("tipengine_http_requests_total", text)

    def test_it_counts_task_outcomes(self):
        labels = {"task": "recommender.finalize_rewards", "outcome": "success"}
        before = metric_value("tipengine_celery_tasks_total", self.scrape(), **labels)
        enqueue(finalize_rewards)
        self.assertEqual(metric_value("tipengine_celery_tasks_total", self.scrape(), **labels), before + 1)


def test_gunicorn_workers_report_one_total_across_processes():
    """Two workers, each replaced after 10 requests: the scrape, answered by whichever process, counts every
    request answered by any of them, the replaced ones included (without it: at most 10)."""
    with socket_port() as port:
        # No PROMETHEUS_MULTIPROC_DIR: gunicorn.conf.py makes the directory its workers share.
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | PRODUCTION
        env.update(METRICS_TOKEN=TOKEN, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
        with running(["gunicorn", "tipengine.wsgi", "--max-requests", "10"], env):
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: status(f"{base}/healthz") == 200, seconds=180)
            site = {"Host": "tips.example.org", "X-Forwarded-Proto": "https"}
            sent = 35
            answered = sum(status(f"{base}/api/v1/tips/", site) == 401 for _ in range(sent))
            text = fetch(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"})
            labels = {"method": "GET", "route": "api/v1/tips/", "status": "401"}
            assert answered > 20
            # A client may miss an answer the server sent as its worker is replaced: counted, not received.
            assert answered <= metric_value("tipengine_http_requests_total", text, **labels) <= sent


@contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A server from the virtualenv's bin, in its own process group, stopped (SIGTERM) after the block."""
    process = subprocess.Popen(
        [str(Path(os.sys.executable).parent / command[0]), *command[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


class socket_port:
    """A free loopback port, for the lifetime of the block."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        return None


def status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def fetch(url: str, headers: dict[str, str]) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        return response.read().decode()


def wait_until(condition, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


WORKER_OPTIONS = ["--concurrency", "2", "--max-tasks-per-child", "3", "--without-mingle", "--without-gossip"]


def test_a_celery_worker_reports_one_total_across_its_pool_processes(settings):
    """Two pool processes, each replaced after 3 tasks: the worker's exporter counts every task any of them ran."""
    from tipengine.celery import app

    require_service("Redis", bool(settings.REDIS_URL), "the broker")
    with socket_port() as port:
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(DEBUG="1", TASKS_MODE="celery", METRICS_TOKEN=TOKEN, CELERY_METRICS_BIND=f"127.0.0.1:{port}")
        with running(["celery", "-A", "tipengine", "worker", *WORKER_OPTIONS], env):
            exporter = f"http://127.0.0.1:{port}/"
            wait_until(lambda: status(exporter, {"Authorization": f"Bearer {TOKEN}"}) == 200, seconds=120)
            assert status(exporter) == 401
            sent = 10
            with warnings.catch_warnings():  # tests run tasks eagerly; send_task goes to the broker all the same
                warnings.simplefilter("ignore", AlwaysEagerIgnored)
                for _ in range(sent):
                    app.send_task("celery.accumulate", args=[1])  # a built-in task: nothing of ours to register

            def ran() -> float:
                text = fetch(exporter, {"Authorization": f"Bearer {TOKEN}"})
                return metric_value("tipengine_celery_tasks_total", text, task="celery.accumulate", outcome="success")

            wait_until(lambda: ran() == sent, seconds=60)


def test_a_workers_exporter_address_follows_its_queues():
    from tipengine.metrics import worker_metrics_bind

    per_queue = "celery=127.0.0.1:9808, llm=127.0.0.1:9809"
    assert worker_metrics_bind(per_queue, ["llm"]) == "127.0.0.1:9809"
    assert worker_metrics_bind(per_queue, ["celery", "llm"]) == "127.0.0.1:9808"
    assert worker_metrics_bind(per_queue, ["other"]) is None
    assert worker_metrics_bind("0.0.0.0:9808", ["llm"]) == "0.0.0.0:9808"  # compose: a container per worker
    assert worker_metrics_bind("", ["celery"]) is None
    with pytest.raises(ValueError, match="'llm' is not queue=host:port"):
        worker_metrics_bind("celery=127.0.0.1:9808,llm", ["celery"])


def test_two_workers_on_one_machine_each_serve_their_metrics_with_one_setting(settings):
    """The README's two workers (-Q celery, -Q llm) beside each other, one .env: both exporters answer."""
    require_service("Redis", bool(settings.REDIS_URL), "the broker")
    with socket_port() as default_port, socket_port() as llm_port:
        assert default_port != llm_port
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        bind = f"celery=127.0.0.1:{default_port},llm=127.0.0.1:{llm_port}"
        env.update(DEBUG="1", TASKS_MODE="celery", METRICS_TOKEN=TOKEN, CELERY_METRICS_BIND=bind)
        options = ["--concurrency", "1", "--without-mingle", "--without-gossip"]
        worker = ["celery", "-A", "tipengine", "worker", *options]
        with (
            running([*worker, "-Q", "celery", "-n", "default@%h"], env),
            running([*worker, "-Q", "llm", "-n", "llm@%h"], env),
        ):
            for port in (default_port, llm_port):
                url = f"http://127.0.0.1:{port}/"
                wait_until(lambda url=url: status(url, {"Authorization": f"Bearer {TOKEN}"}) == 200, seconds=120)
