"""Serving with a fresh LLM pool (the normal case): what is served, what is logged, and what is held back."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models.signals import post_init
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.tests.support import FakeTodoistMixin
from recommender.cache_keys import serving_state_forget
from recommender.models import FeedbackEvent, TipRequest, TipScore
from recommender.pipeline import assemble
from recommender.selectors.serving import arm_estimates
from recommender.services.feedback import feedback_record
from recommender.services.serving import _thread_rng, serving_policy, tips_serve
from recommender.tests.factories import llm_tip
from recommender.tests.serving_utils import MODEL, connect_sample, sample_pool, set_arm, store_pool
from testsupport.cases import BaseTestCase
from testsupport.todoist.fake_todoist import fake_due

URL = "/api/v1/tips/"
SLATE_WRITE_QUERIES = 1  # the request and its tips in one statement


@pytest.mark.clock
class ServeApiTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        connect_sample(self.alice)
        store_pool(self.alice, sample_pool(6))

    def test_it_serves_tips_and_logs_each_with_kind_propensity_and_provenance(self):
        response = self.api(self.alice).get(URL, {"limit": 10})
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body["degraded"], [])
        request = TipRequest.objects.get(pk=body["request_id"], user=self.alice)
        # Rule tips depend on the hour (plan: mornings only), so count what was offered.
        self.assertGreaterEqual(len(request.candidates), 10)
        self.assertEqual(len(body["tips"]), 10)
        rows = {row.pk: row for row in TipScore.objects.filter(request=request)}
        self.assertEqual([t["id"] for t in body["tips"]], sorted(rows))  # slate order is insertion order
        for position, tip in enumerate(body["tips"]):
            row = rows[tip["id"]]
            self.assertEqual(
                (row.position, row.tip_kind, row.source, row.title),
                (position, *map(tip.get, ("kind", "source", "title"))),
            )
            self.assertTrue(0 < row.propensity <= 1)
            self.assertEqual(row.task_ids, [t["id"] for t in tip["tasks"]])
            if row.source == "llm":
                self.assertEqual((row.llm_model, row.prompt_version), (MODEL, "tips-v1"))
            else:
                self.assertEqual((row.llm_model, row.prompt_version), (None, "rules-v1"))
        self.assertEqual({t["source"] for t in body["tips"]}, {"llm", "todoist"})
        self.assertEqual(request.policy, "egreedy")
        self.assertEqual(request.policy_params["epsilon"], 0.1)
        self.assertTrue(all({"arm", "features"} <= set(c) for c in request.candidates))

    def test_it_names_each_tips_tasks_with_content_and_due(self):
        body = self.api(self.alice).get(URL, {"limit": 10}).json()
        tasks = {t["id"]: t for tip in body["tips"] for t in tip["tasks"]}
        self.assertEqual(tasks["sample-01"]["content"], "Renew passport")
        due = (timezone.localdate() - timedelta(days=3)).isoformat()
        self.assertEqual(tasks["sample-01"]["due"], due)

    def test_it_logs_due_age_days_of_the_most_overdue_linked_task(self):
        self.api(self.alice).get(URL, {"limit": 10})
        request = TipRequest.objects.get(user=self.alice)
        offered = {tuple(c["task_ids"]): c["features"]["due_age_days"] for c in request.candidates}
        self.assertEqual(offered[("sample-10",)], 14)  # due 14 days ago
        self.assertIsNone(offered[()])  # a tip about no task has no due age
        for row in TipScore.objects.filter(request=request):
            self.assertEqual(row.due_age_days, row.features["due_age_days"])

    def test_it_logs_who_asks_when_and_their_workload_on_every_candidate(self):
        self.api(self.alice).get(URL, {"limit": 10})
        request = TipRequest.objects.get(user=self.alice)
        names = ("user_id", "local_hour", "weekday", "open_tasks", "overdue_tasks")
        shared = {tuple(c["features"][name] for name in names) for c in request.candidates}
        asked = timezone.localtime(request.created_at)  # the sample user's tasks live in the server's zone
        # The 14 sample tasks: 4 are past due (3, 1, 8 and 14 days).
        self.assertEqual(shared, {(self.alice.pk, asked.hour, asked.weekday(), 14, 4)})

    def test_it_serves_three_tips_by_default(self):
        self.assertEqual(len(self.api(self.alice).get(URL).json()["tips"]), 3)

    def test_it_rejects_a_bad_limit_with_400_in_the_error_shape(self):
        for bad in ("0", "11", "-1", "three", "2.5", "1e3"):
            response = self.api(self.alice).get(URL, {"limit": bad})
            self.assertEqual(response.status_code, 400, bad)
            error = response.json()["error"]
            self.assertEqual(error["code"], "invalid")
            self.assertIn("limit", error["details"]["fields"])
        self.assertFalse(TipRequest.objects.exists())

    def test_it_requires_authentication(self):
        response = self.api(None).get(URL)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"]["code"], "not_authenticated")

    def test_it_answers_a_user_without_tasks_or_llm_with_an_empty_list_and_reasons(self):
        response = self.api(self.bob).get(URL)
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body["tips"], [])
        codes = {d["code"]: d["details"] for d in body["degraded"]}
        self.assertEqual(codes["tasks_unavailable"], {"reason": "not_connected"})
        self.assertIn("llm_skipped", codes)
        self.assertIn("no_candidates", codes)
        self.assertEqual(TipRequest.objects.get(user=self.bob).degraded, body["degraded"])

    def test_it_costs_the_same_queries_whatever_the_pool_size(self):
        counts = []
        for size in (1, 12):
            store_pool(self.alice, sample_pool(size))
            cache.clear()  # a cold cache: every read goes to the database
            with CaptureQueriesContext(connection) as queries:
                body = self.api(self.alice).get(URL, {"limit": 5}).json()
            self.assertEqual(len(body["tips"]), 5)
            counts.append(len(queries))
        self.assertEqual(counts[0], counts[1])
        # token, pool, sample integration, the user's time zone, then the cool-downs with the user's and the global
        # arm statistics in one statement, then the write.
        self.assertEqual(counts[0], 5 + SLATE_WRITE_QUERIES)

    def test_it_only_writes_once_what_it_reads_is_cached(self):
        self.api(self.alice).get(URL)
        with self.assertNumQueries(SLATE_WRITE_QUERIES):
            body = self.api(self.alice).get(URL, {"limit": 10}).json()
        self.assertEqual(TipScore.objects.filter(request_id=body["request_id"]).count(), 10)

    def test_a_warm_serve_builds_no_request_or_tip_model_instances(self):
        self.api(self.alice).get(URL)
        built = []

        def count(sender, **kwargs):
            built.append(sender)

        post_init.connect(count, sender=TipRequest)
        post_init.connect(count, sender=TipScore)
        try:
            response = self.api(self.alice).get(URL)
        finally:
            post_init.disconnect(count, sender=TipRequest)
            post_init.disconnect(count, sender=TipScore)
        self.assertEqual(len(response.json()["tips"]), 3)
        self.assertEqual(built, [])  # the slate is written from plain rows (recommender/services/slate_log.py)

    def test_postgresql_stops_planning_the_slate_write_once_it_repeats(self):
        for _ in range(6):  # DB_PREPARE_THRESHOLD (5) runs on one connection, then one more
            self.api(self.alice).get(URL)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["WITH request AS%"])
            self.assertEqual(cursor.fetchone()[0], 1)

    def test_it_learns_from_a_final_reward_at_once_despite_the_cache(self):
        tip = tips_serve(user=self.alice, limit=1).tips[0]
        self.assertNotIn(tip.arm, arm_estimates(user=self.alice))  # nobody has a reward on it yet (now cached)
        feedback_record(user=self.alice, tip_id=tip.pk, action="completed")
        self.assertEqual(arm_estimates(user=self.alice)[tip.arm].count, 1)


@pytest.mark.clock
class PropensityTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        connect_sample(self.alice)
        store_pool(self.alice, sample_pool(5))
        set_arm("llm:wellbeing", 100, 90)  # the unique best arm, globally
        set_arm("todoist:do_now", 100, 50)

    def test_it_logs_the_propensities_the_policy_computes_for_the_slate(self):
        served = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(42))
        # Replaying the policy on the same candidates and statistics with the same seed gives the logged slate.
        assembly = assemble(user=self.alice)
        replay = serving_policy().choose(
            assembly.candidates, arm_estimates(user=self.alice), np.random.default_rng(42), 3
        )
        logged = TipScore.objects.filter(request=served.request).order_by("position")
        self.assertEqual(
            [(r.title, r.propensity, r.score) for r in logged],
            [(c.candidate.title, c.propensity, c.score) for c in replay],
        )
        # And the numbers are epsilon-greedy's: the first pick is the best arm (greedy) or any (explore).
        n, epsilon = len(served.request.candidates), 0.1
        first = logged[0]
        expected = epsilon / n + (1 - epsilon) if first.tip_kind == "wellbeing" else epsilon / n
        self.assertAlmostEqual(first.propensity, expected)
        self.assertAlmostEqual(first.score, 0.9 if first.tip_kind == "wellbeing" else first.score)

    @override_settings(TIPS_EPSILON=0.0)
    def test_it_serves_the_best_arm_first_when_it_does_not_explore(self):
        served = tips_serve(user=self.alice, limit=1, rng=np.random.default_rng(0))
        self.assertEqual((served.tips[0].tip_kind, served.tips[0].propensity), ("wellbeing", 1.0))

    def test_it_serves_and_logs_with_every_configured_policy(self):
        for name in ("egreedy", "uniform", "thompson", "ucb1"):
            with self.subTest(policy=name), override_settings(TIPS_POLICY=name):
                served = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(3))
                self.assertEqual(served.request.policy, name)
                self.assertEqual(len(served.tips), 3)
                self.assertTrue(all(0 < t.propensity <= 1 for t in served.tips))

    def test_it_logs_the_infinite_ucb1_score_of_an_arm_nobody_has_rewarded(self):
        with override_settings(TIPS_POLICY="ucb1"):
            served = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(3))
        logged = TipScore.objects.filter(request=served.request).values_list("score", flat=True)
        self.assertEqual(list(logged), [float("inf")] * 3)

    def test_it_shrinks_a_new_users_estimate_to_the_global_mean_and_moves_with_their_own(self):
        fresh = arm_estimates(user=self.bob)["llm:wellbeing"]
        self.assertAlmostEqual(fresh.mean(), 0.9)
        set_arm("llm:wellbeing", 10, 0.0, user=self.bob)  # bob dismissed it ten times
        mine = arm_estimates(user=self.bob)["llm:wellbeing"]
        self.assertAlmostEqual(mine.mean(), (0 + 10 * 0.9) / (10 + 10))  # tau = 10 pseudo-tips at 0.9
        self.assertEqual(mine.count, 20)

    def test_it_never_weighs_the_global_prior_more_than_the_data_behind_it(self):
        set_arm("llm:plan", 2, 2.0)  # two rewards of 1 globally: worth 2 pseudo-tips, not 10
        set_arm("llm:plan", 2, 0.0, user=self.bob)
        self.assertAlmostEqual(arm_estimates(user=self.bob)["llm:plan"].mean(), 0.5)
        set_arm("llm:batch", 3, 1.5, user=self.bob)  # nobody else's data: the user's own
        self.assertAlmostEqual(arm_estimates(user=self.bob)["llm:batch"].mean(), 0.5)
        self.assertNotIn("llm:do_now", arm_estimates(user=self.bob))


@pytest.mark.clock
class AssembleTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        connect_sample(self.alice)
        store_pool(self.alice, [])  # fresh but empty: rule tips only, and no LLM call from this TestCase

    def offered(self, user=None):
        return assemble(user=user or self.alice).candidates

    def test_it_drops_candidates_naming_tasks_the_user_does_not_have(self):
        store_pool(
            self.alice, [llm_tip("do_now", ("sample-99",)), llm_tip("batch", ("sample-04", "gone")), *sample_pool(2)]
        )
        assembly = assemble(user=self.alice)
        named = {t for c in assembly.candidates for t in c.task_ids}
        self.assertNotIn("sample-99", named)
        self.assertNotIn("gone", named)
        self.assertEqual(assembly.dropped["unknown_task"], 2)

    def test_it_merges_an_llm_tip_and_a_rule_tip_about_the_same_tasks(self):
        rules_only = self.offered()
        urgent = next(c for c in rules_only if c.kind == "do_now")
        store_pool(self.alice, [llm_tip("do_now", urgent.task_ids, title="Renew it now, the LLM says")])
        merged = [c for c in self.offered() if c.key == urgent.key]
        self.assertEqual([(c.source, c.title) for c in merged], [("llm", "Renew it now, the LLM says")])
        self.assertEqual(len(self.offered()), len(rules_only))

    def test_it_holds_back_a_dismissed_tip_for_its_cooldown(self):
        store_pool(self.alice, sample_pool(4))
        served = tips_serve(user=self.alice, limit=10)
        tip = next(t for t in served.tips if t.task_ids)
        key = next(c.key for c in self.offered() if c.title == tip.title)
        feedback_record(user=self.alice, tip_id=tip.pk, action="dismissed", until=None, idempotency_key=None)
        self.assertNotIn(key, {c.key for c in self.offered()})
        self.assertIn(key, {c.key for c in self.offered(self.bob)} | {key})  # other users are unaffected
        FeedbackEvent.objects.filter(tip=tip).update(created_at=timezone.now() - timedelta(hours=73))
        serving_state_forget(user_id=self.alice.pk)  # the edit above bypasses the services that forget the cache
        self.assertIn(key, {c.key for c in self.offered()})

    def test_it_holds_back_a_snoozed_tip_until_the_snooze_ends(self):
        store_pool(self.alice, sample_pool(4))
        tip = next(t for t in tips_serve(user=self.alice, limit=10).tips if t.task_ids)
        key = next(c.key for c in self.offered() if c.title == tip.title)
        until = timezone.now() + timedelta(days=2)
        feedback_record(user=self.alice, tip_id=tip.pk, action="snoozed", until=until, idempotency_key=None)
        self.assertNotIn(key, {c.key for c in self.offered()})
        FeedbackEvent.objects.filter(tip=tip).update(until=timezone.now() - timedelta(seconds=1))
        serving_state_forget(user_id=self.alice.pk)  # the edit above bypasses the services that forget the cache
        self.assertIn(key, {c.key for c in self.offered()})


class CompletedTaskTests(FakeTodoistMixin, BaseTestCase):
    TOKEN = "tok-serving"

    def setUp(self):
        super().setUp()
        from integrations.services.tokens import integration_connect_token

        self.fake.add_account(self.TOKEN)
        self.done = self.fake.add_task(self.TOKEN, content="File taxes", priority=4, due=fake_due("2026-01-05"))
        self.fake.add_task(self.TOKEN, content="Water plants", priority=1)
        integration_connect_token(user=self.alice, token=self.TOKEN)

    def test_it_stops_serving_tips_about_a_task_once_it_is_completed(self):
        from integrations.cache_keys import tasks_cache_invalidate

        store_pool(self.alice, [llm_tip("do_now", (self.done["id"],), title="File the taxes today")])
        titles = [t["title"] for t in self.api(self.alice).get(URL, {"limit": 10}).json()["tips"]]
        self.assertIn("File the taxes today", titles)
        self.fake.complete_task(self.TOKEN, self.done["id"])
        tasks_cache_invalidate(user_id=self.alice.pk)  # what the completion webhook does
        tips = self.api(self.alice).get(URL, {"limit": 10}).json()["tips"]
        self.assertTrue(tips)
        self.assertNotIn(self.done["id"], {t["id"] for tip in tips for t in tip["tasks"]})

    def test_it_serves_only_task_free_tips_from_the_pool_when_todoist_is_down(self):
        from integrations.cache_keys import tasks_cache_invalidate

        store_pool(self.alice, [llm_tip("do_now", (self.done["id"],)), llm_tip("wellbeing", (), title="Breathe")])
        tasks_cache_invalidate(user_id=self.alice.pk)
        self.fake.script("/api/v1/", status=503, times=None)
        body = self.api(self.alice).get(URL, {"limit": 10}).json()
        self.assertEqual([t["title"] for t in body["tips"]], ["Breathe"])
        self.assertEqual([d["code"] for d in body["degraded"]], ["tasks_unavailable"])


@pytest.mark.clock
class IsolationTests(BaseTestCase):
    def test_it_serves_each_user_only_their_own_pool_and_tasks(self):
        connect_sample(self.alice)
        store_pool(self.alice, [llm_tip("wellbeing", (), title="Alice's walk")])
        store_pool(self.bob, [llm_tip("wellbeing", (), title="Bob's secret plan")])
        body = self.api(self.alice).get(URL, {"limit": 10}).json()
        titles = [t["title"] for t in body["tips"]]
        self.assertIn("Alice's walk", titles)
        self.assertNotIn("Bob's secret plan", titles)
        bob = self.api(self.bob).get(URL, {"limit": 10}).json()  # bob has no tasks: only his task-free tip
        self.assertEqual([t["title"] for t in bob["tips"]], ["Bob's secret plan"])
        self.assertEqual(TipScore.objects.filter(user=self.bob).count(), 1)


def test_each_thread_draws_from_a_generator_of_its_own_seeded_once():
    assert _thread_rng() is _thread_rng()  # seeded once, not per serve
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(_thread_rng).result()
    assert other is not _thread_rng()
    assert other.integers(2**62, size=4).tolist() != _thread_rng().integers(2**62, size=4).tolist()
