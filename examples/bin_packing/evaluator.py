"""Hardened scorer for FunSearch-style online bin packing.

The packing is simulated here, in the trusted process (evoforge/problems/binpack.py); the
candidate only answers priority(item, bins) calls, batched one call per
instance per step with candidate.call_many.  Every returned priority array is
validated (real, finite, one value per bin); an invalid one makes the whole
candidate invalid.

Default evaluation (fixed seeds, so every candidate sees the same instances):
5 OR-style instances of 500 items (capacity 150, like FunSearch's OR3) and
5 Weibull instances of 5000 items (capacity 100, like Weibull 5k).  Each
priority call is shown the used bins that fit plus one unused bin (see
evoforge/problems/binpack.py for how this relates to FunSearch, which shows every unused bin).
"""
from evoforge.scoring import ScoreError

from evoforge.problems.binpack import excess_percent, l1_bound, or_instances, pack_all, weibull_instances

OR_COUNT, OR_ITEMS, OR_SEED = 5, 500, 3
WEIBULL_COUNT, WEIBULL_ITEMS, WEIBULL_SEED = 5, 5000, 5
UNUSED_BINS = 1


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
        lines.append(f"{name}: {len(insts)} instances of {len(insts[0].items)} items, mean bins used "
                     f"{metrics[f'{name}_mean_bins']:.2f} vs lower bound {metrics[f'{name}_mean_l1_bound']:.2f} "
                     f"({excess:.3f} % excess)")
    metrics["combined_score"] = -(metrics["or_excess_pct"] + metrics["weibull_excess_pct"]) / 2
    metrics["feedback"] = "\n".join(lines)
    return metrics
