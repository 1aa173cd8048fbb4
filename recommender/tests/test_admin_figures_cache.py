"""The chart pages keep their aggregate and chart a minute, per period and groups, and say when they computed them."""

from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from recommender.models import PolicyModel
from recommender.tests.test_admin import AdminTestCase, log_tips
from recommender.tests.test_admin_model_versions import serve

SUMMARY = reverse("admin:recommender_arm_summary")
MODELS = reverse("admin:recommender_policymodel_changelist")
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
