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
from evoforge.problems.binpack import default_families, score_priority
from evoforge.scoring import ScoreError

UNUSED_BINS = 1


def families():
    return default_families()


def score(candidate):
    try:
        excess, metrics, lines = score_priority(candidate, families(), UNUSED_BINS)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    metrics["combined_score"] = -excess
    metrics["feedback"] = "\n".join(lines)
    return metrics
