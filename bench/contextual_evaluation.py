"""Benchmark the contextual loop's evaluation against the simulated truth: does the paired interval tell the truth?

Per seed: epsilon-greedy serves the contextual world (users x rounds); a contextual model learns from the first
picks of the first `--train-rounds` rounds as one window, as `policy_model_train` does (TRAINING_PASSES passes over
it); the model is evaluated on the held-out first picks by the same code as `evaluate_policy --model N` (VW reward
model cross-fitted on two folds, DR with the weights clipped, or Switch-DR), and compared with the truth the world
knows: the mean over the same picks of the model's PMF times each candidate's hidden expected reward, minus the
expected reward of the logged pick.
A second model, taught the opposite of what users answered, shows the interval also says when a model is worse.

    DEBUG=1 .venv/bin/python bench/contextual_evaluation.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--train-rounds", type=int, default=20)
    parser.add_argument("--clip", type=float, default=5.0)
    parser.add_argument("--switch", type=float, default=5.0)
    args = parser.parse_args()
    setup_django()

    from recommender.evaluation.contextual import paired_evaluation, replay
    from recommender.evaluation.simulation import simulate
    from recommender.policies.contextual import ContextualModel
    from recommender.policies.features import action_lines, shared_line
    from recommender.selectors.contextual import LoggedExample

    rows = []
    for seed in args.seeds:
        result = simulate(
            users=args.users,
            rounds=args.rounds,
            policies=("egreedy",),
            keep=("egreedy",),
            world="contextual",
            seed=seed,
        )
        world = result.world
        train, held_out, truth = [], [], []
        for tip_id, served in enumerate(result.runs["egreedy"].served):
            candidates = tuple(served.context.candidates)
            first = served.choices[0]
            chosen = candidates.index(first.candidate)
            example = LoggedExample(
                tip_id, candidates, served.estimates, chosen, first.propensity, served.rewards[0], datetime.now(UTC)
            )
            if served.round < args.train_rounds:
                train.append(example)
            else:
                held_out.append(example)
                truth.append(world.outcome_probabilities(served.context) @ world.outcome_rewards)
        models = {"trained": ContextualModel(), "inverted": ContextualModel()}
        lines = [(shared_line(e.candidates, e.stats), action_lines(e.candidates)) for e in train]
        for name, truthful in (("trained", True), ("inverted", False)):  # as policy_model_train learns its window
            models[name].learn_window(
                [
                    (*pair, e.chosen, e.reward if truthful else 1.0 - e.reward, e.propensity)
                    for pair, e in zip(lines, train, strict=True)
                ]
            )
        for name, model in models.items():
            true_gain = np.mean(
                [
                    model.pmf(shared_line(e.candidates, e.stats), action_lines(e.candidates)) @ mu - mu[e.chosen]
                    for e, mu in zip(held_out, truth, strict=True)
                ]
            )
            replayed = replay(model, held_out)
            for label, evaluation in (
                (f"DR clip {args.clip:g}", paired_evaluation(replayed, clip=args.clip)),
                (f"Switch-DR {args.switch:g}", paired_evaluation(replayed, switch=args.switch)),
            ):
                d = evaluation.difference
                rows.append(
                    {
                        "seed": seed,
                        "model": name,
                        "estimator": label,
                        "n": evaluation.n,
                        "estimate": round(d.value, 4),
                        "low": round(d.low, 4),
                        "high": round(d.high, 4),
                        "truth": round(float(true_gain), 4),
                        "covers_truth": d.contains(float(true_gain)),
                        "verdict": "better" if d.low > 0 else ("worse" if d.high < 0 else "unsure"),
                        "ess_share": round(evaluation.ess_share, 3),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    covered = sum(r["covers_truth"] for r in rows)
    print(f"bench: contextual evaluation seeds={args.seeds} intervals covering the truth {covered}/{len(rows)}")


if __name__ == "__main__":
    main()
