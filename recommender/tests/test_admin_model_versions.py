"""The model versions page: serving and shadow versions, tips served and apprentice agreement, the learning curve."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from recommender.admin_arm_stats import wilson_interval
from recommender.admin_chart import Series
from recommender.admin_loop_charts import cumulative
from recommender.models import PolicyModel, PolicySwitch, TipRequest
from recommender.tests.test_admin import log_tips
from testsupport.cases import BaseTestCase

PAGE = reverse("admin:recommender_policymodel_changelist")
TIP = ("do_now", "llm", "ollama_chat/qwen2.5:7b", "tips-v1", "accepted", 0.75)


def serve(user, *, policy: str, version: int | None, shadow: tuple[int, bool] | None, tips: int, days_ago: int = 0):
    """Log one request of `tips` tips scored by model `version`, with the shadow model's (version, agrees)."""
    tips_logged = log_tips(user, [TIP] * tips, served_at=timezone.now() - timedelta(days=days_ago))
    params = {"shadow": {"model_version": shadow[0], "probability": 0.3, "agrees": shadow[1]}} if shadow else {}
    TipRequest.objects.filter(pk=tips_logged[0].request_id).update(
        policy=policy, model_version=version, policy_params=params
    )


@override_settings(TIPS_POLICY="contextual")
class ModelVersionsPageTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        operator = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
        self.client.force_login(operator)
        self.serving = PolicyModel.objects.create(rows=10, weights=b"")
        self.shadow = PolicyModel.objects.create(parent=self.serving, rows=20, total_rows=30, weights=b"")
        PolicySwitch.objects.create(policy="contextual", model=self.serving, actor="ops")
        for agrees in (True, True, True, False):  # the shadow model agreed with 3 of 4 serves
            serve(self.alice, policy="contextual", version=self.serving.pk, shadow=(self.shadow.pk, agrees), tips=2)
        serve(self.bob, policy="egreedy", version=None, shadow=None, tips=3)
        serve(self.bob, policy="contextual", version=self.serving.pk, shadow=None, tips=1, days_ago=40)

    def rows(self, response):
        return {row["version"]: row for row in response.context["rows"]}

    def test_it_names_the_serving_and_the_shadow_version(self):
        response = self.client.get(PAGE)
        self.assertContains(response, f"Serving model: <strong>v{self.serving.pk}</strong>")
        self.assertContains(response, f"Shadow (apprentice) model: <strong>v{self.shadow.pk}</strong>")
        rows = self.rows(response)
        self.assertEqual((rows[self.serving.pk]["role"], rows[self.shadow.pk]["role"]), ("serving", "shadow"))

    def test_it_counts_tips_served_and_agreement_with_its_interval_in_the_period(self):
        rows = self.rows(self.client.get(PAGE))  # the last 7 days: bob's 40-day-old tip is outside
        self.assertEqual((rows[self.serving.pk]["served"], rows[self.shadow.pk]["served"]), (8, 0))
        shadow = rows[self.shadow.pk]
        self.assertEqual((shadow["shadowed"], shadow["agreed"], shadow["rate"]), (4, 3, "75.0%"))
        interval = wilson_interval(3, 4)
        self.assertEqual(shadow["interval"], f"[{interval.low:.1%}, {interval.high:.1%}]")
        self.assertTrue(shadow["small"])  # 4 shadowed serves < 30
        response = self.client.get(PAGE, {"period": "all"})
        self.assertEqual(self.rows(response)[self.serving.pk]["served"], 9)
        self.assertContains(response, "75.0%")
        self.assertContains(response, "Small sample")

    def test_it_draws_the_serving_policys_learning_curve(self):
        response = self.client.get(PAGE, {"period": "all"})
        self.assertContains(response, "<svg")
        self.assertContains(response, "contextual: mean final reward per day and cumulative")

    def test_without_any_model_it_says_so(self):
        PolicySwitch.objects.all().delete()
        TipRequest.objects.all().delete()
        PolicyModel.objects.all().delete()
        response = self.client.get(PAGE)
        self.assertContains(response, "No model version is trained yet.")
        self.assertContains(response, "The contextual policy served no tip in this period.")

    def test_a_request_page_names_the_model_that_scored_it_and_what_the_apprentice_thought(self):
        request = TipRequest.objects.filter(policy_params__has_key="shadow").order_by("id").first()
        response = self.client.get(reverse("admin:recommender_tiprequest_change", args=[request.pk]))
        self.assertContains(response, f'<div class="readonly">{self.serving.pk}</div>', html=True)
        self.assertContains(
            response, f"v{self.shadow.pk} agreed with the tip served first (its probability for that tip: 0.3)"
        )

    def test_its_queries_do_not_grow_with_versions_or_tips(self):
        self.client.get(PAGE)
        cache.clear()  # the figures computed, not the minute's cached ones (test_admin_figures_cache.py)
        # session, user, versions, switch, newest, tips per day and shadow agreement (each: the rollup's bound, then
        # live, as there is no rollup here)
        with self.assertNumQueries(9) as few:
            self.client.get(PAGE)
        for _ in range(3):
            newer = PolicyModel.objects.create(rows=1, weights=b"")
            serve(self.alice, policy="contextual", version=newer.pk, shadow=(self.shadow.pk, False), tips=3)
        with self.assertNumQueries(len(few.captured_queries)):
            self.client.get(PAGE)


class CumulativeTests(BaseTestCase):
    def test_the_running_mean_and_its_deviation_pool_the_days_exactly(self):
        # Day 1: rewards 0 and 1 (mean 0.5, sd 0.7071); day 2: none; day 3: 1, 1, 1, 0 (mean 0.75, sd 0.5).
        series = Series("x", rewarded=[2, 0, 4], mean=[0.5, float("nan"), 0.75], sd=[0.5**0.5, float("nan"), 0.5])
        running = cumulative(series)
        self.assertAlmostEqual(running.mean[0], 0.5)
        self.assertAlmostEqual(running.mean[1], 0.5)
        self.assertAlmostEqual(running.mean[2], 4 / 6)
        # The same as over the six rewards themselves (the high end is clipped at 1: the low end is compared).
        values = [0, 1, 1, 1, 1, 0]
        mean = sum(values) / 6
        sd = (sum((v - mean) ** 2 for v in values) / 5) ** 0.5
        self.assertAlmostEqual(running.mean[2] - running.low[2], 1.959963984540054 * sd / 6**0.5)
