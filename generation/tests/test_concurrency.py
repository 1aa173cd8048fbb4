"""Concurrent refreshes for one user on PostgreSQL: one generation, one pool row, no errors leaked."""

import threading

from django.db import connection
from django.test import TransactionTestCase

from generation.errors import GenerationError
from generation.models import CandidatePool
from generation.services import pool_refresh
from generation.tests.utils import SAMPLE_TASKS
from testsupport.cases import ActorsMixin
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin

WORKERS = 4


class ConcurrentRefreshTests(FakeGatewayMixin, ActorsMixin, TransactionTestCase):
    def setUp(self):
        super().setUp()
        # A model that takes a moment, so the refreshes really overlap.
        self.fake.default = Reply(content=tips_json([tip("do_now", ["101"])]), delay_s=0.2)
        self.addCleanup(setattr, self.fake, "default", Reply.text(tips_json([tip()])))

    def run_concurrently(self, target) -> list:
        barrier = threading.Barrier(WORKERS)
        outcomes: list = []

        def worker() -> None:
            try:
                barrier.wait()
                outcomes.append(target())
            except GenerationError as exc:
                outcomes.append(exc.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes

    def test_it_generates_once_for_concurrent_refreshes_of_one_user(self):
        outcomes = self.run_concurrently(lambda: len(pool_refresh(user=self.alice, tasks=SAMPLE_TASKS)))
        self.assertEqual(len(outcomes), WORKERS)
        self.assertTrue(set(outcomes) <= {1, "refresh_in_progress"}, outcomes)
        self.assertEqual(len(self.fake.chat_requests), 1)
        self.assertEqual(CandidatePool.objects.filter(user=self.alice).count(), 1)
        # Afterwards every caller gets the stored pool without another generation.
        self.assertEqual(len(pool_refresh(user=self.alice, tasks=SAMPLE_TASKS)), 1)
        self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_refreshes_different_users_in_parallel(self):
        users = [self.alice, self.bob, self.charlie, self.alice]
        lock = threading.Lock()

        def next_user():
            with lock:
                return users.pop()

        outcomes = self.run_concurrently(lambda: len(pool_refresh(user=next_user(), tasks=SAMPLE_TASKS)))
        self.assertGreaterEqual(outcomes.count(1), 3)  # alice's second refresh may find hers in progress
        self.assertEqual(CandidatePool.objects.count(), 3)
