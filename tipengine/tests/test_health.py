"""The liveness and readiness probes."""

import socket

from django.conf import settings
from django.test import override_settings

from testsupport.cases import BaseTestCase, require_service
from tipengine.celery import app


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HealthTestCase(BaseTestCase):
    def test_it_is_alive_without_touching_the_database(self):
        with self.assertNumQueries(0):
            response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"status": "ok"})

    def test_it_answers_every_other_method_405_in_the_error_shape(self):
        client = self.client_class(enforce_csrf_checks=True)  # a POST without a token: not the CSRF failure page
        for path in ("/healthz", "/readyz"):
            for method in ("post", "put", "patch", "delete", "options"):
                with self.subTest(path=path, method=method):
                    response = getattr(client, method)(path)
                    self.assertEqual(response.status_code, 405)
                    self.assertEqual(response.json()["error"]["code"], "method_not_allowed")
                    self.assertEqual(response["Allow"], "GET, HEAD")
                    self.assertEqual(response["Content-Length"], str(len(response.content)))

    def test_its_answers_carry_a_content_length_not_chunks(self):
        for path in ("/healthz", "/readyz"):
            with self.subTest(path=path):
                response = self.client.get(path)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response["Content-Length"], str(len(response.content)))
                self.assertGreater(int(self.client.head(path)["Content-Length"]), 0)  # the length GET would send

    def test_the_400_for_a_bad_host_carries_a_content_length_too(self):
        response = self.client.get("/readyz", HTTP_HOST="attacker.example.org")  # answered before CommonMiddleware
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"]["code"], "bad_request")
        self.assertEqual(response["Content-Length"], str(len(response.content)))

    def test_it_is_ready_when_database_and_cache_answer(self):
        response = self.client.get("/readyz")
        self.assertEqual(response.status_code, 200)
        checks = response.json()["checks"]
        self.assertTrue(checks["database"]["ok"])
        self.assertTrue(checks["cache"]["ok"])

    def test_it_is_not_ready_when_the_gateway_is_down(self):
        with override_settings(LITELLM_URL=f"http://127.0.0.1:{closed_port()}"):
            response = self.client.get("/readyz")
        self.assertEqual(response.status_code, 503)
        error = response.json()["error"]
        self.assertEqual(error["code"], "not_ready")
        self.assertIn("gateway", error["message"])
        self.assertEqual(error["details"]["checks"]["gateway"], {"ok": False})  # no exception text for callers
        self.assertTrue(error["details"]["checks"]["database"]["ok"])
        self.assertNotIn("Connect", response.content.decode())  # httpx's ConnectError stays in the log
        self.assertEqual(response["Content-Length"], str(len(response.content)))

    def test_it_is_not_ready_when_the_broker_is_down(self):
        original = app.conf.broker_url
        app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
        try:
            with override_settings(TASKS_MODE="celery"):
                response = self.client.get("/readyz")
        finally:
            app.conf.broker_url = original
        self.assertEqual(response.status_code, 503)
        self.assertFalse(response.json()["error"]["details"]["checks"]["broker"]["ok"])


class BrokerReadinessTestCase(BaseTestCase):
    def test_it_is_ready_with_a_live_redis_broker(self):
        require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
        original = app.conf.broker_url
        app.conf.broker_url = settings.REDIS_URL
        try:
            with override_settings(TASKS_MODE="celery"):
                response = self.client.get("/readyz")
        finally:
            app.conf.broker_url = original
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.json()["checks"]["broker"]["ok"])
