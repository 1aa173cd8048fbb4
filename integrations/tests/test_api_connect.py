"""Connecting with a personal token, token_status over time, disconnecting, and who may see what."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from integrations.errors import TasksUnavailable
from integrations.models import AuthKind, Integration, TokenStatus
from integrations.services.open_tasks import open_tasks_fetch
from integrations.tests.support import TodoistTestCase

LIST_URL = reverse("integrations:list")
TODOIST_URL = reverse("integrations:todoist")
TOKEN_URL = reverse("integrations:todoist-token")
GOOD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


class ConnectTests(TodoistTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.fake.add_account(GOOD, user_id="9001")

    def connect(self, user, token=GOOD):
        return self.api(user).post(TOKEN_URL, {"token": token}, format="json")

    def todoist_status(self, user) -> dict:
        (entry,) = [e for e in self.api(user).get(LIST_URL).json()["results"] if e["provider"] == "todoist"]
        return entry

    def test_it_lists_todoist_as_missing_for_a_new_user(self):
        response = self.api(self.alice).get(LIST_URL)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["results"], [{
            "provider": "todoist", "connected": False, "token_status": "missing", "auth_kind": None,
            "is_sample": False, "checked_at": None, "last_error": "", "connected_at": None,
        }])  # fmt: skip

    def test_it_connects_a_good_token_as_active(self):
        response = self.connect(self.alice)
        self.assertEqual(response.status_code, 200, response.json())
        body = response.json()
        self.assertEqual((body["token_status"], body["connected"], body["auth_kind"]), ("active", True, "personal"))
        self.assertNotIn(GOOD, response.content.decode())
        row = Integration.objects.get(user=self.alice)
        self.assertEqual(row.external_user_id, "9001")
        self.assertEqual(row.get_token(), GOOD)
        (check,) = self.fake.requests_to("/api/v1/user")
        self.assertEqual(check.token, GOOD)
        self.assertEqual(self.todoist_status(self.alice)["token_status"], "active")

    def test_it_answers_token_rejected_when_todoist_refuses_it_and_stores_nothing(self):
        for status in (401, 403):
            with self.subTest(status=status):
                token = f"refused{status}".ljust(40, "0")
                self.fake.add_account(token)
                self.fake.reject_token(token, status=status)
                response = self.connect(self.bob, token)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()["error"]["code"], "token_rejected")
                self.assertNotIn(token, response.content.decode())
                self.assertFalse(Integration.objects.filter(user=self.bob).exists())

    def test_it_keeps_the_working_token_when_a_new_one_is_refused(self):
        self.connect(self.alice)
        self.fake.add_account("bad".ljust(40, "0"))
        self.fake.reject_token("bad".ljust(40, "0"))
        self.assertEqual(self.connect(self.alice, "bad".ljust(40, "0")).status_code, 400)
        row = Integration.objects.get(user=self.alice)
        self.assertEqual((row.get_token(), row.token_status), (GOOD, TokenStatus.ACTIVE))

    def test_it_stores_the_token_unverified_with_202_when_todoist_is_down_or_garbled(self):
        answers = {"down": {"status": 503}, "garbage": {"body": b"<html>oops</html>"}}
        for (name, answer), user in zip(answers.items(), (self.alice, self.bob), strict=True):
            with self.subTest(name):
                self.fake.script("/api/v1/user", times=None, **answer)
                response = self.connect(user)
                self.fake.clear_scripts()
                self.assertEqual(response.status_code, 202)
                body = response.json()
                self.assertEqual((body["token_status"], body["connected"]), ("unverified", True))
                self.assertIn("Todoist", body["last_error"])
                self.assertEqual(Integration.objects.get(user=user).get_token(), GOOD)

    def test_it_refuses_empty_oversized_and_non_string_tokens_with_400(self):
        bad_inputs = {
            "empty": {"token": ""},
            "blank": {"token": "    "},
            "oversized": {"token": "a" * 257},
            "number": {"token": 1234567890},
            "boolean": {"token": True},
            "null": {"token": None},
            "list": {"token": ["abc"]},
            "object": {"token": {"a": 1}},
            "inner space": {"token": "abc def"},
            "control char": {"token": "abc\x00def"},
            "missing": {},
        }
        for name, payload in bad_inputs.items():
            with self.subTest(name):
                response = self.api(self.alice).post(TOKEN_URL, payload, format="json")
                self.assertEqual(response.status_code, 400)
                error = response.json()["error"]
                self.assertEqual(error["code"], "invalid")
                self.assertIn("token", error["details"]["fields"])
        for raw in (b"not json", b"[1, 2]"):
            with self.subTest(raw=raw):
                response = self.api(self.alice).post(TOKEN_URL, raw, content_type="application/json")
                self.assertEqual(response.status_code, 400)
                self.assertIn("error", response.json())
        self.assertEqual(self.fake.requests, [])
        self.assertFalse(Integration.objects.exists())

    def test_it_turns_invalid_after_todoist_later_answers_401_and_stops_calling(self):
        self.connect(self.alice)
        self.fake.reject_token(GOOD, status=401)
        with self.assertRaises(TasksUnavailable) as caught:
            open_tasks_fetch(user=self.alice)
        self.assertEqual(caught.exception.reason, "token_invalid")
        status = self.todoist_status(self.alice)
        self.assertEqual((status["token_status"], status["connected"]), ("invalid", False))
        self.assertIn("401", status["last_error"])
        calls = len(self.fake.requests)
        with self.assertRaises(TasksUnavailable):
            open_tasks_fetch(user=self.alice)
        self.assertEqual(len(self.fake.requests), calls)

    @override_settings(TODOIST_CONNECT_RATE="2/hour")
    def test_it_limits_connect_attempts_per_user(self):
        for _ in range(2):
            self.assertEqual(self.connect(self.alice, "nope").status_code, 400)
        response = self.connect(self.alice)
        self.assertEqual(response.status_code, 429)
        self.assertEqual(response.json()["error"]["code"], "throttled")
        self.assertIn("retry_after_s", response.json()["error"]["details"])
        self.assertEqual(self.connect(self.bob).status_code, 200)  # per user, not global

    def test_it_requires_authentication(self):
        for method, url in (("get", LIST_URL), ("post", TOKEN_URL), ("delete", TODOIST_URL)):
            with self.subTest(method):
                response = getattr(self.api(None), method)(url)
                self.assertEqual(response.status_code, 401)
                self.assertIn("error", response.json())


class DisconnectTests(TodoistTestCase):
    def connect_oauth(self, user, token: str) -> None:
        Integration.objects.create(user=user, auth_kind=AuthKind.OAUTH, token_status=TokenStatus.ACTIVE)
        row = Integration.objects.get(user=user)
        row.set_token(token)
        row.save()
        self.fake.add_account(token)

    def raw_column(self, user) -> str:
        """The token column as the table holds it (raw SQL, not the model)."""
        with connection.cursor() as cursor:
            table = Integration._meta.db_table
            cursor.execute(f"SELECT access_token_encrypted FROM {table} WHERE user_id = %s", [user.pk])
            (value,) = cursor.fetchone()
        return value

    def test_it_revokes_at_todoist_erases_the_token_and_keeps_a_revoked_row(self):
        self.connect_oauth(self.alice, "oauth-alice-token")
        response = self.api(self.alice).delete(TODOIST_URL)
        self.assertEqual(response.status_code, 200)
        self.assertEqual((response.json()["token_status"], response.json()["connected"]), ("revoked", False))
        self.assertEqual(self.raw_column(self.alice), "")
        self.assertIn("oauth-alice-token", self.fake.revoked)
        self.assertEqual(self.api(self.alice).get(TODOIST_URL).json()["token_status"], "revoked")
        with self.assertRaises(TasksUnavailable) as caught:
            open_tasks_fetch(user=self.alice)
        self.assertEqual(caught.exception.reason, "revoked")

    def test_it_disconnects_even_when_todoist_cannot_revoke(self):
        self.connect_oauth(self.alice, "oauth-alice-2")
        self.fake.script("/api/v1/revoke", status=500, times=None)
        with self.assertLogs("integrations.services.tokens", "WARNING"):
            response = self.api(self.alice).delete(TODOIST_URL)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.raw_column(self.alice), "")
        self.assertEqual(Integration.objects.get(user=self.alice).token_status, TokenStatus.REVOKED)

    def test_it_erases_a_personal_token_without_calling_todoist(self):
        self.fake.add_account(GOOD)
        self.api(self.alice).post(TOKEN_URL, {"token": GOOD}, format="json")
        self.fake.reset_requests()
        self.assertEqual(self.api(self.alice).delete(TODOIST_URL).status_code, 200)
        self.assertEqual(self.raw_column(self.alice), "")
        self.assertEqual(self.fake.requests, [])  # our OAuth app cannot revoke a personal token

    def test_a_second_disconnect_answers_the_same_and_does_nothing_again(self):
        self.connect_oauth(self.alice, "oauth-alice-4")
        first = self.api(self.alice).delete(TODOIST_URL)
        self.fake.reset_requests()
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):  # a retry after a lost answer
            second = self.api(self.alice).delete(TODOIST_URL)
        self.assertEqual((first.status_code, second.status_code), (200, 200))
        self.assertEqual(second.json(), first.json())  # checked_at included: the row was not written again
        self.assertEqual(second.json()["token_status"], "revoked")
        self.assertEqual(self.fake.requests, [])  # nothing revoked at Todoist a second time

    def test_it_answers_404_when_there_is_nothing_to_disconnect(self):
        response = self.api(self.alice).delete(TODOIST_URL)
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["error"]["code"], "not_connected")

    def test_it_never_shows_or_changes_another_users_integration(self):
        self.connect_oauth(self.alice, "oauth-alice-3")
        self.assertEqual(self.api(self.bob).get(TODOIST_URL).json()["token_status"], "missing")
        self.assertEqual(self.api(self.bob).delete(TODOIST_URL).status_code, 404)
        self.assertEqual(Integration.objects.get(user=self.alice).get_token(), "oauth-alice-3")
        self.assertEqual(self.fake.revoked, [])
