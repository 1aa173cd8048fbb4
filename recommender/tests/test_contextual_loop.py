"""The contextual loop: logs from epsilon-greedy, a model trained on them, evaluated, promoted, then served."""

import json
from io import StringIO

import numpy as np
from django.core.management import CommandError, call_command
from django.test import override_settings

from recommender.evaluation.recording import simulation_logs_write
from recommender.evaluation.simulation import simulate
from recommender.evaluation.simulation_result import finalized_time
from recommender.models import PolicyModel, PolicySwitch, TipRequest
from recommender.policies.contextual import TRAINING_PASSES, ContextualModel
from recommender.policies.features import action_lines, shared_line
from recommender.selectors.contextual import logged_examples, newest_model, serving_switch
from recommender.services.contextual import (
    SERVING_MODEL,
    model_evaluate,
    policy_model_train,
    policy_promote,
    serving_model_reload,
)
from recommender.services.serving import MODEL_UNAVAILABLE, tips_serve
from recommender.tests.serving_utils import connect_sample, sample_pool, store_pool
from testsupport.cases import BaseTestCase, metric_value
from tipengine.domain_errors import Conflict

TRAIN_ROUNDS = 20


def forget_serving_model() -> None:
    SERVING_MODEL.model, SERVING_MODEL.switch_id = None, None
    SERVING_MODEL.shadow, SERVING_MODEL.shadow_id = None, None


@override_settings(TIPS_PROMOTION_MIN_ROWS=500, TIPS_MODEL_RELOADER=False)
class ContextualLoopTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(forget_serving_model)
        # Epsilon-greedy serves 100 simulated users for 30 rounds of the contextual world; its logs are written
        # as serving writes them (candidates with features, estimates, propensities, final rewards).
        self.result = simulate(users=200, rounds=30, policies=("egreedy",), keep=("egreedy",), world="contextual")
        simulation_logs_write(result=self.result, policy="egreedy")
        self.cutoff = finalized_time(self.result.start, TRAIN_ROUNDS - 1)

    def test_a_model_trained_on_the_logs_is_evaluated_better_promoted_and_served(self):
        version = policy_model_train(until=self.cutoff)
        self.assertEqual(version.rows, 200 * TRAIN_ROUNDS)
        evaluation = model_evaluate(model_id=version.pk)
        self.assertEqual(evaluation.n, 200 * (30 - TRAIN_ROUNDS))
        self.assertGreater(evaluation.difference.low, 0.0)  # the paired interval excludes zero
        switch = policy_promote(model_id=version.pk, actor="alice")
        self.assertFalse(switch.overridden)
        self.assertTrue(switch.evaluation["passed"])

        with override_settings(TIPS_POLICY="contextual"):
            connect_sample(self.alice)
            store_pool(self.alice, sample_pool(6))
            before = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(0)).request
            self.assertEqual(before.policy, "egreedy")
            self.assertIn(MODEL_UNAVAILABLE, [d["code"] for d in before.degraded])
            serving_model_reload()
            served = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(0))
        request = TipRequest.objects.get(pk=served.request.pk)
        self.assertEqual((request.policy, request.model_version), ("contextual", version.pk))
        self.assertNotIn(MODEL_UNAVAILABLE, [d["code"] for d in request.degraded])
        self.assertEqual(len(served.tips), 3)
        self.assertTrue(all(0 < tip.propensity <= 1 for tip in served.tips))

    def test_evaluate_policy_gives_a_model_version_its_paired_interval(self):
        version = policy_model_train(until=self.cutoff)
        out = StringIO()
        call_command("evaluate_policy", "--model", str(version.pk), "--json", stdout=out)
        clipped = json.loads(out.getvalue())
        self.assertEqual((clipped["model"], clipped["estimator"], clipped["n"]), (version.pk, "dr", 200 * 10))
        self.assertGreater(clipped["difference"]["low"], 0.0)
        out = StringIO()
        call_command("evaluate_policy", "--model", str(version.pk), "--switch", "5", stdout=out)
        self.assertIn(f"Contextual model v{version.pk} on 2000 held-out first picks (Switch-DR at 5)", out.getvalue())
        self.assertRegex(out.getvalue(), r"model - logged +\+0\.\d+  95% \[\+0\.\d+, \+0\.\d+\]")

    def test_it_refuses_a_worse_model_and_changes_nothing(self):
        # A model taught the opposite of what users answered: it prefers what they like least.
        model = ContextualModel()
        for example in logged_examples(until=self.cutoff):
            lines = shared_line(example.candidates, example.stats), action_lines(example.candidates)
            model.learn(*lines, example.chosen, 1.0 - example.reward, example.propensity)
        worse = PolicyModel.objects.create(trained_until=self.cutoff, rows=1, weights=model.to_bytes())
        self.assertLess(model_evaluate(model_id=worse.pk).difference.high, 0.0)
        with self.assertRaisesMessage(Conflict, "is not promoted"):
            policy_promote(model_id=worse.pk, actor="alice")
        self.assertFalse(PolicySwitch.objects.exists())

    def test_an_override_is_recorded_as_such(self):
        worse = PolicyModel.objects.create(
            trained_until=self.result.start, rows=1, weights=ContextualModel().to_bytes()
        )
        switch = policy_promote(model_id=worse.pk, actor="alice", override=True, reason="trial week")
        self.assertEqual((switch.overridden, switch.reason, switch.actor), (True, "trial week", "alice"))
        self.assertFalse(switch.evaluation["passed"])

    def test_training_is_incremental_and_skips_an_empty_round(self):
        first = policy_model_train(until=self.cutoff)
        second = policy_model_train()
        self.assertEqual((second.parent_id, second.rows, second.total_rows), (first.pk, 2000, 6000))
        self.assertEqual(second.metrics["passes"], TRAINING_PASSES)
        self.assertIsNone(policy_model_train())

    def test_a_corrupt_model_leaves_the_baseline_serving(self):
        broken = PolicyModel.objects.create(rows=1, weights=b"not a model")
        PolicySwitch.objects.create(policy="contextual", model=broken, actor="alice", overridden=True)
        self.assertIsNone(serving_model_reload())
        with override_settings(TIPS_POLICY="contextual"):
            connect_sample(self.alice)
            store_pool(self.alice, sample_pool(6))
            request = tips_serve(user=self.alice, limit=2, rng=np.random.default_rng(0)).request
        self.assertEqual(request.policy, "egreedy")
        self.assertIn(MODEL_UNAVAILABLE, [d["code"] for d in request.degraded])


@override_settings(TIPS_PROMOTION_MIN_ROWS=500, TIPS_MODEL_RELOADER=False)
class PromotePolicyCommandTests(BaseTestCase):
    def test_it_refuses_a_model_without_held_out_traffic_with_the_reason(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        with self.assertRaisesMessage(CommandError, "only 0 held-out picks (at least 500 needed)"):
            call_command("promote_policy", "--model", str(model.pk))
        self.assertFalse(PolicySwitch.objects.exists())

    def test_an_override_needs_a_reason(self):
        with self.assertRaisesMessage(CommandError, "--override needs --reason"):
            call_command("promote_policy", "--model", "1", "--override")

    def test_an_override_is_an_audit_row_with_the_actor(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        out = StringIO()
        call_command(
            "promote_policy", "--model", str(model.pk), "--override", "--reason", "canary", "--actor", "ops",
            stdout=out,
        )  # fmt: skip
        self.assertIn(f"contextual model v{model.pk}", out.getvalue())
        switch = PolicySwitch.objects.get()
        self.assertEqual((switch.actor, switch.overridden, switch.reason), ("ops", True, "canary"))

    def test_it_says_when_the_model_does_not_exist(self):
        with self.assertRaisesMessage(CommandError, "There is no model version 999."):
            call_command("promote_policy", "--model", "999")


class PolicyModelMetricsTests(BaseTestCase):
    def test_metrics_show_the_newest_and_the_promoted_model_version(self):
        self.assertEqual(metric_value("tipengine_policy_model_version", role="promoted"), 0.0)
        first = PolicyModel.objects.create(rows=1, weights=b"")
        newest = PolicyModel.objects.create(rows=1, weights=b"")
        PolicySwitch.objects.create(policy="contextual", model=first, actor="alice")
        self.assertEqual(metric_value("tipengine_policy_model_version", role="newest"), float(newest.pk))
        self.assertEqual(metric_value("tipengine_policy_model_version", role="promoted"), float(first.pk))


class ApprenticeTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(forget_serving_model)
        connect_sample(self.alice)
        store_pool(self.alice, sample_pool(6))

    def test_the_newest_model_scores_in_shadow_while_epsilon_greedy_serves(self):
        newest = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        serving_model_reload()
        before = metric_value("tipengine_shadow_agreement_total", agrees="yes") + metric_value(
            "tipengine_shadow_agreement_total", agrees="no"
        )
        served = tips_serve(user=self.alice, limit=2, rng=np.random.default_rng(0))
        request = TipRequest.objects.get(pk=served.request.pk)
        shadow = request.policy_params["shadow"]
        self.assertEqual(request.policy, "egreedy")
        self.assertEqual(shadow["model_version"], newest.pk)
        # An untrained model is uniform over the offered candidates.
        self.assertAlmostEqual(shadow["probability"], 1 / len(request.candidates), places=5)
        after = metric_value("tipengine_shadow_agreement_total", agrees="yes") + metric_value(
            "tipengine_shadow_agreement_total", agrees="no"
        )
        self.assertEqual(after - before, 1.0)

    def test_no_shadow_without_a_model_or_when_it_is_the_one_serving(self):
        served = tips_serve(user=self.alice, limit=2, rng=np.random.default_rng(0))
        self.assertNotIn("shadow", served.request.policy_params)
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        PolicySwitch.objects.create(policy="contextual", model=model, actor="alice", overridden=True)
        serving_model_reload()
        with override_settings(TIPS_POLICY="contextual"):
            served = tips_serve(user=self.alice, limit=2, rng=np.random.default_rng(0))
        self.assertEqual(served.request.model_version, model.pk)
        self.assertNotIn("shadow", served.request.policy_params)

    def test_polling_for_models_leaves_their_weights_in_the_database(self):
        model = PolicyModel.objects.create(rows=1, weights=b"x" * 1000)
        PolicySwitch.objects.create(policy="contextual", model=model, actor="alice")
        self.assertIn("weights", newest_model().get_deferred_fields())
        self.assertIn("weights", serving_switch().model.get_deferred_fields())
