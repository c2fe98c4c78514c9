"""0/1 knapsack instances (generated, seeded) and their exact optimum by dynamic programming.

Families (Pisinger's classical ones, R = 1000):

* uncorrelated: weights and values uniform integers in [1, R];
* weakly correlated: weights in [1, R], value = weight + uniform in [-R/10, R/10] (at least 1);
* strongly correlated: weights in [1, R], value = weight + R/10;
* inverse strongly correlated: values in [1, R], weight = value + R/10;
* subset sum: weights in [1, R], value = weight.

The capacity is a fraction (1/4, 1/2 or 3/4) of the total weight, rounded down.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

R = 1000
FAMILIES = ("uncorrelated", "weakly_correlated", "strongly_correlated", "inverse_strongly_correlated", "subset_sum")


@dataclass
class Instance:
    name: str
    family: str
    values: list[int]
    weights: list[int]
    capacity: int


def make_instance(family: str, n: int, fraction: float, rng: np.random.Generator, name: str = "") -> Instance:
    if family == "uncorrelated":
        w, v = rng.integers(1, R + 1, n), rng.integers(1, R + 1, n)
    elif family == "weakly_correlated":
        w = rng.integers(1, R + 1, n)
        v = np.maximum(1, w + rng.integers(-R // 10, R // 10 + 1, n))
    elif family == "strongly_correlated":
        w = rng.integers(1, R + 1, n)
        v = w + R // 10
    elif family == "inverse_strongly_correlated":
        v = rng.integers(1, R + 1, n)
        w = v + R // 10
    elif family == "subset_sum":
        w = rng.integers(1, R + 1, n)
        v = w.copy()
    else:
        raise ValueError(f"unknown family {family!r}")
    capacity = int(int(w.sum()) * fraction)
    return Instance(name or f"{family}_{n}", family, [int(x) for x in v], [int(x) for x in w], capacity)


def instances(seed: int, sizes=(50, 100, 200), fractions=(0.25, 0.5, 0.75)) -> list[Instance]:
    """One instance per family and size; the capacity fraction cycles with the size."""
    rng = np.random.default_rng(seed)
    out = []
    for family in FAMILIES:
        for k, n in enumerate(sizes):
            frac = fractions[k % len(fractions)]
            out.append(make_instance(family, n, frac, rng, f"{family}_n{n}_c{int(100 * frac)}"))
    return out


def optimum(values, weights, capacity: int) -> int:
    """The exact optimum of a 0/1 knapsack (integers), O(n * capacity) dynamic programming.

    best[c] = the largest total value of a subset of the items seen so far with
    total weight <= c.  Every update reads the previous row only (the shifted
    candidate array is computed before it is written back).
    """
    capacity = int(capacity)
    if capacity < 0:
        raise ValueError("negative capacity")
    best = np.zeros(capacity + 1, dtype=np.int64)
    for v, w in zip(values, weights):
        v, w = int(v), int(w)
        if w < 0 or v < 0:
            raise ValueError("negative weight or value")
        if w <= capacity:
            take = best[:capacity + 1 - w] + v
            np.maximum(best[w:], take, out=best[w:])
    return int(best[capacity])
