"""Small statistics used by the evaluator: Wilson intervals, outcome tallies, paired tests."""

from __future__ import annotations

import math


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a binomial rate (95% by default)."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: list[float], z: float = 1.96) -> tuple[float, float, float]:
    """Mean and its normal-approximation 95% interval."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0, 0.0)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def outcome(returns: list[float], seat: int, teams: list[int] | None = None) -> str:
    """'win' when the seat's team has strictly the best return, 'draw' when tied for best, else 'loss'.

    `teams` gives a team number per seat (None: every seat its own team); a team's return is the
    sum of its seats' returns. With a single team (a cooperative game, or a one-seat task) there is
    no one to beat: a positive return is a 'win' (a task: full marks, return >= 1; partial credit is
    a 'draw'), zero a 'draw', a negative one (an invalid move's penalty) a 'loss'.
    """
    if len(returns) == 1:
        return "win" if returns[0] >= 1 else "draw" if returns[0] > 0 else "loss"
    teams = list(range(len(returns))) if teams is None else teams
    totals: dict[int, float] = {}
    for s, team in enumerate(teams):
        totals[team] = totals.get(team, 0.0) + returns[s]
    mine = totals[teams[seat]]
    if len(totals) == 1:
        return "win" if mine > 0 else "draw" if mine == 0 else "loss"
    best = max(totals.values())
    if mine < best:
        return "loss"
    return "win" if list(totals.values()).count(best) == 1 else "draw"


def sign_test(differences: list[float]) -> float:
    """Exact two-sided sign test p-value of paired differences (zeros dropped; 1.0 when all are 0).

    On paired 0/1 outcomes (solved by A, solved by B) this is McNemar's exact test.
    """
    plus = sum(1 for d in differences if d > 0)
    minus = sum(1 for d in differences if d < 0)
    n = plus + minus
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(plus, minus) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_delta(values: list[float], reference: list[float]) -> dict[str, float]:
    """Mean of values - reference over the same items, its 95% interval, and the sign test's p."""
    if len(values) != len(reference):
        raise ValueError(f"paired samples differ in length: {len(values)} vs {len(reference)}")
    differences = [a - b for a, b in zip(values, reference)]
    mean, low, high = mean_interval(differences)
    return {"delta": mean, "delta_low": low, "delta_high": high, "p_value": sign_test(differences)}
