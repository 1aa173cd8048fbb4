"""PostgreSQL stopped: a fast 503 in the error shape with Retry-After, never a 500 or a long hang; then recovery."""

import httpx
import pytest

from testsupport.faults import WebServer, migrated_with_users, wait_until

# A request that waited for the old 10 s pool timeout fails here instead of passing late.
CLIENT_TIMEOUT_S = 6


@pytest.fixture
def server_on_private_postgres(private_postgres):
    private_postgres.create_database("tipengine")
    env = {"DEBUG": "1", "DATABASE_URL": private_postgres.url("tipengine"), "REDIS_URL": "", "TASKS_MODE": "inline"}
    tokens = migrated_with_users(env, ["alice"])
    server = WebServer(env=env).start()
    yield server, tokens["alice"]
    server.stop()


def test_it_answers_503_with_retry_after_while_postgresql_is_stopped_and_recovers(
    server_on_private_postgres, private_postgres
):
    server, token = server_on_private_postgres
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=CLIENT_TIMEOUT_S)
    assert client.get("/api/v1/tips/").status_code == 200

    private_postgres.stop()
    for path in ("/api/v1/tips/", "/api/v1/tips/history/", "/readyz"):
        response = client.get(path)
        assert response.status_code == 503, (path, response.text)
        error = response.json()["error"]
        if path == "/readyz":
            assert error["message"] == "Not ready: database failed."
        else:
            assert error["code"] == "database_unavailable"
            assert int(response.headers["Retry-After"]) > 0
            assert error["details"]["retry_after_s"] == int(response.headers["Retry-After"])

    private_postgres.start()
    wait_until(lambda: client.get("/api/v1/tips/").status_code == 200, timeout_s=30, what="serving to recover")
