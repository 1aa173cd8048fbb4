"""The OpenAPI schema declares the headers the API really uses: X-Request-ID on answers, the webhook's own."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_every_answer_the_app_gives_declares_its_x_request_id(schema, api, alice):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code != "414":  # gunicorn's, before the app
                    assert "X-Request-ID" in response["headers"], (method, path, code)
    answer = api(alice).get("/api/v1/tips/history/")
    assert answer.status_code == 200
    assert answer["X-Request-ID"]


def test_the_webhook_declares_the_signature_and_delivery_headers_it_reads(schema):
    parameters = schema["paths"]["/api/v1/integrations/todoist/webhook/"]["post"]["parameters"]
    headers = {p["name"]: p for p in parameters if p["in"] == "header"}
    assert headers["X-Todoist-Hmac-SHA256"]["required"] is True
    assert headers["X-Todoist-Delivery-ID"]["required"] is True
