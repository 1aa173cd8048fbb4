"""Without Celery beat (the embedded run), the serving process runs the periodic jobs itself."""

import time
from datetime import timedelta

from django.test import TransactionTestCase, override_settings
from django.utils import timezone

from recommender.models import TipScore
from recommender.tests.feedback_support import tip
from testsupport.cases import BaseTestCase, make_user
from tipengine import periodic
from tipengine.periodic import InProcessBeat

FINALIZE = {"close-windows": {"task": "recommender.finalize_rewards", "schedule": 300.0}}


class InProcessBeatTests(BaseTestCase):
    def test_it_runs_each_job_at_once_then_every_period(self):
        now = [1000.0]
        beat = InProcessBeat(FINALIZE, clock=lambda: now[0])
        expired = tip(self.alice, hours_ago=30)
        self.assertEqual(beat.run_due(), ["close-windows"])
        expired.refresh_from_db()
        self.assertTrue(expired.is_final)  # the reward window closed without beat
        late = tip(self.alice, hours_ago=30)
        now[0] += 299.0
        self.assertEqual(beat.run_due(), [])
        now[0] += 1.0
        self.assertEqual(beat.run_due(), ["close-windows"])
        late.refresh_from_db()
        self.assertTrue(late.is_final)

    def test_a_failing_job_does_not_stop_the_others(self):
        beat = InProcessBeat({"broken": {"task": "no.such.task", "schedule": 60.0}, **FINALIZE})
        expired = tip(self.alice, hours_ago=30)
        with self.assertLogs("tipengine.periodic", "ERROR"):
            self.assertEqual(beat.run_due(), ["broken", "close-windows"])
        expired.refresh_from_db()
        self.assertTrue(expired.is_final)

    def test_every_job_of_the_default_schedule_is_a_known_task_window_closing_and_pool_refresh_included(self):
        from django.conf import settings

        from tipengine.celery import app

        app.loader.import_default_modules()
        tasks = {job.task for job in InProcessBeat(settings.CELERY_BEAT_SCHEDULE).jobs}
        self.assertLessEqual(tasks, set(app.tasks))
        self.assertLessEqual({"recommender.finalize_rewards", "recommender.refresh_expiring_pools"}, tasks)


@override_settings(PERIODIC_IN_PROCESS=True, CELERY_BEAT_SCHEDULE=FINALIZE)
class EmbeddedRunTests(TransactionTestCase):
    """The first request starts the thread (committed rows: the thread has its own connection)."""

    def setUp(self):
        periodic._beat = None
        self.addCleanup(self.stop)

    def stop(self):
        if periodic._beat is not None:
            periodic._beat.stop()
        periodic._beat = None

    def test_the_first_request_starts_the_jobs_and_windows_close_without_beat(self):
        alice = make_user("alice")
        expired = tip(alice, hours_ago=30)
        self.client.get("/healthz")
        beat = periodic._beat
        self.assertIsNotNone(beat)
        self.client.get("/healthz")
        self.assertIs(periodic._beat, beat)  # once per process
        deadline = time.monotonic() + 20
        while not TipScore.objects.get(pk=expired.pk).is_final and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline, not waiting a fixed time
        self.assertTrue(TipScore.objects.get(pk=expired.pk).is_final)
        self.assertLess(TipScore.objects.get(pk=expired.pk).finalized_at, timezone.now() + timedelta(seconds=1))

    @override_settings(PERIODIC_IN_PROCESS=False)
    def test_it_stays_off_when_beat_runs_the_schedule(self):
        self.client.get("/healthz")
        self.assertIsNone(periodic._beat)
