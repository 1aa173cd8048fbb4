"""A browser frontend on a listed origin may call the API; any other origin gets no CORS grant."""

from django.test import override_settings

from testsupport.cases import BaseTestCase

FRONTEND = "https://app.example.org"


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
class CorsTestCase(BaseTestCase):
    def preflight(self, origin: str):
        return self.client.options(
            "/api/v1/tips/",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
        )

    def test_it_lets_a_listed_frontend_send_a_token_and_an_idempotency_key(self):
        response = self.preflight(FRONTEND)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Access-Control-Allow-Origin"], FRONTEND)
        allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
        self.assertLessEqual({"authorization", "content-type", "idempotency-key"}, allowed)

    def test_it_grants_the_listed_frontend_the_answer_itself(self):
        response = self.api(self.alice).get("/api/v1/tips/history/", HTTP_ORIGIN=FRONTEND)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Access-Control-Allow-Origin"], FRONTEND)

    def test_it_grants_nothing_to_another_origin(self):
        response = self.api(self.alice).get("/api/v1/tips/history/", HTTP_ORIGIN="https://charlie.example.net")
        self.assertNotIn("Access-Control-Allow-Origin", response)
        self.assertNotIn("Access-Control-Allow-Origin", self.preflight("https://charlie.example.net"))

    def test_it_grants_nothing_outside_the_api(self):
        response = self.client.get("/admin/login/", HTTP_ORIGIN=FRONTEND)
        self.assertNotIn("Access-Control-Allow-Origin", response)

    def test_it_lets_the_listed_frontend_read_retry_after_and_the_request_id(self):
        response = self.api(self.alice).get("/api/v1/tips/history/", HTTP_ORIGIN=FRONTEND)
        self.assertIn("X-Request-ID", response)
        exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
        self.assertLessEqual({"retry-after", "x-request-id"}, exposed)
