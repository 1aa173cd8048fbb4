"""The OpenAPI schema documents the one error shape and the error answers each operation really gives."""

import pytest

from integrations.services.tokens import integration_connect_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def operations(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_it_has_one_error_component_in_the_shape_every_error_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]


def test_every_operation_documents_a_503_with_retry_after_in_the_error_shape(schema):
    for path, method, op in operations(schema):
        response = op["responses"]["503"]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, path
        assert "Retry-After" in response["headers"], (method, path)


def test_authenticated_operations_document_401_and_throttled_ones_429(schema):
    tips = schema["paths"]["/api/v1/tips/"]["get"]["responses"]
    assert {"401", "429", "400"} <= set(tips)
    feedback = schema["paths"]["/api/v1/tips/{tip_id}/feedback/"]["post"]["responses"]
    assert {"401", "404", "413", "429"} <= set(feedback)
    assert "429" not in schema["paths"]["/api/v1/integrations/"]["get"]["responses"]


def test_history_documents_the_page_size_bounds_it_enforces(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/tips/history/"]["get"]["parameters"]}
    assert parameters["page_size"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"]["maximum"] == 100


def test_it_documents_what_the_endpoints_really_answer(schema, api, alice):
    todoist = schema["paths"]["/api/v1/integrations/todoist/"]
    assert {"200", "404"} <= set(todoist["delete"]["responses"]) and "204" not in todoist["delete"]["responses"]
    assert api(alice).delete("/api/v1/integrations/todoist/").status_code == 404  # never connected
    integration_connect_sample(user=alice)
    assert api(alice).delete("/api/v1/integrations/todoist/").status_code == 200

    limit = {p["name"]: p for p in schema["paths"]["/api/v1/tips/"]["get"]["parameters"]}["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 10)
    callback = schema["paths"]["/api/v1/integrations/todoist/callback/"]["get"]["parameters"]
    assert {p["name"]: p.get("required", False) for p in callback} == {"code": False, "state": True, "error": False}


@pytest.mark.parametrize("query", ["limit=", "limit=0", "limit=11", "limit=two"])
def test_it_answers_400_for_a_limit_the_schema_does_not_allow(api, alice, query):
    response = api(alice).get(f"/api/v1/tips/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
