"""PostgreSQL stopped: a fast 503 in the error shape with Retry-After, never a 500 or a long hang; then recovery as soon
as /readyz sees it, and the outage logged once when it starts and once when it ends."""

import json

import httpx
import pytest

from testsupport.faults import WebServer, migrated_with_users, wait_until

# A request that waited for the old 10 s pool timeout fails here instead of passing late.
CLIENT_TIMEOUT_S = 6


@pytest.fixture
def server_on_private_postgres(private_postgres, tmp_path):
    private_postgres.create_database("tipengine")
    env = {
        "DEBUG": "1",
        "DATABASE_URL": private_postgres.url("tipengine"),
        "REDIS_URL": "",
        "TASKS_MODE": "inline",
        "LITELLM_URL": "",
        "LOG_FORMAT": "json",
    }
    tokens = migrated_with_users(env, ["alice"])
    server = WebServer(env=env, log=tmp_path / "server.log").start()
    yield server, tokens["alice"]
    server.stop()


def api_client(server: WebServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=CLIENT_TIMEOUT_S)


def logged(server: WebServer) -> list[dict]:
    """The app's log lines so far (JSON; gunicorn's own plain lines left out)."""
    assert server.log is not None
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]


def test_it_answers_503_with_retry_after_while_postgresql_is_stopped_and_recovers(
    server_on_private_postgres, private_postgres
):
    server, token = server_on_private_postgres
    client = api_client(server, token)
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


def test_the_first_api_call_after_readyz_turns_200_is_served(server_on_private_postgres, private_postgres):
    server, token = server_on_private_postgres
    client = api_client(server, token)
    assert client.get("/api/v1/tips/").status_code == 200

    private_postgres.stop()
    for _ in range(3):  # long enough for the pool to be retrying its connect with a growing delay
        assert client.get("/api/v1/tips/").status_code == 503
        assert client.get("/readyz").status_code == 503
    private_postgres.start()
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout_s=30, what="/readyz to answer 200")
    response = client.get("/api/v1/tips/")
    assert response.status_code == 200, response.text


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(server_on_private_postgres, private_postgres):
    server, token = server_on_private_postgres
    client = api_client(server, token)
    assert client.get("/api/v1/tips/").status_code == 200
    before = len(logged(server))

    private_postgres.stop()
    statuses = [client.get(path).status_code for _ in range(10) for path in ("/api/v1/tips/", "/readyz")]
    assert statuses == [503] * 20
    during = logged(server)[before:]
    problems = [(line["level"], line["logger"], line["message"]) for line in during if line["level"] != "INFO"]
    assert len(problems) == 1, problems  # not one ERROR per 503
    assert problems[0][:2] == ("WARNING", "tipengine.unavailable")
    assert problems[0][2].startswith("database unavailable: OperationalError")
    assert sum(line["logger"] == "tipengine.access" for line in during) == 20  # the access log still has each

    private_postgres.start()
    wait_until(lambda: client.get("/api/v1/tips/").status_code == 200, timeout_s=30, what="serving to recover")
    recovered = [line["message"] for line in logged(server) if line["message"].startswith("database available again")]
    assert len(recovered) == 1, recovered
