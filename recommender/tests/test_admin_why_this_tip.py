"""Why this tip: a served request's page lists every offered candidate with its probability, served ones marked."""

import re

import numpy as np
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from recommender.models import TipRequest
from recommender.services.serving import tips_serve
from recommender.tests.serving_utils import connect_sample, sample_pool, set_arm, store_pool
from testsupport.cases import BaseTestCase


def candidate_rows(content: str) -> list[list[str]]:
    """The cells of every candidate row of the why-this-tip table, tags stripped."""
    table = content.split('<table class="why-this-tip">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="candidate[^"]*">(.*?)</tr>', table, flags=re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows
    ]


@override_settings(TIPS_POLICY="egreedy", TIPS_EPSILON=0.2)
class WhyThisTipTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        for user in (self.alice, self.bob):
            connect_sample(user)
            store_pool(user, sample_pool(6))
        set_arm("llm:do_now", 10, 9.0)  # one clearly best arm: the greedy share goes to its candidates
        self.served = tips_serve(user=self.alice, limit=2, rng=np.random.default_rng(7))
        self.request = TipRequest.objects.get(pk=self.served.request.pk)
        self.bobs = tips_serve(user=self.bob, limit=1, rng=np.random.default_rng(8)).request
        operator = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
        self.client.force_login(operator)

    def page(self, request):
        response = self.client.get(reverse("admin:recommender_tiprequest_change", args=[request.pk]))
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_it_lists_every_logged_candidate_with_its_probability(self):
        rows = candidate_rows(self.page(self.request))
        logged = self.request.candidates
        self.assertGreater(len(logged), 6)  # the LLM pool and the rule tips from the sample tasks
        self.assertEqual([(r[1], r[2], r[3]) for r in rows], [(c["arm"], c["kind"], c["source"]) for c in logged])
        self.assertEqual([r[4] for r in rows], [", ".join(c["task_ids"]) or "—" for c in logged])
        probabilities = [float(r[7]) for r in rows]
        self.assertAlmostEqual(sum(probabilities), 1.0, places=2)
        # Egreedy: epsilon spread over all candidates, the rest over the best arm's.
        n, best = len(logged), sum(c["arm"] == "llm:do_now" for c in logged)
        for row, candidate in zip(probabilities, logged, strict=True):
            expected = 0.2 / n + (0.8 / best if candidate["arm"] == "llm:do_now" else 0.0)
            self.assertAlmostEqual(row, expected, delta=5e-4 * max(expected, 1))

    def test_the_served_tips_are_marked_at_their_position_with_their_logged_propensity(self):
        rows = candidate_rows(self.page(self.request))
        marked = [r for r in rows if r[0].startswith("✓")]
        self.assertEqual([r[0] for r in marked], ["✓ 1", "✓ 2"])
        for row, tip in zip(marked, self.served.tips, strict=True):
            self.assertEqual(row[1], tip.arm)
            self.assertEqual(row[9], f"{tip.propensity:.3g}")
        # The first pick's logged propensity is the replayed probability of being picked first.
        self.assertEqual(marked[0][7], marked[0][9])
        self.assertTrue(all(r[9] == "—" for r in rows if not r[0].startswith("✓")))

    def test_it_shows_only_this_requests_candidates(self):
        mine, bobs = self.page(self.request), self.page(self.bobs)
        self.assertEqual(len(candidate_rows(bobs)), len(self.bobs.candidates))
        self.assertEqual([r[0] for r in candidate_rows(bobs) if r[0] != "—"], ["✓ 1"])
        self.assertNotIn(f"request {self.bobs.pk}", mine)
        self.assertNotIn('"candidates"', mine)  # the table replaces the JSON blob

    def test_without_logged_estimates_it_says_why_there_is_no_probability(self):
        TipRequest.objects.filter(pk=self.request.pk).update(arm_estimates=None)
        content = self.page(self.request)
        self.assertIn("logged no arm estimates", content)
        self.assertTrue(all(r[7] == "—" for r in candidate_rows(content)))

    def test_a_tip_scores_page_links_to_its_request(self):
        tip = self.served.tips[1]
        response = self.client.get(reverse("admin:recommender_tipscore_change", args=[tip.pk]))
        url = reverse("admin:recommender_tiprequest_change", args=[tip.request_id])
        self.assertContains(response, f'<a href="{url}">All candidates of request {tip.request_id}')

    def test_a_policy_this_version_cannot_replay_still_lists_its_candidates(self):
        TipRequest.objects.filter(pk=self.request.pk).update(policy="retired")
        content = self.page(self.request)
        self.assertIn("The policy &#x27;retired&#x27; cannot be replayed by this version", content)
        rows = candidate_rows(content)
        self.assertEqual(len(rows), len(self.request.candidates))
        self.assertTrue(all(r[7] == "—" for r in rows))
        self.assertEqual([r[0] for r in rows if r[0] != "—"], ["✓ 1", "✓ 2"])
