"""Hardened scorer: Erdos minimum overlap problem (AlphaEvolve B.5), upper bound on C5.

construct_function() returns the heights h_0..h_{n-1} in [0, 1] of a step
function on [0, 2] (steps of width 2/n) with integral 1, i.e. sum h = n/2.  The
score (2/n) max_j sum_i h_i (1 - h_{i+j}) (the full cross-correlation of h with
1 - h, which counts as 0 outside [0, 2]) is computed in exact integer
arithmetic (evoforge.scoring_extra.erdos_overlap).  The integral may miss 1 by
at most SUM_TOL (float rounding); the miss is then added to the score, which
bounds the score of an exactly admissible function nearby, so the tolerance
never pays.  NaN, inf, complex numbers, booleans, heights outside [0, 1] and
more than MAX_STEPS steps are invalid.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import erdos_overlap, step_heights

MAX_STEPS = 100_000
SUM_TOL = 1e-9
INFO = problem_info(__file__)


def score(candidate):
    try:
        heights, zeroed = step_heights(candidate.call("construct_function"), MAX_STEPS, nonnegative=True,
                                       upper=1.0)
        value, info = erdos_overlap(heights, SUM_TOL)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    n = len(heights)
    notes = [f"largest overlap at shift {info['argmax_shift_steps']} steps"]
    if info["integral_error"]:
        notes.append(f"integral off by {info['integral_error']:.3g}, added to the score")
    if zeroed:
        notes.append(f"{zeroed} heights below 2^-200 counted as 0")
    return result(INFO, float(value), f"step function with {n} steps; " + "; ".join(notes),
                  num_steps=n, integral_error=info["integral_error"], zeroed_heights=zeroed)
