"""The chart pages keep their aggregate and chart a minute, per period and groups, and say when they computed them."""

from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from recommender.models import PolicyEvaluation, PolicyModel
from recommender.tests.test_admin import AdminTestCase, log_tips
from recommender.tests.test_admin_model_versions import serve

SUMMARY = reverse("admin:recommender_arm_summary")
MODELS = reverse("admin:recommender_policymodel_changelist")
EVALUATIONS = reverse("admin:recommender_policyevaluation_changelist")
LLAMA = ("plan", "llm", "ollama_chat/llama3:8b", "tips-v2", "completed", 1.0)


def served(response) -> int:
    return sum(row.served for row in response.context["rows"])


class ArmSummaryFiguresTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        log_tips(self.bob, [LLAMA] * 3)

    def test_a_reload_within_the_minute_reads_the_figures_without_the_aggregate(self):
        first = self.client.get(SUMMARY, {"period": "all"})
        log_tips(self.bob, [LLAMA] * 2)  # served after the figures were computed
        with self.assertNumQueries(2):  # the session and the user: no per-day aggregate
            again = self.client.get(SUMMARY, {"period": "all", "o": "served"})
        self.assertEqual(served(again), served(first))
        self.assertEqual(again.context["computed_at"], first.context["computed_at"])
        self.assertContains(again, f"Figures computed at {timezone.localtime(first.context['computed_at']):%H:%M:%S}")
        cache.clear()  # as a minute passing would
        self.assertEqual(served(self.client.get(SUMMARY, {"period": "all"})), served(first) + 2)

    def test_each_period_and_grouping_has_figures_of_its_own(self):
        before = served(self.client.get(SUMMARY, {"period": "all"}))
        log_tips(self.bob, [LLAMA] * 2)
        self.assertEqual(served(self.client.get(SUMMARY, {"period": "90d"})), before + 2)
        self.assertEqual(served(self.client.get(SUMMARY, {"period": "all", "group_by": ["source"]})), before + 2)


@override_settings(TIPS_POLICY="contextual")
class ModelVersionsFiguresTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        self.version = PolicyModel.objects.create(rows=10, weights=b"")
        serve(self.bob, policy="contextual", version=self.version.pk, shadow=None, tips=2)

    def tips_served(self) -> int:
        return self.client.get(MODELS).context["rows"][0]["served"]

    def test_a_reload_within_the_minute_reads_the_figures_and_a_new_version_computes_them(self):
        self.assertEqual(self.tips_served(), 2)
        serve(self.bob, policy="contextual", version=self.version.pk, shadow=None, tips=3)
        self.assertEqual(self.tips_served(), 2)  # the minute's figures
        newer = PolicyModel.objects.create(rows=1, weights=b"")  # a version the figures do not know of
        rows = {row["version"]: row["served"] for row in self.client.get(MODELS).context["rows"]}
        self.assertEqual(rows, {newer.pk: 0, self.version.pk: 5})


def evaluation(model: PolicyModel, gain: float) -> PolicyEvaluation:
    """A finished evaluation of `model` whose target beats the logged policy by `gain`."""
    now = timezone.now()

    def estimate(value: float) -> dict:
        return {"value": value, "low": value - 0.01, "high": value + 0.01}

    result = {"n": 500, "logged": estimate(0.2), "target": estimate(0.2 + gain), "difference": estimate(gain)}
    return PolicyEvaluation.objects.create(
        model=model, actor="ops", status=PolicyEvaluation.Status.DONE, started_at=now, finished_at=now,
        result={**result, "ess": 200.0, "ess_share": 0.4}, passed=gain > 0.01,
    )  # fmt: skip


class EvaluationsChartTests(AdminTestCase):
    def test_the_chart_is_drawn_once_per_set_of_finished_runs_and_a_new_run_shows_at_once(self):
        model = PolicyModel.objects.create(rows=10, weights=b"")
        first = evaluation(model, 0.03)
        chart = self.client.get(EVALUATIONS).context["chart"]
        self.assertIn(f"#{first.pk} v{model.pk}", chart)
        # A finished run is never rewritten; were it, the page would still show the chart it drew.
        PolicyEvaluation.objects.filter(pk=first.pk).update(passed=False)
        self.assertEqual(self.client.get(EVALUATIONS).context["chart"], chart)
        second = evaluation(model, -0.02)
        redrawn = self.client.get(EVALUATIONS).context["chart"]  # at once, not a minute later
        self.assertIn(f"#{first.pk} v{model.pk}", redrawn)
        self.assertIn(f"#{second.pk} v{model.pk}", redrawn)
