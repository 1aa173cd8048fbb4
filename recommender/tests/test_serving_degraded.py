"""Serving without a fresh pool: the LLM is called within the request budget, and its failures degrade.

Real commits (TransactionTestCase): the LLM call runs on a worker thread with its own connection. The
gateway is the fake Ollama behind the real litellm router (`self.fake`); tasks come from the fake
Todoist (`self.todoist`).
"""

from django.test import TransactionTestCase, override_settings

from generation.cache_keys import pool_refresh_lock_key
from generation.models import CandidatePool
from recommender.models import TipRequest
from recommender.pipeline import shutdown_llm_executor
from recommender.tests.serving_utils import ConnectedWithoutPoolMixin
from testsupport.cases import ActorsMixin
from testsupport.llm.fake_ollama import Reply, tip, tips_json, unused_port_url
from testsupport.llm.gateway import FakeGatewayMixin
from testsupport.todoist.fake_todoist import fake_due

URL = "/api/v1/tips/"
TOKEN = "tok-degraded"


class NoPoolTests(ConnectedWithoutPoolMixin, FakeGatewayMixin, ActorsMixin, TransactionTestCase):
    todoist_token = TOKEN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.urgent = cls.todoist.add_task(TOKEN, content="File taxes", priority=4, due=fake_due("2026-01-05"))
        cls.todoist.add_task(TOKEN, content="Water plants")
        import litellm  # noqa: F401  the first import costs seconds: not inside a test's request budget

    def setUp(self):
        super().setUp()
        self.fake.reset()
        self.llm_answer = tips_json([tip("do_now", [self.urgent["id"]], title="Taxes first, says the model")])

    def serve(self, limit=10):
        response = self.api(self.alice).get(URL, {"limit": limit})
        self.assertEqual(response.status_code, 200)
        return response.json()

    def codes(self, body):
        return {d["code"]: d["details"] for d in body["degraded"]}

    def offered(self, body):
        return [
            (c["source"], c["kind"], tuple(c["task_ids"]))
            for c in TipRequest.objects.get(pk=body["request_id"]).candidates
        ]

    @override_settings(TIPS_REQUEST_BUDGET_S=10.0)
    def test_it_calls_the_llm_within_the_budget_when_there_is_no_pool(self):
        self.fake.script(Reply.text(self.llm_answer))
        body = self.serve()
        self.assertEqual(body["degraded"], [])
        self.assertIn(("llm", "do_now", (self.urgent["id"],)), self.offered(body))
        self.assertEqual(len(self.fake.chat_requests), 1)
        pool = CandidatePool.objects.get(user=self.alice)  # stored for the next requests
        self.assertEqual([c["title"] for c in pool.candidates], ["Taxes first, says the model"])
        self.serve()
        self.assertEqual(len(self.fake.chat_requests), 1)  # the next request reads the pool

    def test_it_skips_the_model_while_the_gateway_warms_up(self):
        from generation import gateway

        gateway.reset_router()  # as in a process whose warm-up has not finished: the call would wait on it
        self.fake.script(Reply.text(self.llm_answer))
        body = self.serve()
        self.assertEqual(self.codes(body)["llm_skipped"], {"reason": "warming_up"})
        self.assertNotIn("llm", {source for source, _, _ in self.offered(body)})
        # The refresh it queued (inline in tests) stored the pool: the next request has the model's tip.
        self.assertIn(("llm", "do_now", (self.urgent["id"],)), self.offered(self.serve()))

    @override_settings(TIPS_REQUEST_BUDGET_S=10.0)
    def test_it_treats_an_expired_pool_as_no_pool(self):
        from recommender.tests.factories import llm_tip
        from recommender.tests.serving_utils import store_pool

        store_pool(self.alice, [llm_tip("wellbeing", (), title="Stale advice")], fresh=False)
        self.fake.script(Reply.text(self.llm_answer))
        body = self.serve()
        self.assertEqual(len(self.fake.chat_requests), 1)
        titles = [c["title"] for c in CandidatePool.objects.get(user=self.alice).candidates]
        self.assertEqual(titles, ["Taxes first, says the model"])
        self.assertNotIn("Stale advice", [t["title"] for t in body["tips"]])
        self.assertIn(("llm", "do_now", (self.urgent["id"],)), self.offered(body))

    @override_settings(TIPS_REQUEST_BUDGET_S=0.5)
    def test_it_serves_rule_tips_when_the_model_is_slow_and_refreshes_in_the_background(self):
        self.fake.script(Reply.slow(5.0, self.llm_answer), Reply.text(self.llm_answer))
        body = self.serve()
        self.assertIn("llm_timeout", self.codes(body))
        self.assertTrue(body["tips"])
        self.assertEqual({t["source"] for t in body["tips"]}, {"todoist"})
        shutdown_llm_executor(wait=True)
        # Once the in-request call gave up, a background refresh (inline in tests) stored the pool.
        self.assertEqual(len(self.fake.chat_requests), 2)
        self.assertEqual(
            CandidatePool.objects.get(user=self.alice).candidates[0]["title"], "Taxes first, says the model"
        )

    @override_settings(TIPS_REQUEST_BUDGET_S=5.0)
    def test_it_serves_rule_tips_when_the_gateway_is_down(self):
        from generation import gateway

        with override_settings(OLLAMA_URL=unused_port_url()):
            gateway.warm_up()  # a warm process (changing the setting dropped the router)
            body = self.serve()
        self.assertEqual(self.codes(body)["llm_unavailable"], {"reason": "gateway_unavailable"})
        self.assertTrue(body["tips"])
        self.assertIn(self.urgent["id"], {t["id"] for tip in body["tips"] for t in tip["tasks"]})
        self.assertEqual({s for s, _, _ in self.offered(body)}, {"todoist"})

    @override_settings(TIPS_REQUEST_BUDGET_S=5.0)
    def test_it_says_tips_are_being_prepared_while_another_refresh_generates_them(self):
        from django.core.cache import cache

        lock = pool_refresh_lock_key(self.alice.pk)  # held, as by the refresh that connecting Todoist starts
        cache.add(lock, "the connect's refresh", timeout=60)
        try:
            body = self.serve()
        finally:
            cache.delete(lock)
        (reason,) = [d for d in body["degraded"] if d["code"] == "llm_unavailable"]
        self.assertEqual(reason["details"], {"reason": "refresh_in_progress"})
        self.assertIn("being prepared", reason["message"])
        self.assertNotIn("unavailable", reason["message"])
        self.assertTrue(body["tips"])

    @override_settings(TIPS_REQUEST_BUDGET_S=5.0, GENERATION_BREAKER_THRESHOLD=2)
    def test_it_stops_calling_a_failing_gateway_once_the_breaker_opens(self):
        self.fake.script(*[Reply.failure(503)] * 4)
        first = self.serve()  # the request's call and the background refresh both fail: the breaker opens
        self.assertEqual(self.codes(first)["llm_unavailable"], {"reason": "gateway_unavailable"})
        calls = len(self.fake.chat_requests)
        second = self.serve()
        self.assertEqual(self.codes(second)["llm_unavailable"], {"reason": "circuit_open"})
        self.assertEqual(len(self.fake.chat_requests), calls)
        self.assertTrue(second["tips"])

    def test_it_degrades_without_tasks_when_todoist_is_down(self):
        from integrations.cache_keys import tasks_cache_invalidate

        tasks_cache_invalidate(user_id=self.alice.pk)
        self.todoist.script("/api/v1/", status=503, times=None)
        self.addCleanup(self.todoist.clear_scripts)
        body = self.serve()
        self.assertEqual(self.codes(body)["tasks_unavailable"], {"reason": "unavailable"})
        self.assertIn("llm_skipped", self.codes(body))
        self.assertEqual(body["tips"], [])
        self.assertEqual(self.fake.chat_requests, [])
