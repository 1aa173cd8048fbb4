"""manage.py backfill_tip_scores: fills legacy rows from what they still tell, resumes after a kill, runs once."""

import os
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path
from typing import IO
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TransactionTestCase

from recommender.models import TipScore
from recommender.tests.feedback_support import candidate, serve
from testsupport.cases import ActorsMixin, BaseTestCase

LEGACY_FIELDS = ("tip_kind", "prompt_version", "llm_model")


def make_legacy(rows: list[TipScore], *fields: str) -> None:
    """Blank the columns as on rows logged before they existed."""
    TipScore.objects.filter(pk__in=[r.pk for r in rows]).update(**dict.fromkeys(fields or LEGACY_FIELDS))


def values(row: TipScore) -> tuple:
    row.refresh_from_db()
    return tuple(getattr(row, f) for f in LEGACY_FIELDS)


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("backfill_tip_scores", "--no-progress", *args, stdout=out)
    return out.getvalue()


class BackfillTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        rule = candidate("plan", task_ids=("1",))
        llm = candidate("break_down", source="llm", task_ids=("2",), llm_model="ollama_chat/llama3.1:8b")
        self.rule, self.llm = serve(self.alice, rule, llm)
        # An LLM tip whose request logged nothing: its kind, prompt and model are unknowable.
        (self.bare,) = serve(self.bob, candidate("do_now", source="llm", task_ids=("3",)), offered=[])
        # Two logged candidates match this tip (same source, same tasks) but disagree on the prompt version.
        twin_a = candidate("batch", source="llm", task_ids=("4", "5"), prompt_version="tips-v1")
        twin_b = candidate("batch", source="llm", task_ids=("5", "4"), prompt_version="tips-v2", title="other")
        (self.ambiguous,) = serve(self.bob, twin_a, offered=[twin_a, twin_b])
        self.modern = serve(self.bob, candidate("wellbeing"))[0]
        make_legacy([self.rule, self.llm, self.bare, self.ambiguous])

    def test_it_fills_each_field_from_what_the_row_and_its_request_still_tell(self):
        output = backfill()
        self.assertEqual(values(self.rule), ("plan", "rules-v1", None))  # a rule tip has no model: null is right
        self.assertEqual(values(self.llm), ("break_down", "tips-v1", "ollama_chat/llama3.1:8b"))
        self.assertEqual(values(self.bare), ("legacy", "legacy", "legacy"))
        self.assertEqual(values(self.ambiguous), ("batch", "legacy", "ollama_chat/qwen2.5:7b"))
        self.assertEqual(values(self.modern), ("wellbeing", "rules-v1", None))
        self.assertIn("rows changed: 4", output)
        self.assertIn("tip_kind: 1 from features", output)
        self.assertIn("tip_kind: 1 from nothing (marked legacy)", output)
        self.assertIn("prompt_version: 2 from nothing (marked legacy)", output)

    def test_it_fills_only_the_missing_fields(self):
        TipScore.objects.filter(pk=self.bare.pk).update(tip_kind="do_now")
        backfill()
        self.assertEqual(values(self.bare), ("do_now", "legacy", "legacy"))

    def test_it_changes_nothing_on_a_second_run(self):
        backfill("--batch-size", "2")
        after_first = [values(r) for r in (self.rule, self.llm, self.bare, self.ambiguous)]
        output = backfill()
        self.assertIn("Nothing to backfill", output)
        self.assertEqual([values(r) for r in (self.rule, self.llm, self.bare, self.ambiguous)], after_first)

    def test_it_writes_nothing_on_a_dry_run(self):
        output = backfill("--dry-run")
        self.assertIn("[dry run, nothing written] Would change:", output)
        self.assertIn("rows changed: 4", output)
        self.assertEqual(values(self.llm), (None, None, None))

    def test_without_a_terminal_its_progress_is_whole_lines_each_printed_once(self):
        out, errors = StringIO(), StringIO()  # not a terminal, like a log file, a pipe or `docker compose exec -T`
        call_command("backfill_tip_scores", "--batch-size", "1", stdout=out, stderr=errors)
        self.assertNotIn("\r", errors.getvalue())
        self.assertEqual(errors.getvalue().splitlines(), [f"backfill_tip_scores: {n}/4 rows" for n in (1, 2, 3, 4)])
        self.assertIn("rows changed: 4", out.getvalue())

    def test_it_rejects_a_bad_batch_size(self):
        with self.assertRaisesMessage(CommandError, "--batch-size"):
            backfill("--batch-size", "0")

    def test_it_costs_a_fixed_number_of_queries_per_batch(self):
        # per batch: the rows, their requests, the UPDATE; plus the count up front and the final empty read
        with self.assertNumQueries(1 + 2 * 3 + 1 + 2 * 2):  # savepoints of the per-batch transactions
            backfill("--batch-size", "2")


class BackfillResumeTests(ActorsMixin, TransactionTestCase):
    """Kill the command (a real process) after its first batch commits, then rerun it."""

    def setUp(self):
        super().setUp()
        llm = [candidate("do_now", source="llm", task_ids=(str(i),)) for i in range(30)]
        self.rows = serve(self.alice, *llm)
        make_legacy(self.rows)

    def database_url(self) -> str:
        db = connection.settings_dict
        password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
        host = quote(db["HOST"], safe="")  # a socket directory (the embedded server) travels percent-encoded
        return f"postgres://{quote(db['USER'])}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"

    def filled(self) -> int:
        return TipScore.objects.filter(tip_kind__isnull=False).count()

    def wait_for_first_batch(self, process: subprocess.Popen, errors: IO[bytes]) -> None:
        """Watch the database until the first batch has committed (the process cannot get further)."""
        deadline = time.monotonic() + 60
        while self.filled() < 10:
            if process.poll() is not None:
                errors.seek(0)
                self.fail(f"the backfill exited early ({process.returncode}): {errors.read().decode()[-2000:]}")
            self.assertLess(time.monotonic(), deadline, "the first batch never committed")
            time.sleep(0.05)  # the watch's polling interval, not a guess at how long anything takes

    def test_it_resumes_after_being_killed_halfway(self):
        second_batch = [r.pk for r in self.rows[10:20]]
        env = {**os.environ, "DATABASE_URL": self.database_url(), "DJANGO_SETTINGS_MODULE": "testsupport.settings"}
        command = [sys.executable, "manage.py", "backfill_tip_scores", "--batch-size", "10", "--no-progress"]
        # Hold the second batch's rows locked, so the process is stuck there when we kill it: no timing luck.
        with psycopg.connect(self.database_url().replace("postgres://", "postgresql://")) as locker:
            locker.execute("SELECT id FROM tip_scores WHERE id = ANY(%s) FOR UPDATE", [second_batch])
            with tempfile.TemporaryFile() as errors:
                process = subprocess.Popen(
                    command, cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.DEVNULL, stderr=errors
                )
                try:
                    self.wait_for_first_batch(process, errors)
                finally:
                    process.kill()
                    process.wait()
            locker.rollback()
        self.assertEqual(self.filled(), 10)
        self.assertEqual(TipScore.objects.filter(pk__in=second_batch, tip_kind__isnull=False).count(), 0)

        output = backfill("--batch-size", "10")
        self.assertIn("rows changed: 20", output)
        self.assertEqual(self.filled(), 30)
        self.assertEqual(set(TipScore.objects.values_list("prompt_version", flat=True)), {"tips-v1"})
        self.assertIn("Nothing to backfill", backfill())
