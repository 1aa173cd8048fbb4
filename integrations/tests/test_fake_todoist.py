"""The fake Todoist itself answers like the real API where other apps' tests rely on it (raw HTTP)."""

from __future__ import annotations

import httpx
from django.test import SimpleTestCase

from testsupport.todoist.fake_todoist import FakeTodoist


class FakeTodoistTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.fake = FakeTodoist().start()
        cls.addClassCleanup(cls.fake.stop)
        cls.fake.add_account("fake-tests-token", user_id="42")

    def get(self, path: str, token: str | None = "fake-tests-token", **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.fake.url + path, params=params, headers=headers, timeout=2)

    def test_it_answers_401_with_todoists_error_body_for_a_missing_or_unknown_token(self):
        for token in (None, "unknown"):
            with self.subTest(token=token):
                response = self.get("/api/v1/tasks", token=token)
                self.assertEqual(response.status_code, 401)
                self.assertEqual(response.json()["error_tag"], "UNAUTHORIZED")

    def test_it_validates_limit_cursor_and_the_completed_window(self):
        self.assertEqual(self.get("/api/v1/tasks", limit=201).status_code, 400)
        self.assertEqual(self.get("/api/v1/tasks", limit=0).status_code, 400)
        self.assertEqual(self.get("/api/v1/tasks", cursor="%%%").status_code, 400)
        completed = "/api/v1/tasks/completed/by_completion_date"
        self.assertEqual(self.get(completed).status_code, 400)  # since/until are required
        wide = self.get(completed, since="2026-01-01T00:00:00Z", until="2026-06-01T00:00:00Z")
        self.assertEqual(wide.status_code, 400)
        ok = self.get(completed, since="2026-01-01T00:00:00Z", until="2026-02-01T00:00:00Z")
        self.assertEqual(ok.json(), {"items": [], "next_cursor": None})

    def test_it_answers_410_for_removed_apis_and_404_for_unknown_paths(self):
        self.assertEqual(self.get("/rest/v2/tasks").status_code, 410)
        self.assertEqual(self.get("/sync/v9/sync").status_code, 410)
        self.assertEqual(self.get("/api/v1/nothing-here").status_code, 404)

    def test_it_puts_retry_after_in_the_header_and_the_error_body_of_a_scripted_429(self):
        self.fake.script("/api/v1/user", status=429, headers={"Retry-After": "7"})
        response = self.get("/api/v1/user")
        self.assertEqual((response.status_code, response.headers["Retry-After"]), (429, "7"))
        self.assertEqual(response.json()["error_extra"], {"retry_after": 7})
        self.assertEqual(self.get("/api/v1/user").json()["id"], "42")  # the script was for one call

    def test_it_filters_tasks_like_the_api(self):
        token = "fake-filter-token"
        self.fake.add_account(token)
        a = self.fake.add_task(token, content="a", labels=["home"], project_id="p1")
        b = self.fake.add_task(token, content="b", project_id="p2")

        def ids(**params: object) -> list[str]:
            return [t["id"] for t in self.get("/api/v1/tasks", token=token, **params).json()["results"]]

        self.assertEqual(ids(label="home"), [a["id"]])
        self.assertEqual(ids(project_id="p2"), [b["id"]])
        self.assertEqual(ids(ids=f"{b['id']},nope"), [b["id"]])
