"""The candidate pool: refresh, reuse, expiry, failure paths and the Celery task, on the real database."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.test import override_settings
from django.utils import timezone

from generation.cache_keys import pool_refresh_lock_key
from generation.errors import InvalidOutput, RefreshInProgress
from generation.models import CandidatePool
from generation.prompting import load_template
from generation.selectors import fresh_pool
from generation.services import pool_expiry, pool_refresh
from generation.tests.test_gateway import configured_model
from generation.tests.utils import SAMPLE_TASKS, task
from testsupport.cases import BaseTestCase
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin

VALID = tips_json([tip("do_now", ["101"]), tip("wellbeing", [])])


class PoolRefreshTests(FakeGatewayMixin, BaseTestCase):
    def refresh(self, user=None, **kwargs):
        return pool_refresh(user=user or self.alice, tasks=kwargs.pop("tasks", SAMPLE_TASKS), **kwargs)

    def test_it_stores_the_pool_with_model_prompt_version_and_expiry(self):
        self.fake.script(Reply.text(VALID))
        candidates = self.refresh()
        pool = CandidatePool.objects.get(user=self.alice)
        self.assertEqual(pool.llm_model, configured_model("tip-generator"))
        self.assertEqual(pool.prompt_version, load_template().version)
        self.assertTrue(pool.is_fresh())
        self.assertEqual(pool.attempts, 1)
        self.assertEqual(pool.tip_candidates(), candidates)
        self.assertEqual([c.kind for c in candidates], ["do_now", "wellbeing"])

    def test_it_serves_the_fresh_pool_in_one_query(self):
        self.fake.script(Reply.text(VALID))
        stored = self.refresh()
        with self.assertNumQueries(1):
            pooled = fresh_pool(user=self.alice)
        self.assertEqual(pooled, stored)
        self.assertEqual(pooled[0].features, stored[0].features)
        self.assertIsNone(fresh_pool(user=self.bob))  # pools are per user

    def test_it_reports_no_pool_once_it_expired(self):
        self.fake.script(Reply.text(VALID))
        self.refresh()
        CandidatePool.objects.filter(user=self.alice).update(expires_at=timezone.now() - timedelta(seconds=1))
        self.assertIsNone(fresh_pool(user=self.alice))

    def test_it_keeps_an_empty_answer_as_a_fresh_empty_pool(self):
        self.fake.script(Reply.text('{"tips": []}'))
        self.refresh()
        self.assertEqual(fresh_pool(user=self.alice), [])

    def test_it_is_idempotent_while_the_inputs_are_unchanged(self):
        self.fake.script(Reply.text(VALID))
        first = self.refresh()
        second = self.refresh()
        self.assertEqual(first, second)
        self.assertEqual(len(self.fake.chat_requests), 1)
        self.assertEqual(CandidatePool.objects.filter(user=self.alice).count(), 1)

    def test_it_regenerates_when_the_tasks_change_or_the_pool_expired(self):
        self.fake.script(Reply.text(VALID), Reply.text(VALID), Reply.text(VALID))
        self.refresh()
        self.refresh(tasks=[*SAMPLE_TASKS, task("105", "New task")])
        self.assertEqual(len(self.fake.chat_requests), 2)
        CandidatePool.objects.filter(user=self.alice).update(expires_at=timezone.now())
        self.refresh(tasks=[*SAMPLE_TASKS, task("105", "New task")])
        self.assertEqual(len(self.fake.chat_requests), 3)
        self.assertEqual(CandidatePool.objects.filter(user=self.alice).count(), 1)

    def test_it_keeps_the_old_pool_when_a_refresh_fails(self):
        self.fake.script(Reply.text(VALID), *[Reply.text("not json")] * 3)
        before = self.refresh()
        with self.assertRaises(InvalidOutput):
            self.refresh(tasks=[task("101")])
        self.assertEqual(fresh_pool(user=self.alice), before)

    def test_it_refuses_a_second_refresh_while_one_holds_the_lock(self):
        from django.core.cache import cache

        cache.add(pool_refresh_lock_key(self.alice.pk), "another-worker", timeout=30)
        with self.assertRaises(RefreshInProgress):
            self.refresh()
        self.assertEqual(self.fake.chat_requests, [])
        self.refresh(user=self.bob)  # other users are not blocked
        self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_passes_the_given_feedback_into_the_prompt(self):
        self.refresh(feedback={"batch": {"dismissed": 1}})
        self.assertIn('"batch": {"dismissed": 1}', self.fake.chat_requests[0].last_user_message)

    @override_settings(GENERATION_POOL_TTL_S=6 * 3600)
    def test_it_expires_the_pool_at_the_users_midnight_if_that_comes_first(self):
        berlin = ZoneInfo("Europe/Berlin")
        evening = datetime(2026, 3, 10, 21, 0, tzinfo=berlin)
        morning = datetime(2026, 3, 10, 8, 0, tzinfo=berlin)
        self.assertEqual(pool_expiry(generated_at=evening, tz="Europe/Berlin"), datetime(2026, 3, 11, tzinfo=berlin))
        self.assertEqual(pool_expiry(generated_at=morning, tz="Europe/Berlin"), morning + timedelta(hours=6))
