"""Pools follow the task source: connecting generates the pool at once; leaving a source forgets its pool."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django.test import TestCase, override_settings
from django.urls import reverse

from generation.errors import StaleTaskSource
from generation.models import CandidatePool
from generation.services import pool_forget, pool_refresh
from generation.tests.utils import SAMPLE_TASKS
from integrations.services.tokens import integration_connect_sample
from integrations.tests.support import fast_todoist_settings
from testsupport.cases import ActorsMixin
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin
from testsupport.todoist.fake_todoist import FakeTodoist

TOKEN_URL = reverse("integrations:todoist-token")
TODOIST_URL = reverse("integrations:todoist")
TOKEN = "c1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


class PoolFollowsSourceTests(FakeGatewayMixin, ActorsMixin, TestCase):
    todoist: FakeTodoist

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.todoist = FakeTodoist().start()
        cls.addClassCleanup(cls.todoist.stop)
        cls.enterClassContext(override_settings(**fast_todoist_settings(cls.todoist)))

    def setUp(self) -> None:
        super().setUp()
        self.todoist.add_account(TOKEN, user_id="9201")
        self.passport = self.todoist.add_task(TOKEN, content="Renew the passport", priority=4)
        answer = tips_json([tip("do_now", [self.passport["id"]], title="Start the passport form now")])
        self.fake.default = Reply.text(answer)
        self.addCleanup(setattr, self.fake, "default", Reply.text(tips_json([tip()])))

    def connect(self, user) -> None:
        with self.captureOnCommitCallbacks(execute=True):  # the pool is refreshed once the connection commits
            response = self.api(user).post(TOKEN_URL, {"token": TOKEN}, format="json")
        self.assertEqual(response.status_code, 200, response.json())

    def pool_task_ids(self, user) -> set[str]:
        pool = CandidatePool.objects.filter(user=user).first()
        return {task_id for c in (pool.candidates if pool else []) for task_id in c["task_ids"]}

    @pytest.mark.clock
    def test_connecting_todoist_generates_the_pool_from_its_tasks_at_once(self):
        self.connect(self.alice)
        self.assertEqual(len(self.fake.chat_requests), 1)
        self.assertIn("Renew the passport", self.fake.chat_requests[0].messages[1]["content"])
        self.assertEqual(self.pool_task_ids(self.alice), {self.passport["id"]})
        tips = self.api(self.alice).get("/api/v1/tips/?limit=5").json()["tips"]
        self.assertIn("Start the passport form now", [t["title"] for t in tips if t["source"] == "llm"])
        self.assertEqual(len(self.fake.chat_requests), 1)  # the request read the pool: no model call

    def test_leaving_the_sample_tasks_forgets_their_pool_even_when_the_model_is_down(self):
        self.fake.script(Reply.text(tips_json([tip("do_now", ["sample-01"])])))
        with self.captureOnCommitCallbacks(execute=True):
            integration_connect_sample(user=self.alice)
        self.assertEqual(self.pool_task_ids(self.alice), {"sample-01"})  # made from the sample tasks
        self.fake.default = Reply.failure(503)
        self.connect(self.alice)
        self.assertFalse(CandidatePool.objects.filter(user=self.alice).exists())

    def test_disconnecting_forgets_the_pool_without_calling_the_model(self):
        self.connect(self.alice)
        self.assertTrue(CandidatePool.objects.filter(user=self.alice).exists())
        calls = len(self.fake.chat_requests)
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(self.api(self.alice).delete(TODOIST_URL).status_code, 200)
        self.assertFalse(CandidatePool.objects.filter(user=self.alice).exists())
        self.assertEqual(len(self.fake.chat_requests), calls)

    def test_reconnecting_generates_a_new_pool(self):
        self.connect(self.alice)
        self.connect(self.alice)
        self.assertEqual(len(self.fake.chat_requests), 2)  # the same tasks, but the pool was forgotten
        self.assertEqual(self.pool_task_ids(self.alice), {self.passport["id"]})

    def test_a_refresh_that_began_before_the_source_changed_stores_nothing(self):
        self.fake.script(Reply.slow(1.0, tips_json([tip("do_now", ["101"])])))

        def change_source_while_the_model_thinks() -> None:
            deadline = time.monotonic() + 10
            while not self.fake.chat_requests and time.monotonic() < deadline:
                time.sleep(0.01)  # polling a condition with a deadline
            pool_forget(user_id=self.bob.pk)
            connections.close_all()

        other = threading.Thread(target=change_source_while_the_model_thinks)
        other.start()
        with self.assertRaises(StaleTaskSource):
            pool_refresh(user=self.bob, tasks=SAMPLE_TASKS, timeout_s=3.0)
        other.join()
        self.assertFalse(CandidatePool.objects.filter(user=self.bob).exists())
