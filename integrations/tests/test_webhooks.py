"""Todoist webhooks: HMAC over the raw body, one credit per delivery and per completion, recurring tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.urls import reverse

from integrations.completions import WEBHOOK_MAX_ATTEMPTS, webhook_deliveries_maintain, webhook_delivery_process
from integrations.models import AuthKind, Integration, TaskCompletion, TokenStatus, WebhookDelivery
from integrations.signals import task_completed
from integrations.tasks import process_webhook_delivery
from integrations.tests.support import CLIENT_SECRET, TodoistTestCase
from testsupport.todoist.fake_todoist import sign_webhook_body, webhook_request

WEBHOOK_URL = reverse("integrations:todoist-webhook")
ALICE_TODOIST_ID = "2671355"


class WebhookTests(TodoistTestCase):
    def setUp(self) -> None:
        super().setUp()
        Integration.objects.create(
            user=self.alice,
            auth_kind=AuthKind.OAUTH,
            token_status=TokenStatus.ACTIVE,
            external_user_id=ALICE_TODOIST_ID,
        )
        self.credits: list[dict] = []
        task_completed.connect(self.on_completed)
        self.addCleanup(task_completed.disconnect, self.on_completed)

    def on_completed(self, sender, **kwargs) -> None:
        self.credits.append(kwargs)

    def post(self, body: bytes, headers: dict[str, str]):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        return self.api(None).generic("POST", WEBHOOK_URL, body, content_type="application/json", **extra)

    def completed(self, task_id: str = "6X7rM8997g3RQmvh", **kwargs):
        return webhook_request(
            "item:completed",
            user_id=kwargs.pop("user_id", ALICE_TODOIST_ID),
            event_data={"id": task_id, "content": "Renew passport", "checked": True,
                        "completed_at": "2026-02-10T10:39:38.000000Z"},
            client_secret=kwargs.pop("client_secret", CLIENT_SECRET),
            **kwargs,
        )  # fmt: skip

    def test_it_credits_an_item_completed_once_with_its_time(self):
        response = self.post(*self.completed())
        self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
        self.assertEqual(self.credits, [{
            "signal": task_completed, "user_id": self.alice.pk, "task_id": "6X7rM8997g3RQmvh",
            "completed_at": datetime(2026, 2, 10, 10, 39, 38, tzinfo=UTC),
        }])  # fmt: skip
        self.assertEqual(WebhookDelivery.objects.get().outcome, "credited")

    def test_it_answers_403_to_a_bad_signature_and_records_nothing(self):
        cases = {
            "wrong secret": self.completed(client_secret="not-our-secret"),
            "no signature": (self.completed()[0], {"X-Todoist-Delivery-ID": "d-unsigned"}),
            "body changed": (self.completed()[0].replace(b"Renew", b"Renaw"), self.completed()[1]),
        }
        for name, (body, headers) in cases.items():
            with self.subTest(name):
                response = self.post(body, headers)
                self.assertEqual(response.status_code, 403)
                self.assertEqual(response.json()["error"]["code"], "webhook_signature_invalid")
        self.assertFalse(WebhookDelivery.objects.exists())
        self.assertFalse(TaskCompletion.objects.exists())
        self.assertEqual(self.credits, [])

    def test_it_ignores_a_redelivery_of_the_same_delivery_id(self):
        body, headers = self.completed(delivery_id="delivery-1")
        self.assertEqual(self.post(body, headers).json(), {"status": "accepted"})
        self.assertEqual(self.post(body, headers).json(), {"status": "duplicate"})
        self.assertEqual(len(self.credits), 1)
        self.assertEqual(WebhookDelivery.objects.count(), 1)

    def test_it_credits_one_completion_once_even_from_two_deliveries(self):
        self.post(*self.completed(delivery_id="delivery-2"))
        self.post(*self.completed(delivery_id="delivery-3"))
        self.assertEqual(len(self.credits), 1)
        self.assertEqual(TaskCompletion.objects.count(), 1)
        self.assertEqual(WebhookDelivery.objects.get(delivery_id="delivery-3").outcome, "already_credited")

    def test_it_credits_a_recurring_task_completed_through_item_updated(self):
        body, headers = webhook_request(
            "item:updated",
            user_id=ALICE_TODOIST_ID,
            event_data={"id": "recurring-1", "content": "Water plants", "checked": False, "completed_at": None},
            event_data_extra={"update_intent": "item_completed", "old_item": {}},
            client_secret=CLIENT_SECRET,
            triggered_at="2026-02-11T07:00:00.000000Z",
        )
        self.assertEqual(self.post(body, headers).status_code, 200)
        self.assertEqual([(c["task_id"], c["completed_at"]) for c in self.credits], [
            ("recurring-1", datetime(2026, 2, 11, 7, 0, tzinfo=UTC)),
        ])  # fmt: skip

    def test_it_does_not_credit_an_ordinary_update(self):
        body, headers = webhook_request(
            "item:updated",
            user_id=ALICE_TODOIST_ID,
            event_data={"id": "task-9", "content": "Renamed"},
            event_data_extra={"update_intent": "item_updated"},
            client_secret=CLIENT_SECRET,
        )
        self.assertEqual(self.post(body, headers).status_code, 200)
        self.assertEqual(self.credits, [])
        self.assertEqual(WebhookDelivery.objects.get().outcome, "tasks_changed")

    def test_it_accepts_but_does_not_credit_unknown_or_disconnected_users(self):
        self.post(*self.completed(user_id="555"))
        Integration.objects.filter(user=self.alice).update(token_status=TokenStatus.REVOKED)
        self.post(*self.completed())
        self.assertEqual(self.credits, [])
        self.assertEqual(set(WebhookDelivery.objects.values_list("outcome", flat=True)), {"unknown_user"})

    def test_it_refuses_a_signed_body_without_a_delivery_id(self):
        body, headers = self.completed()
        without_id = {k: v for k, v in headers.items() if k != "X-Todoist-Delivery-ID"}
        response = self.post(body, without_id)
        self.assertEqual((response.status_code, response.json()["error"]["code"]), (400, "webhook_delivery_id_missing"))
        self.assertFalse(WebhookDelivery.objects.exists())

    def test_it_stores_a_signed_body_that_is_not_an_event_closed_as_unreadable(self):
        # Todoist retries anything but a 2xx forever: a signed body we cannot read is kept and closed, not refused.
        for n, garbage in enumerate((b"not json", b"[1]", b'{"no_event": 1}')):
            with self.subTest(garbage=garbage):
                headers = {"X-Todoist-Hmac-SHA256": self.sign(garbage), "X-Todoist-Delivery-ID": f"garbage-{n}"}
                response = self.post(garbage, headers)
                self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
                delivery = WebhookDelivery.objects.get(delivery_id=f"garbage-{n}")
                self.assertEqual((delivery.outcome, bytes(delivery.raw_body)), ("unreadable", garbage))
                self.assertIsNotNone(delivery.processed_at)

    def test_it_refuses_a_body_over_one_mebibyte(self):
        body = b"x" * (1024 * 1024 + 1)
        response = self.post(body, {"X-Todoist-Hmac-SHA256": self.sign(body), "X-Todoist-Delivery-ID": "big"})
        self.assertEqual(response.status_code, 413)
        self.assertFalse(WebhookDelivery.objects.exists())

    @staticmethod
    def sign(body: bytes) -> str:
        return sign_webhook_body(body, CLIENT_SECRET)

    def fail_every_credit(self):
        """Make crediting raise, as if the recommender were down; returns the receiver to disconnect."""

        def failing(sender, **kwargs):
            raise RuntimeError("recommender down")

        task_completed.connect(failing)
        self.addCleanup(task_completed.disconnect, failing)
        return failing

    def test_it_keeps_a_delivery_whose_processing_failed_and_credits_it_on_retry(self):
        failing = self.fail_every_credit()
        with self.assertLogs("integrations.completions", "ERROR"):
            response = self.post(*self.completed(delivery_id="delivery-retry"))
        self.assertEqual(response.json(), {"status": "accepted"})  # stored: Todoist must not redeliver
        self.assertFalse(TaskCompletion.objects.exists())  # rolled back: nothing half-credited
        task_completed.disconnect(failing)
        self.credits.clear()
        delivery = WebhookDelivery.objects.get()
        _, stale = webhook_deliveries_maintain(now=delivery.received_at + timedelta(hours=1))
        self.assertEqual(stale, [delivery.pk])
        process_webhook_delivery.apply(args=(delivery.pk,), throw=True)
        self.assertEqual([c["task_id"] for c in self.credits], ["6X7rM8997g3RQmvh"])
        self.assertEqual(webhook_deliveries_maintain(now=delivery.received_at + timedelta(hours=1)), (0, []))


class HostileWebhookTests(WebhookTests):
    """A correctly signed delivery is always stored and answered 2xx, whatever its JSON holds."""

    def signed(self, body: bytes, delivery_id: str) -> dict[str, str]:
        return {"X-Todoist-Hmac-SHA256": sign_webhook_body(body, CLIENT_SECRET), "X-Todoist-Delivery-ID": delivery_id}

    def test_it_stores_nul_and_lone_surrogates_and_keeps_the_exact_bytes(self):
        for delivery_id, content in (("nul", "\\u0000"), ("surrogate", "\\ud800"), ("low", "x\\udfffy")):
            body = (
                b'{"event_name": "item:added", "user_id": "' + ALICE_TODOIST_ID.encode() + b'",'
                b' "event_data": {"id": "t1", "content": "a' + content.encode() + b'b"}}'
            )
            with self.subTest(content):
                response = self.post(body, self.signed(body, delivery_id))
                self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
                delivery = WebhookDelivery.objects.get(delivery_id=delivery_id)
                self.assertEqual(bytes(delivery.raw_body), body)
                self.assertIn("\ufffd", delivery.payload["event_data"]["content"])

    def test_a_redelivery_of_a_hostile_body_is_a_duplicate_not_an_error(self):
        body = b'{"event_name": "item:added\\u0000", "user_id": "1", "event_data": {}}'
        for status in ("accepted", "duplicate"):
            response = self.post(body, self.signed(body, "again"))
            self.assertEqual((response.status_code, response.json()), (200, {"status": status}))

    def completion_body(self, task_id: str, completed_at: str) -> bytes:
        return (
            b'{"event_name": "item:completed", "user_id": "' + ALICE_TODOIST_ID.encode() + b'", "event_data": '
            b'{"id": "' + task_id.encode() + b'", "completed_at": "' + completed_at.encode() + b'"}}'
        )

    def test_it_reads_nan_and_infinity_as_null_and_answers_200(self):
        body = (
            b'{"event_name": "item:added", "user_id": "' + ALICE_TODOIST_ID.encode() + b'",'
            b' "event_data": {"id": "t1", "a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400}}'
        )
        response = self.post(body, self.signed(body, "nan"))
        self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
        delivery = WebhookDelivery.objects.get(delivery_id="nan")
        self.assertEqual(
            (delivery.payload["event_data"], delivery.outcome),
            ({"id": "t1", "a": None, "b": None, "c": None, "d": None}, "tasks_changed"),
        )

    def test_it_keeps_a_body_nested_3000_deep_as_unreadable(self):
        body = b'{"event_name": "item:added", "event_data": ' + b"[" * 3000 + b"]" * 3000 + b"}"
        response = self.post(body, self.signed(body, "deep"))
        self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
        delivery = WebhookDelivery.objects.get(delivery_id="deep")
        self.assertEqual((delivery.outcome, delivery.payload, bytes(delivery.raw_body)), ("unreadable", {}, body))

    def test_it_closes_a_completion_it_cannot_record_at_once_and_credits_nothing(self):
        cases = {
            "year 10000 once in UTC": ("t1", "9999-12-31T23:59:59-23:59", "refused_time"),
            "year 1": ("t2", "0001-01-01T00:00:00Z", "refused_time"),
            "not a time": ("t3", "yesterday", "refused_time"),
            "a 10 KB task id": ("x" * 10_000, "2026-02-10T10:39:38Z", "refused_task_id"),
        }
        for name, (task_id, completed_at, outcome) in cases.items():
            with self.subTest(name):
                body = self.completion_body(task_id, completed_at)
                response = self.post(body, self.signed(body, name))
                self.assertEqual((response.status_code, response.json()), (200, {"status": "accepted"}))
                self.assertEqual(WebhookDelivery.objects.get(delivery_id=name).outcome, outcome)
        self.assertFalse(TaskCompletion.objects.exists())
        self.assertEqual(self.credits, [])
        self.client.force_login(self.superuser())
        for path in ("/admin/integrations/taskcompletion/", "/admin/integrations/webhookdelivery/"):
            with self.subTest(path):
                self.assertEqual(self.client.get(path).status_code, 200)

    def superuser(self):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.create_superuser("root", "root@example.com", "pw")

    def test_it_reads_a_naive_completion_time_as_utc(self):
        body = self.completion_body("t-naive", "2026-02-10T10:39:38")
        self.assertEqual(self.post(body, self.signed(body, "naive")).status_code, 200)
        self.assertEqual(
            [(c["task_id"], c["completed_at"]) for c in self.credits],
            [("t-naive", datetime(2026, 2, 10, 10, 39, 38, tzinfo=UTC))],
        )

    def test_it_gives_up_on_a_delivery_that_fails_on_every_attempt(self):
        self.fail_every_credit()
        with self.assertLogs("integrations.completions", "ERROR"):
            self.post(*self.completed(delivery_id="doomed"))
        delivery = WebhookDelivery.objects.get()
        for _ in range(WEBHOOK_MAX_ATTEMPTS - 1):
            with self.assertRaises(RuntimeError):
                webhook_delivery_process(delivery_id=delivery.pk)
        with self.assertLogs("integrations.completions", "ERROR") as logs:
            self.assertEqual(webhook_delivery_process(delivery_id=delivery.pk), "gave_up")
        self.assertIn("Gave up on webhook delivery", logs.output[0])
        delivery.refresh_from_db()
        self.assertEqual((delivery.outcome, delivery.attempts), ("gave_up", WEBHOOK_MAX_ATTEMPTS + 1))
        self.assertEqual(webhook_deliveries_maintain(now=delivery.received_at + timedelta(hours=1)), (0, []))
        self.assertFalse(TaskCompletion.objects.exists())
