"""The arm comparison decides: 95% intervals, a small-sample warning, sorting, percentages, a period with data."""

import re
from datetime import timedelta
from statistics import NormalDist, mean, stdev

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from recommender.admin_arm_stats import MIN_SAMPLE, wilson_interval
from recommender.admin_chart import LEGEND_CHARS, legend_label
from recommender.tests.test_admin import AdminTestCase, log_tips

SUMMARY = reverse("admin:recommender_arm_summary")
LLAMA = ("plan", "llm", "ollama_chat/llama3:8b", "tips-v2")


def chart_svg(content: str) -> str:
    """The chart's <svg> element (the admin's own page has icon SVGs too)."""
    figure = content.split('<figure class="arm-chart">', 1)[1].split("</figure>", 1)[0]
    return figure[figure.index("<svg") : figure.index("</svg>")]


def row_html(content: str, first_cell: str) -> str:
    """The <tr> of the arm table whose first cell is `first_cell`."""
    table = content.split('id="arm-summary"', 1)[1]
    for row in re.findall(r"<tr[^>]*>.*?</tr>", table, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if cells and cells[0].strip() == first_cell:
            return row
    raise AssertionError(f"no row starts with {first_cell!r}")


class ArmIntervalTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        # A large group: 100 tips of one arm, 40 with feedback, every reward final (half of them 1, half 0).
        self.rewards = [1.0] * 50 + [0.0] * 50
        log_tips(
            self.bob,
            [(*LLAMA, "completed" if i < 40 else None, reward) for i, reward in enumerate(self.rewards)],
            served_at=timezone.now() - timedelta(hours=1),
        )
        self.rows = {
            r.group["llm_model"]: r for r in self.client.get(SUMMARY, {"group_by": ["llm_model"]}).context["rows"]
        }

    def test_a_large_group_has_wilson_and_normal_intervals_and_no_warning(self):
        large = self.rows["ollama_chat/llama3:8b"]  # plus alice's one dismissed llama3 tip from setUp
        self.assertEqual((large.served, large.with_feedback, large.rewarded), (101, 41, 101))
        p, n, z = 41 / 101, 101, NormalDist().inv_cdf(0.975)
        # Wilson's score interval, written out here from its definition.
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
        self.assertAlmostEqual(large.feedback_interval.low, centre - half, places=9)
        self.assertAlmostEqual(large.feedback_interval.high, centre + half, places=9)
        rewards = [*self.rewards, 0.0]
        se = stdev(rewards) / len(rewards) ** 0.5
        self.assertAlmostEqual(large.reward_interval.low, mean(rewards) - z * se, places=9)
        self.assertAlmostEqual(large.reward_interval.high, mean(rewards) + z * se, places=9)
        self.assertEqual(large.warnings, [])
        row = row_html(self.client.get(SUMMARY, {"group_by": ["llm_model"]}).content.decode(), "ollama_chat/llama3:8b")
        self.assertIn(f"{p:.1%}", row)  # 40.6%, not 0.406
        self.assertIn(f"[{centre - half:.1%}, {centre + half:.1%}]", row)
        self.assertNotIn("Small sample", row)

    def test_a_small_group_is_marked_and_its_interval_is_wide(self):
        small = self.rows["ollama_chat/qwen2.5:7b"]  # alice's one accepted tip
        self.assertEqual((small.served, small.feedback_rate), (1, 1.0))
        self.assertEqual(small.feedback_interval, wilson_interval(1, 1))
        self.assertLess(small.feedback_interval.low, 0.25)  # 100% of one tip decides nothing
        self.assertEqual(small.feedback_interval.high, 1.0)
        self.assertIsNone(small.reward_interval)  # one reward has no standard deviation
        self.assertEqual(
            small.warnings,
            [f"tips served: 1 < {MIN_SAMPLE}", f"final rewards: 1 < {MIN_SAMPLE}"],
        )
        row = row_html(self.client.get(SUMMARY, {"group_by": ["llm_model"]}).content.decode(), "ollama_chat/qwen2.5:7b")
        self.assertIn("Small sample", row)
        self.assertIn("100.0%", row)
        self.assertIn("no interval", row)

    def test_wilson_matches_published_values(self):
        # Newcombe (1998), Statistics in Medicine 17, table I: 81/263 -> [0.2553, 0.3662]; 15/148 -> [0.0624, 0.1605].
        for successes, n, low, high in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 10, 0.0, 0.2775)):
            interval = wilson_interval(successes, n)
            self.assertAlmostEqual(interval.low, low, places=4)
            self.assertAlmostEqual(interval.high, high, places=4)
        self.assertIsNone(wilson_interval(0, 0))


class ArmSummaryPageTests(AdminTestCase):
    def test_it_labels_columns_for_people_and_says_which_intervals(self):
        response = self.client.get(SUMMARY)
        for label in ("Prompt version", "LLM model", "Kind", "Tips served", "Feedback rate (95% interval)"):
            self.assertContains(response, label)
        self.assertContains(response, "Wilson score interval")
        self.assertNotContains(response, "prompt_version</th>")
        self.assertContains(response, "(rule tip)")

    def test_it_sorts_by_any_column_in_both_directions(self):
        log_tips(self.bob, [(*LLAMA, None, 0.0)] * 3)
        rates = [r.feedback_rate for r in self.client.get(SUMMARY, {"o": "feedback_rate"}).context["rows"]]
        self.assertEqual(rates, sorted(rates))
        rates = [r.feedback_rate for r in self.client.get(SUMMARY, {"o": "-feedback_rate"}).context["rows"]]
        self.assertEqual(rates, sorted(rates, reverse=True))
        response = self.client.get(SUMMARY, {"o": "-mean_reward"})
        rewards = [r.mean_reward for r in response.context["rows"]]
        self.assertIsNone(rewards[-1])  # no final reward sorts last either way
        self.assertEqual(rewards[:-1], sorted(rewards[:-1], reverse=True))
        self.assertContains(response, "?o=mean_reward")  # its header now offers the other direction
        versions = [
            r.group["prompt_version"] for r in self.client.get(SUMMARY, {"o": "prompt_version"}).context["rows"]
        ]
        self.assertEqual(versions, sorted(versions))

    def test_it_defaults_to_all_time_when_the_last_week_is_empty(self):
        self.alice.tip_scores.update(served_at=timezone.now() - timedelta(days=20))
        response = self.client.get(SUMMARY)
        self.assertEqual(response.context["period"].key, "all")
        self.assertContains(response, "<strong>All time</strong>")
        self.assertEqual(sum(r.served for r in response.context["rows"]), 4)
        self.assertContains(response, "?period=7d")  # the other periods are one click away, without JavaScript

    def test_it_shows_the_last_week_when_it_has_tips_and_any_preset_on_request(self):
        self.assertEqual(self.client.get(SUMMARY).context["period"].key, "7d")
        response = self.client.get(SUMMARY, {"period": "90d", "group_by": ["source"]})
        self.assertEqual({r.group["source"]: r.served for r in response.context["rows"]}, {"llm": 2, "todoist": 2})

    def test_it_groups_by_the_serving_policy(self):
        rows = self.client.get(SUMMARY, {"period": "all", "group_by": ["policy", "source"]}).context["rows"]
        self.assertEqual(
            {tuple(r.group.values()): r.served for r in rows}, {("llm", "egreedy"): 2, ("todoist", "egreedy"): 2}
        )

    def test_staff_without_the_view_permission_is_refused(self):
        staff = get_user_model().objects.create_user("staff", "staff@example.org", "pw", is_staff=True)
        self.client.force_login(staff)
        self.assertEqual(self.client.get(SUMMARY).status_code, 403)


class ArmChartTests(AdminTestCase):
    def test_the_page_draws_an_inline_svg_chart_with_its_95_percent_band(self):
        for days_ago in (1, 2, 3):
            log_tips(
                self.bob,
                [(*LLAMA, "completed", 1.0), (*LLAMA, None, 0.0)],
                served_at=timezone.now() - timedelta(days=days_ago),
            )
        response = self.client.get(SUMMARY, {"period": "30d"})
        content = response.content.decode()
        self.assertNotIn("<?xml", content)  # inline, not a standalone document
        chart = chart_svg(content)
        self.assertIn("95%", chart)
        self.assertIn("Tips served per day", chart)
        # The legend names the groups, in lines that fit its column (the chart's layout is fixed).
        self.assertIn(">tips-v2 · ollama_chat/llama3:8b</text>", chart)
        self.assertIn(">plan</text>", chart)
        self.assertNotIn("<script", chart)

    def test_a_long_legend_label_is_broken_between_group_values_then_within_them(self):
        self.assertEqual(
            legend_label("tips-v2 · ollama_chat/llama3:8b · plan"), "tips-v2 · ollama_chat/llama3:8b\nplan"
        )
        self.assertEqual(legend_label("rules-v1 · (rule tip) · do_now"), "rules-v1 · (rule tip) · do_now")
        lines = legend_label("a-prompt · " + "x" * 40 + " · kind").split("\n")
        self.assertEqual(lines, ["a-prompt", "x" * LEGEND_CHARS, "x" * (40 - LEGEND_CHARS) + " · kind"])

    def test_a_label_with_markup_is_text_in_the_chart(self):
        log_tips(self.bob, [("plan", "llm", "<b>evil</b>", "tips-v2", "completed", 1.0)])
        chart = chart_svg(self.client.get(SUMMARY).content.decode())
        self.assertNotIn("<b>evil</b>", chart)
        self.assertIn("&lt;b&gt;evil&lt;/b&gt;", chart)

    def test_no_chart_without_tips(self):
        self.alice.tip_scores.all().delete()
        self.bob.tip_scores.all().delete()
        response = self.client.get(SUMMARY)
        self.assertNotContains(response, 'class="arm-chart"')
        self.assertContains(response, "No tips were served in this period.")
