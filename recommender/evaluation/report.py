"""Human-readable output: the evaluation table, the simulation summary, its CSV and its learning-curve PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from recommender.evaluation.estimators import Estimate
from recommender.evaluation.offline import LOW_ESS, Evaluation
from recommender.evaluation.simulation import ORACLE, SimulationResult

ESTIMATORS = (
    ("logged", "logged policy (observed)"),
    ("ips", "IPS"),
    ("snips", "self-normalised IPS"),
    ("dr", "doubly robust"),
)


def _label(value: object) -> str:
    return "(none)" if value is None else str(value)[:24]


def _number(value: float, digits: int = 4) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _row(label: str, estimate: Estimate) -> str:
    interval = f"[{_number(estimate.low)}, {_number(estimate.high)}]"
    return f"{label:<26} {_number(estimate.value):>8}  {interval:<20} {estimate.ess:>10.1f} {estimate.n:>9}"


def evaluation_table(evaluation: Evaluation) -> str:
    """The estimates as a fixed-width table, with what was skipped and why."""
    params = ", ".join(f"{k}={v}" for k, v in sorted(evaluation.params.items())) or "-"
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(evaluation.skipped.items())) or "none"
    logging = ", ".join(f"{name} ({n} requests)" for name, n in sorted(evaluation.logging_policies.items()))
    lines = [
        f"Target policy: {evaluation.policy} ({params}); positions: {evaluation.positions}; "
        f"statistics: {evaluation.stats}",
        f"Logged by: {logging}",
        f"Requests used: {evaluation.requests}; tips evaluated: {evaluation.rows}; tips skipped: {skipped}",
        "",
        f"{'estimate of mean reward':<26} {'value':>8}  {'95% CI':<20} {'ESS':>10} {'tips':>9}",
    ]
    lines += [_row(label, getattr(evaluation, name)) for name, label in ESTIMATORS]
    if not evaluation.reliable:
        lines += [
            "",
            f"Warning: the effective sample size ({evaluation.ips.ess:.1f}) is below {LOW_ESS}: the target rarely "
            "picks what was logged, so these intervals are not reliable (docs/evaluation.md).",
        ]
    if evaluation.segments:
        lines += [
            "",
            f"By {evaluation.by}: target's share of picks (IPS) and mean reward on those tips (self-normalised)",
            f"{'value':<24} {'tips':>7} {'logged mean':>12} {'share':>8}  {'share 95% CI':<18} "
            f"{'mean':>8}  {'mean 95% CI':<18}",
        ]
        for s in evaluation.segments:
            lines.append(
                f"{_label(s.value):<24} {s.rows:>7} {_number(s.logged.value):>12} {_number(s.share.value):>8}  "
                f"{'[' + _number(s.share.low) + ', ' + _number(s.share.high) + ']':<18} "
                f"{_number(s.mean_reward.value):>8}  "
                f"{'[' + _number(s.mean_reward.low) + ', ' + _number(s.mean_reward.high) + ']':<18}"
            )
    return "\n".join(lines)


def simulation_table(result: SimulationResult) -> str:
    lines = [
        f"{result.users} users x {result.rounds} rounds, slate {result.slate}, seed {result.seed}",
        f"{'policy':<10} {'cumulative reward':>18} {'expected':>10} {'regret':>10} "
        f"{'mean reward':>12} {'of oracle':>10}",
    ]
    for s in result.summary():
        lines.append(
            f"{s['policy']:<10} {s['cumulative_reward']:>18.2f} {s['expected_reward']:>10.2f} "
            f"{s['cumulative_regret']:>10.2f} {s['mean_reward']:>12.4f} {s['share_of_oracle']:>10.1%}"
        )
    return "\n".join(lines)


def write_csv(result: SimulationResult, path: Path) -> Path:
    """One row per policy and round: reward that round, cumulative reward, expected reward, cumulative regret."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["policy", "round", "reward", "cumulative_reward", "expected_reward", "cumulative_regret"])
        for name, run in result.runs.items():
            cumulative, regret = np.cumsum(run.reward), np.cumsum(run.regret)
            for i in range(result.rounds):
                writer.writerow(
                    [
                        name,
                        i + 1,
                        f"{run.reward[i]:.4f}",
                        f"{cumulative[i]:.4f}",
                        f"{run.expected[i]:.4f}",
                        f"{regret[i]:.4f}",
                    ]
                )
    return path


def write_png(result: SimulationResult, path: Path) -> Path:
    """Learning curves: mean reward per tip so far (left) and cumulative regret (right), per policy."""
    import matplotlib  # imported here: Django never pays for it unless a plot is drawn

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rounds = np.arange(1, result.rounds + 1)
    per_round = result.users * result.slate
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    try:
        for name, run in result.runs.items():
            style = {"color": "black", "linestyle": "--"} if name == ORACLE else {}
            left.plot(rounds, np.cumsum(run.reward) / (rounds * per_round), label=name, **style)
            if name != ORACLE:
                right.plot(rounds, np.cumsum(run.regret), label=name)
        left.set(title="Mean reward per tip so far", xlabel="round", ylabel="reward")
        right.set(title="Cumulative regret vs the oracle", xlabel="round", ylabel="expected reward lost")
        for axis, corner in ((left, "lower right"), (right, "upper left")):
            axis.grid(alpha=0.3)
            axis.legend(loc=corner)
        figure.suptitle(f"{result.users} simulated users, {result.rounds} rounds, seed {result.seed}")
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
