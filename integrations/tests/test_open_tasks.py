"""open_tasks_fetch: live reads within a budget, a short per-user cache, failures that keep the token, the demo."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from integrations.errors import TasksUnavailable
from integrations.models import AuthKind, Integration, TokenStatus
from integrations.sample import is_sample_task_id
from integrations.services.open_tasks import open_tasks_fetch
from integrations.services.tokens import integration_connect_sample, integration_connect_token
from integrations.tests.support import CLIENT_SECRET, TodoistTestCase
from testsupport.todoist.fake_todoist import webhook_request

TOKEN = "feedc0de".ljust(40, "1")


class OpenTasksTests(TodoistTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.fake.add_account(TOKEN, user_id="4242")
        self.first = self.fake.add_task(TOKEN, content="Pay rent", priority=4)
        integration_connect_token(user=self.alice, token=TOKEN)
        self.fake.reset_requests()

    def task_reads(self) -> int:
        return len(self.fake.requests_to("/api/v1/tasks"))

    def reason(self, user=None, **kwargs) -> str:
        with self.assertRaises(TasksUnavailable) as caught:
            open_tasks_fetch(user=user or self.alice, **kwargs)
        return caught.exception.reason

    def test_it_reads_the_tasks_once_then_serves_them_from_cache(self):
        with self.assertNumQueries(1):  # the integration row; an active token needs no status write
            tasks = open_tasks_fetch(user=self.alice)
        self.assertIn("Pay rent", [t.content for t in tasks])
        with self.assertNumQueries(0):
            self.assertEqual(open_tasks_fetch(user=self.alice), tasks)
        self.assertEqual(self.task_reads(), 1)

    def test_it_keeps_caches_apart_per_user(self):
        other = "0ther".ljust(40, "2")
        self.fake.add_account(other)
        self.fake.add_task(other, content="Bob's own task")
        integration_connect_token(user=self.bob, token=other)
        self.assertEqual([t.content for t in open_tasks_fetch(user=self.bob)], ["Bob's own task"])
        self.assertNotIn("Bob's own task", [t.content for t in open_tasks_fetch(user=self.alice)])

    @override_settings(TODOIST_TASKS_CACHE_S=0)
    def test_it_reads_live_when_the_cache_is_off(self):
        open_tasks_fetch(user=self.alice)
        open_tasks_fetch(user=self.alice)
        self.assertEqual(self.task_reads(), 2)

    def test_it_reports_todoist_down_keeps_the_token_and_does_not_hammer(self):
        self.fake.script("/api/v1/", status=503, times=None)
        self.assertEqual(self.reason(), "unavailable")
        row = Integration.objects.get(user=self.alice)
        self.assertEqual(row.token_status, TokenStatus.ERROR)
        self.assertEqual(row.get_token(), TOKEN)  # kept: the outage is not the token's fault
        self.assertIn("503", row.last_error)
        reads = self.task_reads()
        self.assertEqual(self.reason(), "unavailable")  # remembered for TODOIST_FAILURE_CACHE_S
        self.assertEqual(self.task_reads(), reads)

    def test_it_recovers_to_active_when_todoist_answers_again(self):
        self.fake.script("/api/v1/", status=502, times=None)
        self.reason()
        self.fake.clear_scripts()
        with override_settings(TODOIST_FAILURE_CACHE_S=0):
            cache.clear()
            open_tasks_fetch(user=self.alice)
        self.assertEqual(Integration.objects.get(user=self.alice).token_status, TokenStatus.ACTIVE)

    def test_it_reports_rate_limiting_and_garbage_with_their_reasons(self):
        self.fake.script("/api/v1/tasks", status=429, headers={"Retry-After": "120"})
        self.assertEqual(self.reason(), "rate_limited")
        cache.clear()
        self.fake.script("/api/v1/tasks", body=b"\x00\x01 not json")
        self.assertEqual(self.reason(), "bad_response")

    def test_it_never_waits_past_the_callers_budget(self):
        self.fake.script("/api/v1/tasks", delay_s=3.0, times=None)
        self.assertEqual(self.reason(budget_s=0.2), "unavailable")
        self.assertEqual(self.task_reads(), 1)  # one 0.2 s try fills a 0.2 s budget

    def test_it_explains_why_without_calling_todoist_when_it_cannot_read(self):
        self.assertEqual(self.reason(user=self.bob), "not_connected")
        Integration.objects.filter(user=self.alice).update(token_status=TokenStatus.INVALID)
        self.assertEqual(self.reason(), "token_invalid")
        Integration.objects.filter(user=self.alice).update(token_status=TokenStatus.REVOKED, access_token_encrypted="")
        self.assertEqual(self.reason(), "revoked")
        self.assertEqual(self.fake.requests, [])

    def test_it_reports_a_token_no_configured_key_opens(self):
        Integration.objects.filter(user=self.alice).update(access_token_encrypted="gAAAAABnot-a-real-fernet-token")
        self.assertEqual(self.reason(), "token_unreadable")
        self.assertEqual(Integration.objects.get(user=self.alice).token_status, TokenStatus.ERROR)

    def test_it_rereads_after_a_webhook_says_the_tasks_changed(self):
        open_tasks_fetch(user=self.alice)
        self.fake.add_task(TOKEN, content="Added in the Todoist app")
        body, headers = webhook_request(
            "item:added", user_id="4242", event_data={"id": "new-1", "content": "x"}, client_secret=CLIENT_SECRET
        )
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        self.api(None).generic(
            "POST", "/api/v1/integrations/todoist/webhook/", body, content_type="application/json", **extra
        )
        self.assertIn("Added in the Todoist app", [t.content for t in open_tasks_fetch(user=self.alice)])

    def test_it_stops_serving_cached_tasks_once_todoist_is_disconnected(self):
        self.assertIn("Pay rent", [t.content for t in open_tasks_fetch(user=self.alice)])  # now cached
        self.api(self.alice).delete("/api/v1/integrations/todoist/")
        self.assertEqual(self.reason(), "revoked")

    def test_it_serves_a_new_connection_s_tasks_not_the_cached_ones(self):
        integration_connect_sample(user=self.bob)
        self.assertTrue(all(is_sample_task_id(t.id) for t in open_tasks_fetch(user=self.bob)))  # now cached
        other = "n3w".ljust(40, "3")
        self.fake.add_account(other)
        self.fake.add_task(other, content="Bob's real task")
        integration_connect_token(user=self.bob, token=other)
        self.assertEqual([t.content for t in open_tasks_fetch(user=self.bob)], ["Bob's real task"])


@pytest.mark.clock
class SampleTasksTests(TodoistTestCase):
    def test_it_gives_the_demo_user_the_bundled_sample_tasks_around_today(self):
        integration = integration_connect_sample(user=self.alice)
        self.assertEqual((integration.auth_kind, integration.token_status), (AuthKind.SAMPLE, TokenStatus.ACTIVE))
        tasks = open_tasks_fetch(user=self.alice)
        today = timezone.localdate()
        self.assertGreaterEqual(len(tasks), 10)
        self.assertTrue(all(is_sample_task_id(t.id) for t in tasks))
        self.assertTrue(any(t.due_date and t.due_date < today for t in tasks), "some overdue")
        self.assertTrue(any(t.due_date == today for t in tasks), "some due today")
        self.assertTrue(any(t.due_date is None for t in tasks), "some undated")
        self.assertTrue(any(t.is_recurring for t in tasks))
        self.assertEqual(self.fake.requests, [])
        status = self.api(self.alice).get("/api/v1/integrations/todoist/").json()
        self.assertEqual((status["is_sample"], status["connected"], status["auth_kind"]), (True, True, "sample"))

    def test_it_is_safe_to_connect_the_sample_twice(self):
        integration_connect_sample(user=self.alice)
        integration_connect_sample(user=self.alice)
        self.assertEqual(Integration.objects.filter(user=self.alice).count(), 1)
