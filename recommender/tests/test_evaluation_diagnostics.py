"""Evaluation says where it cannot be trusted: weights by position, missing support, propensities the logs contradict,
and why tips were skipped."""

import json
from datetime import timedelta
from io import StringIO

from django.core.management import CommandError, call_command
from django.test import SimpleTestCase, TestCase, override_settings
from django.utils import timezone

from recommender.evaluation.logs import SlateBuilder
from recommender.evaluation.offline import evaluate
from recommender.evaluation.simulation import simulate, simulated_policy
from recommender.evaluation.world import ARMS
from recommender.models import TipRequest, TipScore
from recommender.policies import get_policy
from testsupport.cases import make_user


def evaluate_logs(result, logs, target, *, positions="all", rows=None, logging=None):
    builder = SlateBuilder(ARMS).extend(rows if rows is not None else result.logged_rows(logs))
    return evaluate(
        slates=builder.build(), events=result.reward_events(logs, builder.arm_id), policy=target,
        n_arms=len(builder.arm_ids), positions=positions, shrinkage=result.shrinkage,
        logging=logging if logging is not None else {logs: simulated_policy(logs, result.epsilon)},
    )  # fmt: skip


class WeightDiagnosticsTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The case: egreedy's slates of three (its logs), and UCB1 (deterministic) as the target.
        cls.result = simulate(users=100, rounds=50, policies=("egreedy",), seed=8, slate=3, keep=("egreedy",))

    def test_a_deterministic_target_on_whole_slates_warns_that_weights_do_not_average_one(self):
        evaluation = evaluate_logs(self.result, "egreedy", get_policy("ucb1"))
        means = [d.mean_weight.value for d in evaluation.diagnostics]
        self.assertEqual([d.position for d in evaluation.diagnostics], [0, 1, 2, None])
        # The figures of the issue (its ESS of 204.5 raised no warning): 0.90 / 0.48 / 0.21.
        self.assertEqual([round(m, 2) for m in means], [0.90, 0.48, 0.21, 0.53])
        self.assertAlmostEqual(evaluation.ips.value, 0.2959, places=4)
        self.assertGreater(evaluation.ips.ess, 200)
        self.assertFalse(evaluation.reliable)
        for position in (2, 3):
            self.assertTrue(any(f"mean importance weight at position {position} is" in w for w in evaluation.warnings))
        self.assertFalse(any("mean importance weight at position 1" in w for w in evaluation.warnings))

    def test_the_logging_policy_on_its_own_slates_passes_every_check(self):
        evaluation = evaluate_logs(self.result, "egreedy", simulated_policy("egreedy", self.result.epsilon))
        for diagnostic in evaluation.diagnostics:
            self.assertAlmostEqual(diagnostic.mean_weight.value, 1.0, places=9)
            self.assertEqual((diagnostic.unsupported, diagnostic.mismatched), (0.0, 0))
        self.assertEqual(evaluation.warnings, [])

    def test_target_mass_where_the_logging_policy_had_none_is_reported(self):
        greedy = simulate(users=20, rounds=20, policies=("egreedy",), seed=2, epsilon=0.0, keep=("egreedy",))
        evaluation = evaluate_logs(greedy, "egreedy", get_policy("uniform"), positions="first")
        unsupported = evaluation.diagnostics[0].unsupported
        self.assertGreater(unsupported, 0.5)  # uniform spreads over ~7 candidates, greedy logs one of them
        self.assertIn(f"the target puts {unsupported:.1%} of its picks at position 1", " ".join(evaluation.warnings))

    def test_logged_propensities_the_replay_contradicts_are_counted(self):
        rows = list(self.result.logged_rows("egreedy"))
        tampered = [r._replace(propensity=0.5) if r.request_id % 10 == 0 and r.position == 0 else r for r in rows]
        target = simulated_policy("egreedy", self.result.epsilon)
        evaluation = evaluate_logs(self.result, "egreedy", target, positions="first", rows=tampered)
        wrong = sum(1 for r in rows if r.request_id % 10 == 0 and r.position == 0 and abs(r.propensity - 0.5) > 0.05)
        self.assertGreater(wrong, 0)
        self.assertEqual(evaluation.diagnostics[0].mismatched, wrong)
        self.assertIn(f"{wrong} of 5000 logged propensities at position 1 differ", " ".join(evaluation.warnings))

    def test_an_unknown_logging_policy_is_not_checked(self):
        evaluation = evaluate_logs(self.result, "egreedy", get_policy("uniform"), positions="first", logging={})
        self.assertNotIn("mismatched", " ".join(evaluation.warnings))
        self.assertEqual(evaluation.diagnostics[0].mismatched, 0)
        self.assertNotEqual(evaluation.diagnostics[0].unsupported, evaluation.diagnostics[0].unsupported)  # NaN


@override_settings(TIPS_REWARD_WINDOW_H=24.0)
class SkipReasonTests(TestCase):
    def serve(self, user, *, served_at, final: bool, arm: str = "todoist:do_now", offered: str | None = None):
        offered = [{"arm": offered or arm}, {"arm": "llm:plan"}]
        request = TipRequest.objects.create(user=user, policy="uniform", candidates=offered, created_at=served_at)
        source, kind = arm.split(":")
        TipScore.objects.create(
            request=request, user=user, position=0, source=source, tip_kind=kind, title="t", score=0.5,
            propensity=0.5, served_at=served_at, reward=0.0 if final else None,
            finalized_at=served_at + timedelta(hours=1) if final else None,
        )  # fmt: skip
        return request

    def test_when_every_tip_is_pending_it_says_when_the_earliest_window_closes(self):
        alice = make_user("alice")
        first = timezone.now() - timedelta(hours=3)
        self.serve(alice, served_at=first, final=False)
        self.serve(alice, served_at=first + timedelta(hours=1), final=False)
        closes = (first + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S")
        with self.assertRaises(CommandError) as caught:
            call_command("evaluate_policy", "--policy", "uniform")
        message = str(caught.exception)
        self.assertIn("every served tip was skipped (2 pending)", message)
        self.assertIn("reward window (TIPS_REWARD_WINDOW_H) is still open", message)
        self.assertIn(f"The earliest pending tip's reward window closes at {closes}", message)

    def test_each_skip_reason_is_explained_in_the_table(self):
        alice = make_user("alice")
        now = timezone.now()
        self.serve(alice, served_at=now - timedelta(days=3), final=True)
        self.serve(alice, served_at=now - timedelta(hours=2), final=False)
        # A batch tip served from a request that offered no batch candidate.
        self.serve(alice, served_at=now - timedelta(days=2), final=True, arm="llm:batch", offered="llm:do_now")
        out = StringIO()
        call_command("evaluate_policy", "--policy", "uniform", stdout=out)
        text = out.getvalue()
        self.assertIn("tips skipped: 2", text)
        self.assertIn("1 inconsistent: the log contradicts itself", text)
        self.assertIn("1 pending: a reward is not final yet", text)
        closes = (now - timedelta(hours=2) + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
        self.assertIn(f"the earliest open window closes at {closes}", text)
        out = StringIO()
        call_command("evaluate_policy", "--policy", "uniform", "--json", stdout=out)
        self.assertEqual(json.loads(out.getvalue())["skipped"], {"inconsistent": 1, "pending": 1})
