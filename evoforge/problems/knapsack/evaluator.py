"""Hardened scorer: 0/1 knapsack against the exact optimum.

The instances are generated here from a fixed seed (instances.py; the candidate
never sees this directory) and each optimum is computed exactly by dynamic
programming.  solve(values, weights, capacity) is called once per instance (one
batched round trip) and must return the indices of the chosen items; the
scorer checks them (integers, distinct, in range, total weight <= capacity, all
in exact integer arithmetic) and recomputes the value itself.  Score: the mean
over the instances of value / optimum (1.0 = every instance solved optimally).
Any invalid selection makes the candidate invalid.
"""
import numpy as np

from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError, as_int_array

from instances import FAMILIES, instances, optimum

SEED = 20240611
INFO = problem_info(__file__)


def check_selection(value, inst) -> int:
    """The total value of a valid selection of item indices (ScoreError otherwise)."""
    n = len(inst.values)
    where = f"solve() for instance {inst.name} ({n} items, capacity {inst.capacity})"
    if isinstance(value, (list, tuple)) and len(value) > n:
        raise ScoreError(f"{where} returned {len(value)} indices, more than the {n} items")
    try:
        chosen = as_int_array(value, (None,), "indices")
    except ScoreError as err:
        raise ScoreError(f"{where}: {err} (return a list of item indices)") from None
    if len(chosen) > n:
        raise ScoreError(f"{where} returned {len(chosen)} indices, more than the {n} items")
    seen = set()
    for k, i in enumerate(chosen):
        if not 0 <= i < n:
            raise ScoreError(f"{where}: indices[{k}] = {i} is not an item index (0 .. {n - 1})")
        if i in seen:
            raise ScoreError(f"{where}: item {i} is chosen more than once")
        seen.add(i)
    weight = sum(inst.weights[i] for i in chosen)
    if weight > inst.capacity:
        raise ScoreError(f"{where}: the chosen items weigh {weight}, more than the capacity {inst.capacity}")
    return sum(inst.values[i] for i in chosen)


def score(candidate):
    insts = instances(SEED)
    opts = [optimum(i.values, i.weights, i.capacity) for i in insts]
    answers = candidate.call_many("solve", [(i.values, i.weights, i.capacity) for i in insts])
    try:
        got = [check_selection(a, inst) for a, inst in zip(answers, insts)]
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    ratios = [g / o for g, o in zip(got, opts)]
    mean = float(np.mean(ratios))
    extra = {f"{fam}_ratio": float(np.mean([r for r, i in zip(ratios, insts) if i.family == fam]))
             for fam in FAMILIES}
    optimal = sum(g == o for g, o in zip(got, opts))
    worst = min(range(len(insts)), key=lambda k: ratios[k])
    return result(INFO, mean, f"{optimal} of {len(insts)} instances solved optimally; worst: {insts[worst].name} "
                              f"at {ratios[worst]:.6f} of the optimum ({got[worst]} vs {opts[worst]})",
                  optimal_instances=optimal, min_ratio=min(ratios), **extra)
