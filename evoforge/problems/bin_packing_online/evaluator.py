"""Hardened scorer: FunSearch online bin packing (Romera-Paredes et al., Nature 2024).

The packing is simulated here, in the trusted process (evoforge/problems/binpack.py,
the same simulator as examples/bin_packing); the candidate only answers
priority(item, bins) calls, batched one call per instance per step with
candidate.call_many.  Every returned priority array is validated (real, finite,
not boolean, one value per bin); an invalid one makes the candidate invalid.

Instances, generated from fixed seeds: OR_COUNT OR-style instances of OR_ITEMS
items (capacity 150, sizes uniform in 20..100, like FunSearch's OR3) and
WEIBULL_COUNT Weibull instances of WEIBULL_ITEMS items (capacity 100, like
Weibull 5k).  Objective: the mean over the two families of FunSearch's excess
metric (mean bins used - mean L1 bound) / mean L1 bound, in percent.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError

from evoforge.problems.binpack import excess_percent, l1_bound, or_instances, pack_all, weibull_instances

OR_COUNT, OR_ITEMS, OR_SEED = 5, 500, 3
WEIBULL_COUNT, WEIBULL_ITEMS, WEIBULL_SEED = 5, 5000, 5
UNUSED_BINS = 1
INFO = problem_info(__file__)


def families():
    return {"or": or_instances(OR_COUNT, OR_ITEMS, OR_SEED),
            "weibull": weibull_instances(WEIBULL_COUNT, WEIBULL_ITEMS, WEIBULL_SEED)}


def score(candidate):
    fams = families()
    instances = [inst for insts in fams.values() for inst in insts]
    try:
        used = pack_all(instances, lambda reqs: candidate.call_many("priority", reqs), UNUSED_BINS)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    metrics, lines, pos = {}, [], 0
    for name, insts in fams.items():
        fam_used, pos = used[pos:pos + len(insts)], pos + len(insts)
        bounds = [l1_bound(i.items, i.capacity) for i in insts]
        excess = excess_percent(fam_used, bounds)
        metrics[f"{name}_excess_pct"] = excess
        metrics[f"{name}_mean_bins"] = sum(fam_used) / len(fam_used)
        metrics[f"{name}_mean_l1_bound"] = sum(bounds) / len(bounds)
        lines.append(f"{name}: {len(insts)} instances of {len(insts[0].items)} items, mean bins "
                     f"{metrics[f'{name}_mean_bins']:.2f} vs lower bound {metrics[f'{name}_mean_l1_bound']:.2f} "
                     f"({excess:.3f} % excess)")
    value = (metrics["or_excess_pct"] + metrics["weibull_excess_pct"]) / 2
    return result(INFO, value, "; ".join(lines), **metrics)
