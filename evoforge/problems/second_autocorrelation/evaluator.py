"""Hardened scorer: second autocorrelation inequality (AlphaEvolve B.2), lower bound on C2.

construct_function() returns the heights a_0..a_{n-1} >= 0 of a step function f
on [-1/4, 1/4] with n equal steps.  g = f*f is the continuous piecewise-linear
function through 0, b_0, ..., b_{2n-2}, 0 at 2n + 1 equally spaced nodes
(b = a*a), and the score ||g||_2^2 / (||g||_1 ||g||_inf) is computed from the
exact norms of that function, in exact integer arithmetic
(evoforge.scoring_extra).  NaN, inf, complex numbers, booleans, negative
heights, an all-zero function and more than MAX_STEPS steps are invalid.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import autocorrelation_c2, step_heights

MAX_STEPS = 100_000
INFO = problem_info(__file__)


def score(candidate):
    try:
        heights, zeroed = step_heights(candidate.call("construct_function"), MAX_STEPS, nonnegative=True)
        value, _ = autocorrelation_c2(heights)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    n = len(heights)
    note = f"; {zeroed} heights below 2^-200 of the largest counted as 0" if zeroed else ""
    return result(INFO, float(value), f"non-negative step function with {n} steps{note}",
                  num_steps=n, zeroed_heights=zeroed)
