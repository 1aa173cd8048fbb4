"""Every error, from DRF or from Django itself, answers in the one error shape."""

from django.test import override_settings

from testsupport.cases import BaseTestCase
from tipengine.domain_errors import DomainError, InvalidInput
from tipengine.errors import STATUS_BY_ERROR, api_error, coded_errors


@override_settings(ROOT_URLCONF="tipengine.tests.urls_errors")
class ErrorShapeTestCase(BaseTestCase):
    def assertErrorShape(self, response, status: int, code: str) -> dict:
        self.assertEqual(response.status_code, status)
        self.assertEqual(response["Content-Type"], "application/json")
        body = response.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(body["error"]["code"], code)
        self.assertTrue(body["error"]["message"])
        self.assertIsInstance(body["error"]["details"], dict)
        return body["error"]

    def test_it_answers_unknown_routes_with_a_json_404(self):
        error = self.assertErrorShape(self.api(self.alice).get("/api/v1/nope/"), 404, "not_found")
        self.assertIn("/api/v1/nope/", error["message"])

    def test_it_answers_a_wrong_method_with_a_json_405(self):
        self.assertErrorShape(self.api(self.alice).delete("/api/echo/"), 405, "method_not_allowed")
        self.assertErrorShape(self.api(self.alice).post("/healthz"), 405, "method_not_allowed")

    def test_it_rejects_a_non_json_body_with_a_400(self):
        response = self.api(self.alice).post("/api/echo/", data="limit=3{", content_type="application/json")
        self.assertErrorShape(response, 400, "parse_error")

    def test_it_rejects_a_form_body_with_a_415(self):
        response = self.api(self.alice).post("/api/echo/", data="limit=3", content_type="text/plain")
        self.assertErrorShape(response, 415, "unsupported_media_type")

    def test_it_answers_an_accept_header_without_json_with_a_406(self):
        response = self.api(self.alice).post("/api/echo/", {"limit": 1}, format="json", HTTP_ACCEPT="text/html")
        self.assertErrorShape(response, 406, "not_acceptable")

    def test_it_names_the_invalid_fields(self):
        response = self.api(self.alice).post("/api/echo/", {"limit": 99}, format="json")
        error = self.assertErrorShape(response, 400, "invalid")
        self.assertIn("limit", error["message"])
        self.assertIn("limit", error["details"]["fields"])

    def test_it_asks_anonymous_callers_to_authenticate(self):
        self.assertErrorShape(self.api(None).post("/api/echo/", {"limit": 1}, format="json"), 401, "not_authenticated")

    def test_it_rejects_a_bad_token(self):
        client = self.api(None)
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        self.assertErrorShape(client.post("/api/echo/", {"limit": 1}, format="json"), 401, "authentication_failed")

    def test_it_passes_service_errors_through_with_their_code_and_details(self):
        error = self.assertErrorShape(self.api(self.alice).get("/api/conflict/"), 409, "already_final")
        self.assertEqual(error["details"], {"id": 1})

    def test_every_kind_of_domain_error_has_a_status(self):
        self.assertEqual(set(DomainError.__subclasses__()), set(STATUS_BY_ERROR))
        for error in coded_errors():
            with self.subTest(error=error.__name__):
                answer = api_error(error("m"))
                self.assertGreaterEqual(answer.status_code, 400)
                self.assertEqual(answer.code, error.code)

    def test_every_error_a_client_sees_is_a_subclass_of_one_kind_with_a_code_of_its_own(self):
        errors = coded_errors()
        self.assertEqual(len({e.code for e in errors}), len(errors), [(e.__qualname__, e.code) for e in errors])
        self.assertEqual(len({e.__name__ for e in errors}), len(errors))
        for error in errors:
            with self.subTest(error=error.__name__):
                self.assertEqual(len(set(error.__mro__) & set(STATUS_BY_ERROR)), 1)

    def test_a_kind_without_a_code_cannot_be_raised(self):
        with self.assertRaises(TypeError):
            InvalidInput("no code")

    def test_a_django_permission_denied_in_a_view_answers_permission_denied(self):
        self.assertErrorShape(self.api(self.alice).get("/api/forbidden/"), 403, "permission_denied")

    def test_it_hides_crash_details_behind_a_json_500(self):
        with self.assertLogs("tipengine.errors", level="ERROR"):
            response = self.api(self.alice).get("/api/crash/")
        error = self.assertErrorShape(response, 500, "server_error")
        self.assertNotIn("secret-token-123", response.content.decode())
        self.assertNotIn("boom", error["message"])

    def test_it_answers_django_level_crashes_with_a_json_500(self):
        client = self.api(self.alice)
        client.raise_request_exception = False
        self.assertErrorShape(client.get("/plain-crash/"), 500, "server_error")
