"""Hardened scorer: FunSearch online bin packing (Romera-Paredes et al., Nature 2024).

The packing is simulated here, in the trusted process (evoforge/problems/binpack.py,
the same simulator as examples/bin_packing); the candidate only answers
priority(item, bins) calls, batched one call per instance per step with
candidate.call_many.  Every returned priority array is validated (real, finite,
not boolean, one value per bin); an invalid one makes the candidate invalid.

Instances (evoforge/problems/binpack.py, fixed seeds): OR_COUNT OR-style instances of OR_ITEMS
items (capacity 150, sizes uniform in 20..100, like FunSearch's OR3) and
WEIBULL_COUNT Weibull instances of WEIBULL_ITEMS items (capacity 100, like
Weibull 5k).  Objective: the mean over the two families of FunSearch's excess
metric (mean bins used - mean L1 bound) / mean L1 bound, in percent.
"""
from evoforge.problems.binpack import default_families, score_priority
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError

UNUSED_BINS = 1
INFO = problem_info(__file__)


def score(candidate):
    try:
        excess, metrics, lines = score_priority(candidate, default_families(), UNUSED_BINS)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, excess, "; ".join(lines), **metrics)
