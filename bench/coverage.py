"""Measure how often the evaluation intervals cover the truth, over many simulated seeds (docs/evaluation.md).

For each seed: simulate epsilon-greedy's logs and a direct run of the target, evaluate the target on the
logs as evaluate_policy does (same code, in memory), and check each 95% interval against
  - the exact counterfactual value (the target's picks on the logged requests, valued with the hidden
    expectations, with the statistics it would have read): what the estimators are built to estimate;
  - the direct run's mean expected reward (the target learning from its own picks).

    DEBUG=1 .venv/bin/python bench/coverage.py --target thompson --seeds 40 --users 20 --rounds 40
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="thompson")
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--epsilon", type=float, default=0.1, help="the logging egreedy's epsilon")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from recommender.evaluation.logs import SlateBuilder
    from recommender.evaluation.offline import evaluate
    from recommender.evaluation.simulation import ARMS, simulate
    from recommender.policies import get_policy

    names = ("ips", "snips", "dr")
    exact, direct, z = {n: 0 for n in names}, {n: 0 for n in names}, {n: [] for n in names}
    gaps = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        result = simulate(
            users=args.users, rounds=args.rounds, policies=("egreedy", args.target), seed=seed,
            epsilon=args.epsilon, keep=("egreedy",), shrinkage=10.0,
        )  # fmt: skip
        target = get_policy(args.target)
        truth = result.counterfactual_value("egreedy", target)
        run = {s["policy"]: s for s in result.summary()}[args.target]["mean_expected_reward"]
        gaps.append(run - truth)
        builder = SlateBuilder(ARMS).extend(result.logged_rows("egreedy"))
        slates = builder.build()
        events = result.reward_events("egreedy", builder.arm_id)
        evaluation = evaluate(slates=slates, events=events, policy=target, n_arms=len(ARMS), shrinkage=10.0)
        for name in names:
            estimate = getattr(evaluation, name)
            exact[name] += estimate.contains(truth)
            direct[name] += estimate.contains(run)
            z[name].append((estimate.value - truth) / estimate.std_error)
        print(f"seed {seed}: exact {truth:.4f} direct run {run:.4f} dr {evaluation.dr.value:.4f}", flush=True)
    print(f"\n{args.seeds} seeds, {args.users} users x {args.rounds} rounds, target {args.target}")
    print(f"mean (direct run - exact counterfactual): {np.mean(gaps):+.4f}")
    for name in names:
        print(
            f"{name:>5}: covers the exact value in {exact[name] / args.seeds:.0%}, the direct run in "
            f"{direct[name] / args.seeds:.0%}; z mean {np.mean(z[name]):+.2f} sd {np.std(z[name]):.2f}"
        )


if __name__ == "__main__":
    main()
