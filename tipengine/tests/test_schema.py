"""The OpenAPI schema and its docs page are public and describe the versioned API."""

from testsupport.cases import BaseTestCase
from tipengine.errors import error_codes


class SchemaTestCase(BaseTestCase):
    def test_it_serves_the_openapi_schema(self):
        response = self.client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        self.assertEqual(response.status_code, 200)
        schema = response.json()
        self.assertTrue(schema["openapi"].startswith("3."))
        self.assertEqual(schema["info"]["title"], "tipengine API")

    def test_it_lists_every_error_code_as_an_enum(self):
        response = self.client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        code = response.json()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        self.assertEqual(code["enum"], error_codes())
        self.assertIn("oauth_state_used", code["enum"])

    def test_it_serves_the_docs_page(self):
        response = self.client.get("/api/docs/")
        self.assertEqual(response.status_code, 200)
        self.assertIn(b"/api/schema/", response.content)
        # Swagger UI comes from our own static files, so the page works offline (no CDN).
        self.assertIn(b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", response.content)
        self.assertNotIn(b"cdn.jsdelivr.net", response.content)
