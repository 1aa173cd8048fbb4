"""The Todoist client end to end over real sockets against the fake: paging, retries, budgets, auth."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta

from django.test import SimpleTestCase

from integrations.tests.support import StepClock
from integrations.todoist.client import TodoistClient, TodoistOAuth
from integrations.todoist.errors import (
    TodoistAuthError,
    TodoistProtocolError,
    TodoistRateLimited,
    TodoistRequestRejected,
    TodoistUnavailable,
)
from integrations.todoist.transport import CallPolicy, parse_retry_after
from testsupport.todoist.fake_todoist import FakeTodoist, fake_due

QUICK = CallPolicy(timeout_s=0.3, budget_s=1.0, max_retry_after_s=2.0, max_attempts=4, backoff_base_s=0.1)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


class ClientTestCase(SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.fake = FakeTodoist().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self) -> None:
        self.fake.clear_scripts()
        self.fake.reset_requests()
        # A fresh account per test (the fake lives for the whole class), shaped like a real 40-hex token.
        self.token = f"{abs(hash(self.id())):040x}"[-40:]
        self.fake.add_account(self.token, user_id="777")
        self.clock = StepClock()

    def make_client(
        self, *, policy: CallPolicy = QUICK, api_url: str | None = None, page_size: int = 2
    ) -> TodoistClient:
        client = TodoistClient(
            self.token, api_url=api_url or self.fake.api_url, policy=policy, clock=self.clock, page_size=page_size
        )
        self.addCleanup(client.close)
        return client


class PagingTests(ClientTestCase):
    def test_it_follows_next_cursor_across_pages(self):
        added = [self.fake.add_task(self.token, content=f"Task {n}") for n in range(5)]
        client = TodoistClient(self.token, api_url=self.fake.api_url, policy=QUICK, page_size=2)
        self.addCleanup(client.close)
        tasks = client.active_tasks()
        self.assertEqual([t.id for t in tasks], [t["id"] for t in added])
        pages = self.fake.requests_to("/api/v1/tasks")
        self.assertEqual(len(pages), 3)
        self.assertIsNone(pages[0].param("cursor"))
        self.assertEqual([p.param("limit") for p in pages], ["2", "2", "2"])
        self.assertTrue(all(p.param("cursor") for p in pages[1:]))
        self.assertTrue(all(p.token == self.token for p in pages))

    def test_it_reads_completed_tasks_under_the_items_key(self):
        first = self.fake.add_task(self.token, content="Done one")
        second = self.fake.add_task(self.token, content="Done two")
        self.fake.add_task(self.token, content="Still open")
        self.fake.complete_task(self.token, first["id"], completed_at="2026-03-01T10:00:00.000000Z")
        self.fake.complete_task(self.token, second["id"], completed_at="2026-03-02T11:30:00.000000Z")
        client = TodoistClient(self.token, api_url=self.fake.api_url, policy=QUICK, page_size=1)
        self.addCleanup(client.close)
        done = client.completed_since(datetime(2026, 2, 28, tzinfo=UTC), until=datetime(2026, 3, 3, tzinfo=UTC))
        self.assertEqual([(c.task_id, c.completed_at) for c in done], [
            (first["id"], datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
            (second["id"], datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
        ])  # fmt: skip
        request = self.fake.requests_to("/api/v1/tasks/completed/by_completion_date")[0]
        self.assertEqual(request.param("since"), "2026-02-28T00:00:00Z")

    def test_it_clamps_the_completed_window_to_three_months(self):
        client = TodoistClient(self.token, api_url=self.fake.api_url, policy=QUICK)
        self.addCleanup(client.close)
        until = datetime(2026, 6, 1, tzinfo=UTC)
        self.assertEqual(client.completed_since(until - timedelta(days=400), until=until), [])
        since = self.fake.requests_to("/api/v1/tasks/completed")[0].param("since")
        self.assertEqual(since, "2026-03-04T00:00:00Z")


class RetryTests(ClientTestCase):
    def test_it_waits_out_a_429_for_its_retry_after(self):
        self.fake.add_task(self.token, content="After the wait")
        self.fake.script("/api/v1/tasks", status=429, headers={"Retry-After": "1"})
        tasks = self.make_client(policy=CallPolicy(timeout_s=0.3, budget_s=3.0, max_retry_after_s=2.0)).active_tasks()
        self.assertIn("After the wait", [t.content for t in tasks])
        self.assertEqual(self.clock.sleeps, [1.0])
        self.assertEqual(len(self.fake.requests_to("/api/v1/tasks")), 2)

    def test_it_gives_up_at_once_when_retry_after_is_past_its_bound(self):
        self.fake.script("/api/v1/tasks", status=429, headers={"Retry-After": "30"})
        with self.assertRaises(TodoistRateLimited) as caught:
            self.make_client().active_tasks()
        self.assertEqual(caught.exception.retry_after_s, 30.0)
        self.assertEqual(self.clock.sleeps, [])
        self.assertEqual(len(self.fake.requests_to("/api/v1/tasks")), 1)

    def test_it_retries_a_5xx_with_growing_backoff_then_succeeds(self):
        self.fake.script("/api/v1/user", status=503, times=2)
        user = self.make_client().get_user()
        self.assertEqual(user.id, "777")
        self.assertEqual(len(self.clock.sleeps), 2)
        first, second = self.clock.sleeps
        self.assertTrue(0.05 <= first <= 0.1 and 0.1 <= second <= 0.2, self.clock.sleeps)

    def test_it_stops_retrying_a_5xx_after_max_attempts(self):
        self.fake.script("/api/v1/", status=500, times=None)
        with self.assertRaises(TodoistUnavailable) as caught:
            self.make_client().get_user()
        self.assertEqual(caught.exception.attempts, QUICK.max_attempts)
        self.assertEqual(len(self.fake.requests), QUICK.max_attempts)

    def test_it_gives_up_on_a_dead_server_within_its_budget(self):
        policy = CallPolicy(timeout_s=0.2, budget_s=1.0, max_attempts=50, backoff_base_s=0.2, backoff_max_s=0.4)
        with self.assertRaises(TodoistUnavailable) as caught:
            self.make_client(policy=policy, api_url=closed_port_url()).active_tasks()
        self.assertGreater(caught.exception.attempts, 1)
        self.assertLess(caught.exception.attempts, 50)
        self.assertLess(sum(self.clock.sleeps), policy.budget_s)  # never waits past the budget

    def test_it_abandons_a_slow_answer_within_its_budget(self):
        self.fake.add_task(self.token, content="Too late")
        self.fake.script("/api/v1/tasks", delay_s=5.0, times=None)  # a 200, but after 5 s
        policy = CallPolicy(timeout_s=0.2, budget_s=0.5, max_attempts=10, backoff_base_s=0.01)
        with self.assertRaises(TodoistUnavailable):
            self.make_client(policy=policy).active_tasks()
        self.assertLessEqual(len(self.fake.requests_to("/api/v1/tasks")), 3)  # 0.2 s per try, 0.5 s in all


class AuthAndGarbageTests(ClientTestCase):
    def test_it_marks_a_401_token_rejected_and_never_calls_again(self):
        self.fake.reject_token(self.token, status=401)
        client = self.make_client()
        with self.assertRaises(TodoistAuthError) as caught:
            client.active_tasks()
        self.assertEqual(caught.exception.status, 401)
        self.assertTrue(client.token_rejected)
        with self.assertRaises(TodoistAuthError):
            client.get_user()
        self.assertEqual(len(self.fake.requests), 1)

    def test_it_treats_403_as_a_rejected_token_too(self):
        self.fake.reject_token(self.token, status=403)
        with self.assertRaises(TodoistAuthError) as caught:
            self.make_client().get_user()
        self.assertEqual(caught.exception.status, 403)

    def test_it_reports_a_removed_api_version_as_gone(self):
        for old in ("/rest/v2", "/sync/v9"):
            with self.subTest(old), self.assertRaises(TodoistProtocolError) as caught:
                self.make_client(api_url=self.fake.url + old).active_tasks()
            self.assertEqual(caught.exception.status, 410)

    def test_it_turns_garbage_answers_into_a_protocol_error(self):
        answers = {
            "html": {"body": b"<html>maintenance</html>"},
            "list": {"json": [1, 2]},
            "results not a list": {"json": {"results": "nope", "next_cursor": None}},
            "results of numbers": {"json": {"results": [1, 2], "next_cursor": None}},
        }
        for name, answer in answers.items():
            with self.subTest(name), self.assertRaises(TodoistProtocolError):
                self.fake.script("/api/v1/tasks", **answer)
                self.make_client().active_tasks()

    def test_it_never_shows_the_token_in_errors_or_its_repr(self):
        self.fake.script("/api/v1/", status=502, times=None)
        client = self.make_client()
        with self.assertRaises(TodoistUnavailable) as caught:
            client.active_tasks()
        self.assertNotIn(self.token, str(caught.exception) + repr(caught.exception) + repr(client))


class TaskShapeTests(ClientTestCase):
    def tasks(self) -> dict[str, object]:
        return {t.content: t for t in self.make_client(page_size=200).active_tasks()}

    def test_it_reads_all_three_due_forms_and_a_due_datetime_field(self):
        self.fake.add_task(self.token, content="all day", due=fake_due("2026-09-01"))
        self.fake.add_task(self.token, content="floating", due=fake_due("2026-09-01T12:30:00"))
        self.fake.add_task(self.token, content="fixed", due=fake_due("2026-09-01T12:30:00Z", timezone="Europe/Berlin"))
        self.fake.add_task(
            self.token, content="v2 style", due={**fake_due("2026-09-01"), "datetime": "2026-09-01T08:00:00Z"}
        )
        tasks = self.tasks()
        self.assertEqual({t.due_date for t in tasks.values()}, {date(2026, 9, 1)})
        self.assertIsNone(tasks["all day"].due_datetime)
        self.assertEqual(tasks["floating"].due_datetime, datetime(2026, 9, 1, 12, 30))  # naive: user's local time
        self.assertEqual(tasks["fixed"].due_datetime, datetime(2026, 9, 1, 12, 30, tzinfo=UTC))
        self.assertEqual(tasks["v2 style"].due_datetime, datetime(2026, 9, 1, 8, 0, tzinfo=UTC))

    def test_it_accepts_nulls_unknown_fields_and_missing_optional_fields(self):
        self.fake.add_task(self.token, content="bare", due=None, deadline=None, duration=None, brand_new_field={"x": 1})
        rich = self.fake.add_task(
            self.token,
            content="rich",
            priority=4,
            labels=["errand"],
            due=fake_due("2026-09-01", recurring=True),
            deadline={"date": "2026-09-05", "lang": "en"},
            duration={"amount": 2, "unit": "day"},
        )
        self.fake.add_task(self.token, content="sparse")
        del self.fake._accounts[self.token].tasks[-1]["updated_at"]  # a field the SDK requires, gone from the wire
        tasks = self.tasks()
        bare = tasks["bare"]
        self.assertEqual((bare.due_date, bare.deadline, bare.duration_minutes), (None, None, None))
        self.assertEqual(tasks["rich"].id, rich["id"])
        self.assertEqual(tasks["rich"].priority, 4)
        self.assertEqual(tasks["rich"].labels, ("errand",))
        self.assertTrue(tasks["rich"].is_recurring)
        self.assertEqual(tasks["rich"].deadline, date(2026, 9, 5))
        self.assertEqual(tasks["rich"].duration_minutes, 2 * 24 * 60)
        self.assertIn("sparse", tasks)

    def test_it_skips_an_unreadable_task_and_keeps_the_others(self):
        self.fake.add_task(self.token, content="broken", due={"date": "next tuesday-ish", "string": "?"})
        self.fake.add_task(self.token, content="fine")
        with self.assertLogs("integrations.todoist.parsing", "WARNING"):
            tasks = self.tasks()
        self.assertIn("fine", tasks)
        self.assertNotIn("broken", tasks)


class UserTimeZoneTests(ClientTestCase):
    def test_it_reads_the_users_time_zone_from_tz_info(self):
        self.fake.set_timezone(self.token, "Europe/Berlin")
        user = self.make_client().get_user()
        self.assertEqual((user.id, user.timezone), ("777", "Europe/Berlin"))

    def test_it_leaves_the_time_zone_unknown_when_todoist_sends_none_or_junk(self):
        answers = {
            "no tz_info": {"id": "777"},
            "null zone": {"id": "777", "tz_info": {"timezone": None}},
            "tz_info not an object": {"id": "777", "tz_info": "Europe/Berlin"},
            "unknown zone": {"id": "777", "tz_info": {"timezone": "Mars/Olympus_Mons"}},
            "path-like zone": {"id": "777", "tz_info": {"timezone": "../../etc/passwd"}},
        }
        for name, answer in answers.items():
            with self.subTest(name):
                self.fake.script("/api/v1/user", json=answer)
                user = self.make_client().get_user()
                self.assertEqual((user.id, user.timezone), ("777", None))


class OAuthClientTests(ClientTestCase):
    def oauth(self) -> TodoistOAuth:
        return TodoistOAuth(
            client_id=self.fake.client_id,
            client_secret=self.fake.client_secret,
            oauth_url=self.fake.oauth_url,
            api_url=self.fake.api_url,
            policy=QUICK,
            clock=self.clock,
        )

    def test_it_builds_the_authorize_url_on_the_configured_oauth_base(self):
        url = self.oauth().authorize_url(state="s1", scopes=("data:read",))
        self.assertTrue(url.startswith(self.fake.oauth_url + "/authorize?"))
        self.assertIn("client_id=fake-client-id", url)
        self.assertIn("scope=data%3Aread", url)
        self.assertIn("state=s1", url)

    def test_it_exchanges_a_code_once(self):
        self.fake.issue_code("code-1", "oauth-token-1")
        self.assertEqual(self.oauth().exchange_code("code-1"), "oauth-token-1")
        with self.assertRaises(TodoistRequestRejected):
            self.oauth().exchange_code("code-1")

    def test_it_revokes_with_the_token_in_the_body_never_the_url(self):
        self.oauth().revoke("oauth-token-2")
        (request,) = self.fake.requests_to("/api/v1/revoke")
        self.assertIn(b"oauth-token-2", request.body)
        self.assertNotIn("oauth-token-2", str(request.query))
        self.assertIn("oauth-token-2", self.fake.revoked)


class RetryAfterTests(SimpleTestCase):
    def test_it_reads_seconds_and_http_dates(self):
        now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.assertEqual(parse_retry_after("3"), 3.0)
        self.assertEqual(parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now), 5.0)
        self.assertIsNone(parse_retry_after("soon"))
        self.assertIsNone(parse_retry_after(None))
        self.assertEqual(parse_retry_after("-4"), 0.0)
