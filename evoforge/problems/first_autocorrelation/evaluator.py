"""Hardened scorer: first autocorrelation inequality (AlphaEvolve B.1), upper bound on C1.

construct_function() returns the heights a_0..a_{n-1} >= 0 of a step function f
on [-1/4, 1/4] with n equal steps.  f*f is piecewise linear with nodes at
multiples of 1/(2n), so max_t (f*f)(t) / (int f)^2 = 2n max_k (a*a)_k / (sum a)^2.
The heights are converted exactly to integers (one common power of two) and the
autoconvolution is computed exactly (evoforge.scoring_extra): the score is an
exact fraction rounded once.  NaN, inf, complex numbers, booleans, negative
heights, an all-zero function and more than MAX_STEPS steps are invalid.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import autocorrelation_c1, step_heights

MAX_STEPS = 100_000
INFO = problem_info(__file__)


def score(candidate):
    try:
        heights, zeroed = step_heights(candidate.call("construct_function"), MAX_STEPS, nonnegative=True)
        value, info = autocorrelation_c1(heights)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    n = len(heights)
    note = f"; {zeroed} heights below 2^-200 of the largest counted as 0" if zeroed else ""
    return result(INFO, float(value), f"non-negative step function with {n} steps, autoconvolution peak at "
                                      f"node {info['argmax_node']} of {2 * n - 1}{note}",
                  num_steps=n, zeroed_heights=zeroed)
