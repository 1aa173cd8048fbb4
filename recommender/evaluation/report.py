"""Human-readable output: the evaluation table, the simulation summary, its CSV and its learning-curve PNG."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from recommender.evaluation.diagnostics import PositionDiagnostics
from recommender.evaluation.estimators import Estimate
from recommender.evaluation.logs import explain_skipped
from recommender.evaluation.offline import Evaluation
from recommender.evaluation.simulation_result import ORACLE, SimulationResult

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


def _skipped_lines(skipped: dict[str, int], pending_closes_at: datetime | None) -> list[str]:
    lines = explain_skipped(skipped)
    if pending_closes_at is not None:
        lines.append(f"          the earliest open window closes at {pending_closes_at:%Y-%m-%d %H:%M:%S %Z}")
    return lines


def _diagnostic_row(d: PositionDiagnostics) -> str:
    where = "all" if d.position is None else str(d.position + 1)
    mean = d.mean_weight
    support = "n/a" if math.isnan(d.unsupported) else f"{d.unsupported:.1%}"
    return (
        f"{where:<9} {d.rows:>8} {_number(mean.value, 3):>12}  {'[' + _number(mean.low, 3) + ', ':>8}"
        f"{_number(mean.high, 3) + ']':<7} {d.ess:>10.1f} {support:>12} {d.mismatched:>12}"
    )


def _statistics_line(evaluation: Evaluation) -> list[str]:
    if evaluation.stats != "replay":
        return []
    return [
        f"Statistics as logged with the request for {evaluation.logged_estimates} of {evaluation.requests} requests"
        + (", replayed from final rewards for the others" if evaluation.logged_estimates < evaluation.requests else "")
    ]


def evaluation_table(evaluation: Evaluation) -> str:
    """The estimates as a fixed-width table, with what was skipped and why, and every diagnostic that failed."""
    params = ", ".join(f"{k}={v}" for k, v in sorted(evaluation.params.items())) or "-"
    logging = ", ".join(f"{name} ({n} requests)" for name, n in sorted(evaluation.logging_policies.items()))
    skipped = sum(evaluation.skipped.values())
    lines = [
        f"Target policy: {evaluation.policy} ({params}); positions: {evaluation.positions}; "
        f"statistics: {evaluation.stats}",
        f"Logged by: {logging}",
        *_statistics_line(evaluation),
        f"Requests used: {evaluation.requests}; tips evaluated: {evaluation.rows}; tips skipped: {skipped or 'none'}",
        *_skipped_lines(evaluation.skipped, evaluation.pending_closes_at),
        "",
        f"{'estimate of mean reward':<26} {'value':>8}  {'95% CI':<20} {'ESS':>10} {'tips':>9}",
    ]
    lines += [_row(label, getattr(evaluation, name)) for name, label in ESTIMATORS]
    if evaluation.diagnostics:
        lines += [
            "",
            "Importance weights by position (each should average 1; docs/evaluation.md)",
            f"{'position':<9} {'tips':>8} {'mean weight':>12}  {'95% CI':<14} {'ESS':>10} {'unsupported':>12} "
            f"{'mismatched':>12}",
            *map(_diagnostic_row, evaluation.diagnostics),
        ]
    if evaluation.warnings:
        lines += ["", *(f"Warning: {w}" for w in evaluation.warnings)]
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


def simulation_table(results: Sequence[SimulationResult]) -> str:
    """The first seed's summary; with replicate seeds, each policy's share of the oracle over all of them."""
    result = results[0]
    lines = [
        f"{result.users} users x {result.rounds} rounds, slate {result.slate}, seed {result.seed}",
        f"{'policy':<10} {'cumulative reward':>18} {'expected':>10} {'regret':>10} "
        f"{'mean reward':>12} {'of oracle':>10}",
    ]
    for s in result.summary():
        lines.append(
            f"{s['policy']:<10} {s['cumulative_reward']:>18.2f} {s['expected_reward']:>10.2f} "
            f"{s['cumulative_regret']:>10.2f} {s['mean_reward']:>12.4f} {s['reward_over_oracle']:>10.1%}"
        )
    if len(results) > 1:
        shares: dict[str, list[float]] = {}
        for replicate in results:
            for s in replicate.summary():
                shares.setdefault(str(s["policy"]), []).append(float(s["reward_over_oracle"]))
        lines += ["", f"Share of the oracle over seeds {_seeds(results)}: mean (lowest, highest)"]
        lines += [f"{name:<10} {np.mean(v):>6.1%} ({min(v):.1%}, {max(v):.1%})" for name, v in shares.items()]
    return "\n".join(lines)


def _seeds(results: Sequence[SimulationResult]) -> str:
    seeds = [r.seed for r in results]
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def write_csv(results: Sequence[SimulationResult], path: Path) -> Path:
    """One row per seed, policy and round: reward that round, cumulative reward, expected reward, cumulative regret."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["seed", "policy", "round", "reward", "cumulative_reward", "expected_reward", "cumulative_regret"]
        )
        for result in results:
            for name, run in result.runs.items():
                cumulative, regret = np.cumsum(run.reward), np.cumsum(run.regret)
                writer.writerows(
                    [result.seed, name, i + 1, f"{run.reward[i]:.4f}", f"{cumulative[i]:.4f}",
                     f"{run.expected[i]:.4f}", f"{regret[i]:.4f}"]
                    for i in range(result.rounds)
                )  # fmt: skip
    return path


def _curves(results: Sequence[SimulationResult], name: str) -> dict[str, np.ndarray]:
    """(seeds, rounds) arrays of one policy: reward per tip each round, mean reward per tip so far, regret."""
    per_round = results[0].users * results[0].slate
    rounds = np.arange(1, results[0].rounds + 1)
    reward = np.array([r.runs[name].reward for r in results]) / per_round
    return {
        "round": reward,
        "so_far": np.cumsum(reward, axis=1) / rounds,
        "regret": np.cumsum([r.runs[name].regret for r in results], axis=1),
    }


def write_png(results: Sequence[SimulationResult], path: Path) -> Path:
    """Learning curves per policy: reward per tip each round, mean reward so far, cumulative regret.

    Lines are the mean over the replicate seeds, bands their lowest and highest value at each round.
    """
    import matplotlib  # imported here: Django never pays for it unless a plot is drawn

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    first = results[0]
    rounds = np.arange(1, first.rounds + 1)
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    panels = (
        ("round", "Reward per tip, each round", "reward"),
        ("so_far", "Mean reward per tip so far", "reward"),
        ("regret", "Cumulative regret vs the oracle", "expected reward lost"),
    )
    try:
        for index, name in enumerate(first.runs):
            curves = _curves(results, name)
            style = {"color": "black", "linestyle": "--"} if name == ORACLE else {"color": f"C{index}"}
            for axis, (key, *_rest) in zip(axes, panels, strict=True):
                if key == "regret" and name == ORACLE:
                    continue
                values = curves[key]
                axis.plot(rounds, values.mean(axis=0), label=name, linewidth=1.2, **style)
                if len(results) > 1:
                    axis.fill_between(rounds, values.min(axis=0), values.max(axis=0), alpha=0.2, color=style["color"])
        for axis, (_key, title, ylabel) in zip(axes, panels, strict=True):
            axis.set(title=title, xlabel="round", ylabel=ylabel)
            axis.grid(alpha=0.3)
        axes[1].legend(loc="lower right")  # one legend: the colours are the same in every panel
        bands = f"seed {first.seed}"
        if len(results) > 1:
            bands = f"mean of seeds {_seeds(results)}, band: lowest to highest"
        figure.suptitle(
            f"{first.users} simulated users x {first.rounds} rounds; slate {first.slate}, epsilon {first.epsilon:g}, "
            f"shrinkage {first.shrinkage:g}; {bands}"
        )
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
