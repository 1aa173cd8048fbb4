"""Measure how often the evaluation intervals cover the truth, over many simulated seeds (docs/evaluation.md).

For each seed: simulate epsilon-greedy's logs and `--replicates` direct runs of the target (the same world,
users, pools and response draws; the target's own random stream differs per replicate), evaluate the
target on the logs as evaluate_policy does (same code, in memory), and compare each 95% interval with
  - the exact counterfactual value (the target's picks on the logged requests, valued with the hidden
    expectations, with the statistics it would have read): what the estimators are built to estimate;
  - each direct run's mean reward (the target learning from its own picks), realised and expected.

A direct run is itself one random draw: a learning policy's path depends on its own early picks, so two runs
on the same traffic differ. Comparing it with the interval as if it were a fixed number misses more often
than 5% even when the estimand is right; the fair comparison is the difference's own interval,
|estimate - run| <= 1.96 sqrt(se^2 + sd_run^2), with sd_run the spread of direct runs measured from the
replicates (pooled over seeds). Coverage figures over a few dozen seeds carry binomial noise: each comes
with its 95% Wilson interval, counted in seeds (a seed's runs share one estimate).

    DEBUG=1 .venv/bin/python bench/coverage.py --target thompson --seeds 40 --users 20 --rounds 40 --replicates 6
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

Z95 = 1.959963984540054
NAMES = ("ips", "snips", "dr")


def wilson(hits: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (coverage measured over n seeds is itself uncertain)."""
    if n == 0:
        return math.nan, math.nan
    p, z2 = hits / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def share(hits: np.ndarray) -> str:
    """The share of hits and its 95% Wilson interval over seeds: a seed's runs share one estimate (not independent),
    so for (seeds x runs) hits the interval counts seeds, the runs' mean per seed being one observation."""
    seeds = hits.shape[0]
    low, high = wilson(float(hits.mean()) * seeds, seeds)
    return f"{hits.mean():4.0%}  [{low:.0%}, {high:.0%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="thompson")
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--replicates", type=int, default=6, help="direct runs of the target per seed (>= 2)")
    parser.add_argument("--epsilon", type=float, default=0.1, help="the logging egreedy's epsilon")
    parser.add_argument("--save", type=Path, help="also write the per-seed numbers to this .npz file")
    args = parser.parse_args()
    if args.replicates < 2:
        parser.error("--replicates must be at least 2 (the direct runs' own spread is measured from them)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from recommender.evaluation.logs import SlateBuilder
    from recommender.evaluation.offline import evaluate
    from recommender.evaluation.simulation import simulate
    from recommender.evaluation.world import ARMS
    from recommender.policies import get_policy

    target = get_policy(args.target)
    truths, values, errors, expected, realised = [], [], [], [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs = []
        for replicate in range(args.replicates):
            result = simulate(
                users=args.users, rounds=args.rounds, seed=seed, epsilon=args.epsilon, shrinkage=10.0,
                policies=("egreedy", args.target) if replicate == 0 else (args.target,),
                keep=("egreedy",) if replicate == 0 else (), replicate=replicate,
            )  # fmt: skip
            if replicate == 0:
                logs = result
            runs.append({s["policy"]: s for s in result.summary()}[args.target])
        truths.append(logs.counterfactual_value("egreedy", target))
        builder = SlateBuilder(ARMS).extend(logs.logged_rows("egreedy"))
        events = logs.reward_events("egreedy", builder.arm_id)
        evaluation = evaluate(slates=builder.build(), events=events, policy=target, n_arms=len(ARMS), shrinkage=10.0)
        values.append([getattr(evaluation, n).value for n in NAMES])
        errors.append([getattr(evaluation, n).std_error for n in NAMES])
        expected.append([r["mean_expected_reward"] for r in runs])
        realised.append([r["mean_reward"] for r in runs])
        print(
            f"seed {seed}: exact {truths[-1]:.4f} dr {evaluation.dr.value:.4f} +- {Z95 * evaluation.dr.std_error:.4f}"
            f" direct runs (expected) {' '.join(f'{v:.4f}' for v in expected[-1])}",
            flush=True,
        )
    truth, value, error = np.array(truths), np.array(values), np.array(errors)
    expected, realised = np.array(expected), np.array(realised)
    n = args.seeds
    if args.save:
        np.savez(args.save, truth=truth, value=value, error=error, expected=expected, realised=realised)
    # The direct runs' own spread on one seed's traffic, pooled over seeds (replicates share world and draws).
    run_sd = {
        "expected": math.sqrt(float(np.mean(expected.var(axis=1, ddof=1)))),
        "realised": math.sqrt(float(np.mean(realised.var(axis=1, ddof=1)))),
    }
    gap = expected.mean(axis=1) - truth
    gap_half = Z95 * gap.std(ddof=1) / math.sqrt(n)
    print(f"\n{n} seeds, {args.users} users x {args.rounds} rounds, target {args.target}, {args.replicates} runs each")
    print(f"learning gap, mean direct run (expected) - exact value: {gap.mean():+.4f} +- {gap_half:.4f}")
    print(f"one direct run's own sd: {run_sd['expected']:.4f} expected, {run_sd['realised']:.4f} realised")
    for i, name in enumerate(NAMES):
        v, se = value[:, i : i + 1], error[:, i : i + 1]
        z = (value[:, i] - truth) / error[:, i]
        exact = np.abs(value[:, i] - truth) <= Z95 * error[:, i]
        print(f"{name:>5}: mean se {error[:, i].mean():.4f}; z vs exact: mean {z.mean():+.2f} sd {z.std():.2f}")
        print(f"       {'covers the exact value':<50}{share(exact)}")
        for kind, runs in (("expected", expected), ("realised", realised)):
            plain = np.abs(v - runs) <= Z95 * se
            fair = np.abs(v - runs) <= Z95 * np.sqrt(se**2 + run_sd[kind] ** 2)
            print(f"       {f'covers a direct run ({kind}) as a fixed number':<50}{share(plain)}")
            print(f"       {f'covers a direct run ({kind}) with its own sd':<50}{share(fair)}")


if __name__ == "__main__":
    main()
