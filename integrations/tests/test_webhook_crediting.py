"""A webhook delivery is marked done only after its credit commits: a credit that fails once is retried, once."""

from __future__ import annotations

import json
import time

from django.db import DatabaseError, connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from integrations.completions import webhook_delivery_process
from integrations.models import AuthKind, Integration, TaskCompletion, TokenStatus, WebhookDelivery
from integrations.tests.support import CLIENT_SECRET, TodoistTestCase, TodoistTransactionTestCase
from integrations.tests.test_webhooks import ALICE_TODOIST_ID
from recommender.models import FeedbackEvent, TipScore
from recommender.tests.feedback_support import tip
from testsupport.todoist.fake_todoist import webhook_request

TASK_ID = "6X7rM8997g3RQmvh"


def break_the_next_credit() -> None:
    """PostgreSQL refuses the next insert of a feedback event (the credit's), then accepts every later one.

    A sequence counts the attempts: nextval is not rolled back with the failed statement, so the trigger
    fails exactly once.
    """
    events = connection.ops.quote_name(FeedbackEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE test_credit_attempts")
        cursor.execute(
            "CREATE FUNCTION test_fail_first_credit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('test_credit_attempts') = 1 THEN RAISE EXCEPTION 'the credit fails once'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_fail_first_credit BEFORE INSERT ON {events} "
            "FOR EACH ROW EXECUTE FUNCTION test_fail_first_credit()"
        )


def mend_the_credit() -> None:
    events = connection.ops.quote_name(FeedbackEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS test_fail_first_credit ON {events}")
        cursor.execute("DROP FUNCTION IF EXISTS test_fail_first_credit()")
        cursor.execute("DROP SEQUENCE IF EXISTS test_credit_attempts")


def credit_attempts() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM test_credit_attempts")
        return cursor.fetchone()[0]


class CreditingSetup:
    def setUp(self) -> None:
        super().setUp()
        Integration.objects.create(
            user=self.alice,
            auth_kind=AuthKind.OAUTH,
            token_status=TokenStatus.ACTIVE,
            external_user_id=ALICE_TODOIST_ID,
        )
        self.named = tip(self.alice, hours_ago=1, task_ids=(TASK_ID,))

    def completion(self, delivery_id: str) -> tuple[bytes, dict[str, str]]:
        """Alice completed the task the tip named, just now."""
        data = {"id": TASK_ID, "checked": True, "completed_at": timezone.now().isoformat()}
        return webhook_request(
            "item:completed", user_id=ALICE_TODOIST_ID, event_data=data, client_secret=CLIENT_SECRET,
            delivery_id=delivery_id,
        )  # fmt: skip

    def assert_credited_once(self) -> None:
        self.named.refresh_from_db()
        self.assertEqual(self.named.last_action, "completed")
        self.assertIsNotNone(self.named.finalized_at)
        self.assertEqual(
            list(FeedbackEvent.objects.filter(tip=self.named).values_list("action", flat=True)), ["completed"]
        )
        self.assertEqual(TaskCompletion.objects.count(), 1)
        self.assertEqual(WebhookDelivery.objects.get().outcome, "credited")


class FailedCreditTests(CreditingSetup, TodoistTestCase):
    def test_it_leaves_the_delivery_unprocessed_when_the_credit_fails_and_credits_it_once_on_retry(self):
        break_the_next_credit()
        body, _ = self.completion("d-1")
        delivery = WebhookDelivery.objects.create(
            delivery_id="d-1", event_name="item:completed", external_user_id=ALICE_TODOIST_ID, payload=json.loads(body)
        )
        with self.assertRaises(DatabaseError):
            webhook_delivery_process(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        self.assertEqual((delivery.processed_at, delivery.outcome), (None, ""))
        self.assertFalse(TaskCompletion.objects.exists())
        self.assertFalse(FeedbackEvent.objects.filter(tip=self.named).exists())
        self.assertEqual(webhook_delivery_process(delivery_id=delivery.pk), "credited")
        self.assertEqual(webhook_delivery_process(delivery_id=delivery.pk), "already_processed")
        self.assertEqual(credit_attempts(), 2)
        self.assert_credited_once()


@override_settings(TASKS_MODE="thread")  # the embedded run: processing on a background thread, real commits
class RetriedCreditTests(CreditingSetup, TodoistTransactionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.addCleanup(mend_the_credit)

    def test_it_retries_a_webhook_whose_credit_failed_and_credits_the_tip_once(self):
        break_the_next_credit()
        body, headers = self.completion("d-retry")
        response = self.api(None).generic(
            "POST", reverse("integrations:todoist-webhook"), body, content_type="application/json",
            HTTP_X_TODOIST_HMAC_SHA256=headers["X-Todoist-Hmac-SHA256"],
            HTTP_X_TODOIST_DELIVERY_ID=headers["X-Todoist-Delivery-ID"],
        )  # fmt: skip
        self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
        deadline = time.monotonic() + 20
        while not (
            WebhookDelivery.objects.filter(processed_at__isnull=False).exists()
            and TipScore.objects.filter(pk=self.named.pk, finalized_at__isnull=False).exists()
        ):
            self.assertLess(time.monotonic(), deadline, "the delivery was not processed and credited in time")
            time.sleep(0.05)
        self.assertEqual(credit_attempts(), 2)  # failed once, then retried
        self.assert_credited_once()
