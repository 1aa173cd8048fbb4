"""Periodic work: daily re-verification, pulling completions for personal tokens, the beat schedule."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import tasks
from integrations.completions import Completion, completions_record
from integrations.models import AuthKind, Integration, TaskCompletion, TokenStatus
from integrations.services.open_tasks import open_tasks_fetch
from integrations.services.tokens import integration_connect_token
from integrations.signals import task_completed
from integrations.tests.support import TodoistTestCase, TodoistTransactionTestCase


def token(name: str) -> str:
    return name.ljust(40, "0")


class VerifyTests(TodoistTestCase):
    def connected(self, user, name: str, status: str = TokenStatus.ACTIVE) -> Integration:
        self.fake.add_account(token(name))
        integration_connect_token(user=user, token=token(name))
        Integration.objects.filter(user=user).update(token_status=status)
        return Integration.objects.get(user=user)

    def test_it_reverifies_every_usable_token_and_records_each_outcome(self):
        good = self.connected(self.alice, "good")
        dead = self.connected(self.bob, "dead")
        pending = self.connected(self.charlie, "pending", TokenStatus.UNVERIFIED)
        self.fake.reject_token(token("dead"), status=403)
        self.fake.reset_requests()
        self.assertEqual(tasks.verify_all_integrations.apply().get(), 3)
        statuses = dict(Integration.objects.values_list("pk", "token_status"))
        self.assertEqual(
            [statuses[good.pk], statuses[dead.pk], statuses[pending.pk]],
            [TokenStatus.ACTIVE, TokenStatus.INVALID, TokenStatus.ACTIVE],
        )
        self.assertEqual(len(self.fake.requests_to("/api/v1/user")), 3)
        self.fake.reset_requests()
        self.assertEqual(tasks.verify_all_integrations.apply().get(), 2)  # the invalid token is not tried again
        self.assertNotIn(token("dead"), [r.token for r in self.fake.requests])

    def test_it_verifies_a_token_stored_while_todoist_was_down(self):
        self.fake.add_account(token("later"))
        self.fake.script("/api/v1/user", status=503, times=None)
        integration_connect_token(user=self.alice, token=token("later"))
        self.assertEqual(Integration.objects.get(user=self.alice).token_status, TokenStatus.UNVERIFIED)
        tasks.verify_pending_integrations.apply()  # still down: stays unverified, says why
        row = Integration.objects.get(user=self.alice)
        self.assertEqual((row.token_status, row.external_user_id), (TokenStatus.UNVERIFIED, ""))
        self.fake.clear_scripts()
        tasks.verify_pending_integrations.apply()
        row = Integration.objects.get(user=self.alice)
        self.assertEqual((row.token_status, row.last_error), (TokenStatus.ACTIVE, ""))
        self.assertNotEqual(row.external_user_id, "")

    def test_it_learns_the_account_id_when_a_read_first_proves_an_unverified_token(self):
        self.fake.add_account(token("readfirst"), user_id="8080")
        self.fake.script("/api/v1/user", status=503, times=3)  # the connect's check: all its tries fail
        integration_connect_token(user=self.alice, token=token("readfirst"))
        open_tasks_fetch(user=self.alice)
        row = Integration.objects.get(user=self.alice)
        self.assertEqual((row.token_status, row.external_user_id), (TokenStatus.ACTIVE, "8080"))

    def test_it_marks_a_working_token_error_not_invalid_when_todoist_is_down(self):
        self.connected(self.alice, "outage")
        self.fake.script("/api/v1/user", status=500, times=None)
        self.assertEqual(tasks.verify_integration.apply(args=(Integration.objects.get().pk,)).get(), TokenStatus.ERROR)

    def test_an_operator_can_reverify_a_token_marked_invalid(self):
        row = self.connected(self.alice, "wrongly", TokenStatus.INVALID)  # e.g. Todoist answered 401s in an incident
        self.fake.reset_requests()
        self.assertEqual(tasks.verify_integration.apply(args=(row.pk,)).get(), TokenStatus.INVALID)
        self.assertEqual(self.fake.requests, [])  # the automatic path never calls Todoist with it
        self.assertEqual(tasks.verify_integration.apply(args=(row.pk, True)).get(), TokenStatus.ACTIVE)

    def test_the_admin_action_reverifies_the_selected_tokens(self):
        row = self.connected(self.alice, "adminre", TokenStatus.INVALID)
        self.client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw"))
        response = self.client.post(
            "/admin/integrations/integration/", {"action": "reverify", "_selected_action": [row.pk]}, follow=True
        )
        self.assertContains(response, "Queued 1 verification(s).")
        self.assertEqual(Integration.objects.get(pk=row.pk).token_status, TokenStatus.ACTIVE)

    def test_it_drops_the_outcome_of_a_check_on_a_token_replaced_meanwhile(self):
        from integrations.services.tokens import integration_record_check
        from integrations.todoist.errors import TodoistAuthError

        old = self.connected(self.alice, "old")
        self.connected(self.alice, "new")  # reconnected while a check of the old token was in flight
        integration_record_check(integration=old, ciphertext=old.access_token_encrypted, error=TodoistAuthError("x"))
        self.assertEqual(Integration.objects.get(user=self.alice).token_status, TokenStatus.ACTIVE)


class PullCompletionsTests(TodoistTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.credits: list[tuple[int, str]] = []
        task_completed.connect(self.on_completed)
        self.addCleanup(task_completed.disconnect, self.on_completed)
        self.tok = token(uuid.uuid4().hex[:12])  # a fresh Todoist account per test: the fake outlives tests
        self.fake.add_account(self.tok)
        integration_connect_token(user=self.alice, token=self.tok)
        # Pretend the last pull was an hour ago, so completions in that hour are new.
        Integration.objects.update(completions_synced_at=timezone.now() - timedelta(hours=1))

    def on_completed(self, sender, user_id, task_id, completed_at, **kwargs) -> None:
        self.credits.append((user_id, task_id))

    def complete(self, content: str, minutes_ago: int) -> str:
        task = self.fake.add_task(self.tok, content=content)
        stamp = (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(UTC)
        self.fake.complete_task(self.tok, task["id"], completed_at=stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        return task["id"]

    def test_it_credits_each_pulled_completion_once(self):
        first = self.complete("Done A", 30)
        self.assertEqual(tasks.pull_all_completions.apply().get(), 1)
        self.assertEqual(self.credits, [(self.alice.pk, first)])
        tasks.pull_all_completions.apply()  # the same window again (overlap): nothing new
        self.assertEqual(self.credits, [(self.alice.pk, first)])
        self.assertEqual(TaskCompletion.objects.filter(source="pull").count(), 1)

    def test_it_records_a_batch_with_the_same_queries_as_a_single_completion(self):
        pk = Integration.objects.get().pk

        def our_queries_for(count: int) -> int:
            for n in range(count):
                self.complete(f"Batch {count}-{n}", 2)
            with CaptureQueriesContext(connection) as captured:
                self.assertEqual(tasks.pull_completions.apply(args=(pk,)).get(), count)
            return sum("integrations_" in q["sql"] for q in captured.captured_queries)

        self.assertEqual(our_queries_for(1), our_queries_for(3))  # no query per completion

    def test_it_only_pulls_for_personal_tokens(self):
        self.complete("Done C", 5)
        Integration.objects.update(auth_kind=AuthKind.OAUTH)
        self.assertEqual(tasks.pull_all_completions.apply().get(), 0)
        self.assertEqual(self.fake.requests_to("/api/v1/tasks/completed"), [])

    def test_it_survives_todoist_down_and_catches_up_later(self):
        done = self.complete("Done D", 10)
        self.fake.script("/api/v1/", status=503, times=None)
        with self.assertLogs("integrations.completions", "WARNING"):
            tasks.pull_all_completions.apply()
        self.assertEqual(self.credits, [])
        self.assertEqual(Integration.objects.get().token_status, TokenStatus.ERROR)
        self.fake.clear_scripts()
        tasks.pull_all_completions.apply()
        self.assertEqual(self.credits, [(self.alice.pk, done)])

    def test_beat_runs_the_periodic_tasks_by_their_registered_names(self):
        names = {entry["task"] for key, entry in settings.CELERY_BEAT_SCHEDULE.items() if key.startswith("integ")}
        registered = {
            tasks.verify_all_integrations.name,
            tasks.verify_pending_integrations.name,
            tasks.pull_all_completions.name,
            tasks.prune_webhook_deliveries.name,
        }
        self.assertEqual(names, registered)


class ConcurrentCreditTests(TodoistTransactionTestCase):
    def test_it_sends_one_signal_when_two_workers_credit_the_same_completion(self):
        Integration.objects.create(user=self.alice, auth_kind=AuthKind.OAUTH, token_status=TokenStatus.ACTIVE)
        credits: list[str] = []
        task_completed.connect(lambda sender, task_id, **kw: credits.append(task_id), weak=False, dispatch_uid="cc")
        self.addCleanup(task_completed.disconnect, dispatch_uid="cc")
        completion = Completion(task_id="t-1", completed_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
        barrier = threading.Barrier(2)

        def worker() -> None:
            try:
                barrier.wait()
                completions_record(user_id=self.alice.pk, completions=[completion], source="webhook")
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(credits, ["t-1"])
        self.assertEqual(TaskCompletion.objects.count(), 1)
