"""Thompson sampling over Beta posteriors, with propensities computed by numerical integration (not sampling).

Each slate position draws once from every remaining arm's posterior Beta(a0 + reward_sum, b0 + count -
reward_sum) (fractional rewards count as fractional successes), picks the arm with the highest draw, then a
uniform candidate of that arm. The probability that arm i wins is

    P(i) = integral f_i(x) * prod_{j != i} F_j(x) dx

which has no closed form; `win_probabilities` integrates it by Simpson's rule on a grid that puts
`GRID_PER_ARM` points across every arm's own +-`SPAN_SD` standard deviations, so narrow and wide posteriors
are both resolved. The result is deterministic (no rng), sums to 1, and is within about 2e-4 of the exact
value (0.1% relative for probabilities above 1e-3), measured in docs/adr/0050. Offline evaluation calls
`win_probabilities_many`: the same values for many rows, without integrating padding or repeated edges.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import ArmEstimate, Choice, slate_offers

GRID_PER_ARM = 48
# Evaluation probabilities only enter the numerator of a weight, where 1e-3 errors are noise next to the
# interval: a coarser grid than serving's (docs/adr/0050) makes Thompson's evaluation twice as fast.
EVALUATION_GRID = 24
SPAN_SD = 8.0
_TINY = 1e-300
_ENDS = np.concatenate([np.geomspace(1e-12, 0.2, 16), 1.0 - np.geomspace(1e-12, 0.2, 16)])
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_BETA = np.frompyfunc(lambda x, y: math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y), 2, 1)


def _log_beta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return log B(a, b) elementwise (NumPy has no lgamma; arrays here are small: rows x arms)."""
    return _LOG_BETA(a, b).astype(float)


def win_probabilities(
    alpha: np.ndarray, beta: np.ndarray, present: np.ndarray | None = None, *, grid: int = GRID_PER_ARM
) -> np.ndarray:
    """Return P(arm i has the highest Beta draw among the present arms), batched over leading axes.

    `alpha`, `beta` (and the boolean `present`) have shape (..., A) with alpha, beta >= 1; absent arms get 0.
    `grid` points per arm trade accuracy for speed (docs/adr/0050 has the measured errors).
    """
    alpha = np.asarray(alpha, dtype=float)
    beta = np.asarray(beta, dtype=float)
    shape = alpha.shape
    a = alpha.reshape(-1, shape[-1])
    b = beta.reshape(-1, shape[-1])
    mask = np.ones(a.shape, dtype=bool) if present is None else np.asarray(present, dtype=bool).reshape(a.shape)
    lo, hi, floor, contender = _ranges(a, b, mask)
    order = np.argsort(~contender, axis=1, kind="stable")
    width = max(int(contender.sum(axis=1).max(initial=0)), 1)
    cols = order[:, :width]
    wins = np.zeros(a.shape)
    rows = np.arange(len(a))[:, None]
    wins[rows, cols] = _integrate(
        a[rows, cols], b[rows, cols], lo[rows, cols], hi[rows, cols], contender[rows, cols], floor, grid
    )
    return wins.reshape(shape)


def _ranges(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each arm's integration range (mean +-SPAN_SD sd in [0, 1]), the floor, and which arms can win (rows x arms)."""
    total = a + b
    mean = a / total
    spread = SPAN_SD * np.sqrt(a * b / (total * total * (total + 1.0)))
    lo = np.where(mask, np.clip(mean - spread, 0.0, 1.0), -1.0)
    hi = np.where(mask, np.clip(mean + spread, 0.0, 1.0), -1.0)
    # An arm whose upper bound is below the second-highest lower bound cannot win (beyond SPAN_SD sds):
    # integrate only the arms that can.
    floor = np.sort(lo, axis=1)[:, -2] if a.shape[1] > 1 else np.zeros(len(a))
    return lo, hi, floor, mask & (hi >= floor[:, None])


def win_probabilities_many(
    alpha: np.ndarray, beta: np.ndarray, present: np.ndarray, *, grid: int = GRID_PER_ARM, batch: int = 64
) -> np.ndarray:
    """`win_probabilities` for many rows (n x A) at once, as each row alone would get it (offline evaluation).

    Same ranges, grid, ends and rule on each row, so the same value up to float rounding (tested); faster
    because nothing is integrated twice: rows are grouped by how many arms can win and which ends they
    need (no padded arms, no row gets another row's end points), and a merged grid's repeated edges
    (arms whose ranges are both clipped to [0, 1] share all their points) are taken out before integrating.
    `batch` rows per call keep the (rows, arms, points) temporaries in cache.
    """
    a = np.asarray(alpha, dtype=float)
    b = np.asarray(beta, dtype=float)
    mask = np.asarray(present, dtype=bool)
    lo, hi, floor, contender = _ranges(a, b, mask)
    order = np.argsort(~contender, axis=1, kind="stable")
    width = contender.sum(axis=1)
    group = width * 4 + 2 * (contender & (lo <= 0.0)).any(axis=1) + (contender & (hi >= 1.0)).any(axis=1)
    wins = np.zeros(a.shape)
    for key in np.unique(group):
        members, arms = np.flatnonzero(group == key), int(key) // 4
        if arms <= 1:  # a lone contender wins (serving's quadrature gives exactly 1 too)
            wins[members, order[members, 0]] = 1.0 if arms else 0.0
            continue
        for start in range(0, len(members), batch):
            rows = members[start : start + batch, None]
            cols = order[rows[:, 0], :arms]
            edges = _distinct(_edges(lo[rows, cols], hi[rows, cols], contender[rows, cols], floor[rows[:, 0]], grid))
            ra, rb = a[rows, cols], b[rows, cols]
            wins[rows, cols] = _quadrature(ra, rb, np.ones(ra.shape, dtype=bool), edges, _log_beta_series(ra, rb))
    return wins


def _distinct(edges: np.ndarray) -> np.ndarray:
    """Sorted edges with repeats moved to the end as 1.0 and trimmed: zero-width cells add nothing but cost."""
    repeat = np.zeros(edges.shape, dtype=bool)
    repeat[:, 1:] = edges[:, 1:] <= edges[:, :-1]
    kept = int((~repeat).sum(axis=1).max())
    return np.sort(np.where(repeat, 1.0, edges), axis=1)[:, :kept]


def _log_gamma(x: np.ndarray) -> np.ndarray:
    """lgamma for x >= 1, vectorised: Stirling's series at x + 8, shifted back (absolute error about 1e-12)."""
    shift = np.ones_like(x)
    z = np.array(x, dtype=float)
    for _ in range(8):
        shift *= z
        z += 1.0
    inverse = 1.0 / z
    square = inverse * inverse
    series = inverse * (1.0 / 12.0 - square * (1.0 / 360.0 - square * (1.0 / 1260.0 - square / 1680.0)))
    return (z - 0.5) * np.log(z) - z + _HALF_LOG_2PI + series - np.log(shift)


def _log_beta_series(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log B(a, b) with the vectorised lgamma (the per-element `math.lgamma` costs seconds per million arms)."""
    return _log_gamma(a) + _log_gamma(b) - _log_gamma(a + b)


def _integrate(
    a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, mask: np.ndarray, floor: np.ndarray, grid: int
) -> np.ndarray:
    """Integrate f_i * prod F_j by Simpson's rule on the merged per-arm grids above `floor` (rows x arms inputs)."""
    return _quadrature(a, b, mask, _edges(lo, hi, mask, floor, grid), _log_beta(a, b))


def _edges(lo: np.ndarray, hi: np.ndarray, mask: np.ndarray, floor: np.ndarray, grid: int) -> np.ndarray:
    """The merged cell edges of every row: each arm's `grid` points across [lo, hi], the ends, floor and 1, sorted.

    Points below the floor are moved onto it (zero-width cells: they add nothing).
    """
    rows = lo.shape[0]
    steps = np.linspace(0.0, 1.0, grid)
    points = (lo[:, :, None] + (hi - lo)[:, :, None] * steps).reshape(rows, -1)
    start = np.clip(floor, 0.0, 1.0)[:, None]
    # A density with alpha or beta just above 1 has an infinite slope at 0 or 1 (shrunk counts are fractional):
    # geometric cells toward both ends keep Simpson's rule accurate there.
    # Only when some arm's range reaches that end (otherwise the points would only cost time).
    ends = _ENDS[
        ((_ENDS < 0.5) & bool((mask & (lo <= 0.0)).any())) | ((_ENDS > 0.5) & bool((mask & (hi >= 1.0)).any()))
    ]
    ends = np.broadcast_to(ends, (rows, len(ends)))
    cuts = [np.maximum(points, start), np.maximum(ends, start), start, np.ones((rows, 1))]
    return np.sort(np.concatenate(cuts, axis=1), axis=1)


def _quadrature(a: np.ndarray, b: np.ndarray, mask: np.ndarray, edges: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """Integrate f_i * prod F_j by Simpson's rule on the sorted cell `edges` of each row (rows x arms inputs).

    Densities are evaluated at every cell's two edges and midpoint; a cell's mass is Simpson's, each CDF at
    an edge is the running sum of masses, and at a midpoint the integral of the quadratic through the three
    density values over the cell's first half, (5 f_l + 8 f_m - f_r) w / 24. Fourth order where it matters.
    """
    rows = a.shape[0]
    width = np.diff(edges, axis=1)[:, None, :]
    # Evaluation points: edge, midpoint, edge, midpoint, ..., edge.
    x = np.empty((rows, 2 * edges.shape[1] - 1))
    x[:, 0::2] = edges
    x[:, 1::2] = (edges[:, 1:] + edges[:, :-1]) / 2.0
    x = np.clip(x, _TINY, 1.0 - 1e-16)
    # Normalised densities (alpha, beta >= 1, so they are bounded).
    log_density = (a - 1.0)[:, :, None] * np.log(x)[:, None, :] + (b - 1.0)[:, :, None] * np.log1p(-x)[:, None, :]
    density = np.exp(log_density - log_beta[:, :, None])
    density[~mask] = 0.0
    left, middle, right = density[:, :, 0:-1:2], density[:, :, 1::2], density[:, :, 2::2]
    mass = width / 6.0 * (left + 4.0 * middle + right)
    # What an arm has below the floor (where no arm can win) still counts in its CDF above it.
    beneath = np.clip(1.0 - mass.sum(axis=2, keepdims=True), 0.0, 1.0)
    cdf = np.empty_like(density)
    cdf[:, :, 0::2] = beneath + np.concatenate([np.zeros_like(beneath), np.cumsum(mass, axis=2)], axis=2)
    cdf[:, :, 1::2] = cdf[:, :, 0:-1:2] + width * (5.0 * left + 8.0 * middle - right) / 24.0
    cdf = np.clip(cdf, 0.0, 1.0)
    cdf[~mask] = 1.0
    # Product over the other arms: prefix and suffix products along the (few) arms, no division, no logs.
    others = np.ones_like(cdf)
    for k in range(1, cdf.shape[1]):
        others[:, k] = others[:, k - 1] * cdf[:, k - 1]
    suffix = np.ones_like(cdf[:, 0])
    for k in range(cdf.shape[1] - 2, -1, -1):
        suffix = suffix * cdf[:, k + 1]
        others[:, k] *= suffix
    integrand = density * others
    cells = width / 6.0 * (integrand[:, :, 0:-1:2] + 4.0 * integrand[:, :, 1::2] + integrand[:, :, 2::2])
    wins = cells.sum(axis=2)
    wins[~mask] = 0.0
    return wins / np.maximum(wins.sum(axis=1, keepdims=True), _TINY)


@dataclass(frozen=True)
class Thompson:
    """At each slate position: one posterior draw per remaining arm, the best arm, a uniform candidate of it."""

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    name: str = "thompson"

    def __post_init__(self) -> None:
        if self.prior_alpha < 1.0 or self.prior_beta < 1.0:
            raise ValueError("prior_alpha and prior_beta must be >= 1 (bounded densities)")

    def params(self) -> dict[str, Any]:
        return {"prior_alpha": self.prior_alpha, "prior_beta": self.prior_beta}

    def posterior(self, count: np.ndarray, reward_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the Beta parameters for arms with these counts and reward sums (sums clipped to [0, count])."""
        count = np.maximum(np.asarray(count, dtype=float), 0.0)
        successes = np.clip(np.asarray(reward_sum, dtype=float), 0.0, count)
        return self.prior_alpha + successes, self.prior_beta + count - successes

    def arm_probabilities(self, left: np.ndarray, count: np.ndarray, reward_sum: np.ndarray) -> np.ndarray:
        alpha, beta = self.posterior(count, reward_sum)
        return win_probabilities_many(alpha, beta, left > 0, grid=EVALUATION_GRID)

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        arms = sorted({c.arm for c in candidates})
        empty = ArmEstimate()
        alpha, beta = self.posterior(
            np.array([stats.get(arm, empty).count for arm in arms], dtype=float),
            np.array([stats.get(arm, empty).reward_sum for arm in arms], dtype=float),
        )
        remaining, picked = list(range(len(candidates))), []
        chosen: list[Choice] = []
        while len(chosen) < k:
            members: dict[str, list[int]] = {arm: [] for arm in arms}
            for index in remaining:
                members[candidates[index].arm].append(index)
            live = [i for i, arm in enumerate(arms) if members[arm]]
            if not live:
                break
            draws = rng.beta(alpha[live], beta[live])
            best = int(np.argmax(draws))
            arm = arms[live[best]]
            wins = win_probabilities(alpha[live], beta[live])
            pick = members[arm][int(rng.integers(len(members[arm])))]
            # Exact up to quadrature: P(this arm's draw is highest) times the uniform pick within the arm.
            propensity = float(wins[best]) / len(members[arm])
            chosen.append(Choice(candidates[pick], float(draws[best]), propensity))
            picked.append(pick)
            remaining = slate_offers(candidates, picked)
        return chosen
