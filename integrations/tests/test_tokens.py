"""Tokens at rest: encrypted in the column, rotated by rotate_token_keys, never in logs, admin or errors."""

from __future__ import annotations

import logging
from io import StringIO

from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from integrations.crypto import token_decrypt, token_encrypt
from integrations.errors import TasksUnavailable
from integrations.models import AuthKind, Integration, TokenStatus
from integrations.services.open_tasks import open_tasks_fetch
from integrations.services.tokens import integration_disconnect, integration_verify
from integrations.tests.support import TEST_KEY, TodoistTestCase

SECRET = "5ec7e7".ljust(40, "9")
OLD, NEW, STRANGER = (Fernet.generate_key().decode() for _ in range(3))


def column_values() -> list[str]:
    """The ciphertext column exactly as the database holds it (raw SQL, not the model)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT access_token_encrypted FROM {Integration._meta.db_table} ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


class EncryptionTests(TodoistTestCase):
    def test_it_never_stores_the_token_in_clear_text(self):
        self.fake.add_account(SECRET)
        response = self.api(self.alice).post("/api/v1/integrations/todoist/token/", {"token": SECRET}, format="json")
        self.assertEqual(response.status_code, 200)
        (stored,) = column_values()
        self.assertNotIn(SECRET, stored)
        self.assertNotIn(SECRET[:12], stored)
        self.assertEqual(token_decrypt(stored), SECRET)

    @override_settings(TOKEN_ENCRYPTION_KEYS=[], DEBUG=True)
    def test_it_derives_a_development_key_from_secret_key_when_debug_has_no_keys(self):
        self.assertEqual(token_decrypt(token_encrypt(SECRET)), SECRET)

    @override_settings(TOKEN_ENCRYPTION_KEYS=[], DEBUG=False)
    def test_it_refuses_to_run_without_keys_in_production(self):
        with self.assertRaises(ImproperlyConfigured):
            token_encrypt(SECRET)

    @override_settings(TOKEN_ENCRYPTION_KEYS=["not-a-fernet-key-but-secret-ish"])
    def test_it_rejects_a_malformed_key_without_echoing_it(self):
        with self.assertRaises(ImproperlyConfigured) as caught:
            token_encrypt(SECRET)
        self.assertIn("#1", str(caught.exception))
        self.assertNotIn("secret-ish", str(caught.exception))


class RotationTests(TodoistTestCase):
    def make_rows(self, key: str, count: int) -> list[Integration]:
        rows = []
        with override_settings(TOKEN_ENCRYPTION_KEYS=[key]):
            for n in range(count):
                user = get_user_model().objects.create_user(f"rot-{key[:6]}-{n}")
                row = Integration(user=user, auth_kind=AuthKind.PERSONAL, token_status=TokenStatus.ACTIVE)
                row.set_token(f"token-{n}")
                row.save()
                rows.append(row)
        return rows

    def rotate(self, *args: str) -> str:
        out = StringIO()
        call_command("rotate_token_keys", *args, stdout=out)
        return out.getvalue()

    def test_it_reencrypts_every_row_so_the_new_key_alone_decrypts(self):
        self.make_rows(OLD, 5)
        Integration.objects.create(user=self.alice, auth_kind=AuthKind.PERSONAL, token_status=TokenStatus.REVOKED)
        before = column_values()
        with override_settings(TOKEN_ENCRYPTION_KEYS=[NEW, OLD]):
            self.assertIn("Re-encrypted 5 token(s)", self.rotate("--batch-size", "2"))
            self.assertIn("Re-encrypted 0 token(s) under the first of 2 key(s); 5 already current", self.rotate())
        after = column_values()
        self.assertEqual(after.count(""), 1)
        self.assertNotEqual(before, after)
        with override_settings(TOKEN_ENCRYPTION_KEYS=[NEW]):
            tokens = [token_decrypt(value) for value in after if value]
        self.assertEqual(sorted(tokens), [f"token-{n}" for n in range(5)])

    def test_it_changes_nothing_in_a_dry_run(self):
        self.make_rows(OLD, 2)
        before = column_values()
        with override_settings(TOKEN_ENCRYPTION_KEYS=[NEW, OLD]):
            self.assertIn("Would re-encrypt 2 token(s)", self.rotate("--dry-run"))
        self.assertEqual(column_values(), before)

    def test_it_names_rows_no_key_opens_and_still_rotates_the_rest(self):
        self.make_rows(OLD, 2)
        (lost,) = self.make_rows(STRANGER, 1)
        with override_settings(TOKEN_ENCRYPTION_KEYS=[NEW, OLD]), self.assertRaises(CommandError) as caught:
            self.rotate()
        self.assertIn(f"integration ids: {lost.pk}", str(caught.exception))
        with override_settings(TOKEN_ENCRYPTION_KEYS=[NEW]):
            self.assertEqual(sum(1 for v in column_values() if _opens(v)), 2)


def _opens(value: str) -> bool:
    try:
        token_decrypt(value)
    except Exception:
        return False
    return True


class SecrecyTests(TodoistTestCase):
    def test_it_never_logs_or_returns_the_token_on_any_path(self):
        loggers = [logging.getLogger(name) for name in ("httpx", "httpcore", "integrations", "django")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.DEBUG)
        self.addCleanup(lambda: [lg.setLevel(level) for lg, level in zip(loggers, levels, strict=True)])
        oauth_secret = "0au7h".ljust(40, "8")
        bodies = []
        with self.assertLogs(level="DEBUG") as logs:
            self.fake.add_account(SECRET)
            self.fake.add_task(SECRET, content="Something")
            post = self.api(self.alice).post
            bodies.append(post("/api/v1/integrations/todoist/token/", {"token": SECRET}, format="json").content)
            open_tasks_fetch(user=self.alice)
            self.fake.script("/api/v1/", status=503, times=None)
            bodies.append(post("/api/v1/integrations/todoist/token/", {"token": SECRET}, format="json").content)
            self.fake.clear_scripts()
            self.fake.reject_token(SECRET)
            bodies.append(post("/api/v1/integrations/todoist/token/", {"token": SECRET}, format="json").content)
            integration_verify(integration=Integration.objects.get(user=self.alice))
            with self.assertRaises(TasksUnavailable) as caught:
                open_tasks_fetch(user=self.alice)
            Integration.objects.filter(user=self.alice).update(auth_kind=AuthKind.OAUTH)
            row = Integration.objects.get(user=self.alice)
            row.set_token(oauth_secret)
            row.save()
            self.fake.script("/api/v1/revoke", status=500, times=None)
            integration_disconnect(user=self.alice)
            bodies.append(self.api(self.alice).get("/api/v1/integrations/").content)
        seen = "\n".join(r.getMessage() + str(r.exc_info) + str(r.args) for r in logs.records)
        seen += str(caught.exception) + b"".join(bodies).decode() + Integration.objects.get(user=self.alice).last_error
        self.assertGreater(len(logs.records), 5)  # the paths above did log (warnings, retries, httpx debug)
        for secret in (SECRET, oauth_secret, TEST_KEY):
            self.assertNotIn(secret, seen)

    def test_it_shows_neither_token_nor_ciphertext_in_the_admin(self):
        self.fake.add_account(SECRET)
        self.api(self.alice).post("/api/v1/integrations/todoist/token/", {"token": SECRET}, format="json")
        row = Integration.objects.get(user=self.alice)
        admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
        self.client.force_login(admin)
        for url in ("/admin/integrations/integration/", f"/admin/integrations/integration/{row.pk}/change/"):
            with self.subTest(url):
                page = self.client.get(url)
                self.assertEqual(page.status_code, 200)
                self.assertNotIn(SECRET, page.content.decode())
                self.assertNotIn(row.access_token_encrypted[:24], page.content.decode())
        self.assertNotIn(SECRET, repr(row) + str(row))
