"""Export: tip_scores of a period and filter as streamed CSV, from the admin and from manage.py export_tip_scores."""

import csv
import io
import tempfile
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from recommender.admin_export import HEADER
from recommender.models import TipScore
from recommender.tests.test_admin import AdminTestCase

EXPORT = reverse("admin:recommender_tipscore_export")


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class AdminExportTests(AdminTestCase):
    def export(self, **params) -> list[dict[str, str]]:
        response = self.client.get(EXPORT, params)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.streaming)  # written while it is read, never built in memory
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        self.assertIn("attachment; filename=", response["Content-Disposition"])
        return parsed(b"".join(response.streaming_content).decode())

    def test_it_streams_every_column_of_every_tip_oldest_first(self):
        rows = self.export()
        self.assertEqual(list(rows[0]), HEADER)
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0]["user_id"], str(self.bob.pk))  # bob's tip is 40 days old
        accepted = next(r for r in rows if r["last_action"] == "accepted")
        tip = TipScore.objects.get(pk=accepted["id"])
        self.assertEqual(float(accepted["propensity"]), tip.propensity)
        self.assertEqual((accepted["policy"], accepted["reward"], accepted["task_ids"]), ("egreedy", "0.75", "[]"))
        self.assertEqual(accepted["served_at"], tip.served_at.isoformat())

    def test_it_exports_what_the_changelist_filters_show_for_a_period(self):
        self.assertEqual({r["tip_kind"] for r in self.export(tip_kind__exact="do_now")}, {"do_now"})
        self.assertEqual(len(self.export(llm_model="__none__")), 2)
        self.assertEqual(len(self.export(q="llama3")), 1)
        today = timezone.localdate()
        recent = self.export(since=(today - timedelta(days=7)).isoformat(), until=today.isoformat())
        self.assertEqual({r["user_id"] for r in recent}, {str(self.alice.pk)})
        old = self.export(until=(today - timedelta(days=30)).isoformat(), source__exact="todoist")
        self.assertEqual([(r["user_id"], r["tip_kind"]) for r in old], [(str(self.bob.pk), "batch")])

    def test_the_changelist_and_the_arm_comparison_link_to_it(self):
        changelist = self.client.get(reverse("admin:recommender_tipscore_changelist"), {"tip_kind__exact": "plan"})
        self.assertContains(changelist, f'href="{EXPORT}?tip_kind__exact=plan"')
        summary = self.client.get(reverse("admin:recommender_arm_summary"), {"since": "2026-01-02"})
        self.assertContains(summary, f'href="{EXPORT}?since=2026-01-02"')

    def test_it_refuses_a_bad_period_and_staff_without_the_view_permission(self):
        self.assertEqual(self.client.get(EXPORT, {"since": "2026-02-02", "until": "2026-02-01"}).status_code, 400)
        self.assertEqual(self.client.get(EXPORT, {"since": "yesterday"}).status_code, 400)
        staff = get_user_model().objects.create_user("staff", "staff@example.org", "pw", is_staff=True)
        self.client.force_login(staff)
        self.assertEqual(self.client.get(EXPORT).status_code, 403)
        self.client.force_login(self.alice)  # not staff: the admin login page
        self.assertEqual(self.client.get(EXPORT).status_code, 302)


class ExportCommandTests(AdminTestCase):
    def run_command(self, *args) -> list[dict[str, str]]:
        out = io.StringIO()
        call_command("export_tip_scores", *args, stdout=out)
        return parsed(out.getvalue())

    def test_it_writes_every_tip_to_stdout(self):
        rows = self.run_command()
        self.assertEqual(len(rows), 4)
        self.assertEqual(list(rows[0]), HEADER)

    def test_it_exports_one_users_tips_only(self):
        rows = self.run_command("--user", "alice")
        self.assertEqual({r["user_id"] for r in rows}, {str(self.alice.pk)})
        self.assertEqual(len(rows), 3)
        self.assertEqual(len(self.run_command("--user", str(self.bob.pk))), 1)
        self.assertEqual(self.run_command("--user", "charlie"), [])
        with self.assertRaisesMessage(CommandError, "No user 'nobody'"):
            self.run_command("--user", "nobody")

    def test_it_filters_by_period_and_column_into_a_file(self):
        today = timezone.localdate()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tips.csv"
            call_command(
                "export_tip_scores",
                "--since",
                (today - timedelta(days=1)).isoformat(),
                "--llm-model",
                "ollama_chat/llama3:8b",
                "--output",
                str(path),
            )
            rows = parsed(path.read_text(encoding="utf-8"))
        self.assertEqual([(r["llm_model"], r["tip_kind"]) for r in rows], [("ollama_chat/llama3:8b", "plan")])
        self.assertEqual(len(self.run_command("--policy", "egreedy", "--source", "todoist")), 2)
        with self.assertRaisesMessage(CommandError, "--since must not be after --until"):
            self.run_command("--since", "2026-02-02", "--until", "2026-02-01")
