"""Hardened scorer: third autocorrelation inequality (AlphaEvolve B.3), upper bound on C3.

construct_function() returns the real heights a_0..a_{n-1} (negative values
allowed) of a step function f on [-1/4, 1/4] with n equal steps.  f*f is
piecewise linear with nodes at multiples of 1/(2n) and is 0 at t = +-1/2, so
|max_t (f*f)(t)| / (int f)^2 = 2n max(0, max_k (a*a)_k) / (sum a)^2.  Computed in
exact integer arithmetic (evoforge.scoring_extra), rounded once.  The variant
C3' (absolute value inside the maximum: 2n max_k |(a*a)_k| / (sum a)^2) is
reported as the metric c3_prime_upper_bound.  NaN, inf, complex numbers,
booleans, heights summing to exactly 0 and more than MAX_STEPS steps are invalid.
"""
from evoforge.problems.geometry import problem_info, result
from evoforge.scoring import ScoreError
from evoforge.scoring_extra import autocorrelation_c3, step_heights

MAX_STEPS = 100_000
INFO = problem_info(__file__)


def score(candidate):
    try:
        heights, zeroed = step_heights(candidate.call("construct_function"), MAX_STEPS, nonnegative=False)
        value, prime, _ = autocorrelation_c3(heights)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    n = len(heights)
    note = f"; {zeroed} heights below 2^-200 of the largest in absolute value counted as 0" if zeroed else ""
    return result(INFO, float(value), f"step function with {n} steps{note}; C3' bound "
                                      f"(|f*f| inside the max) {float(prime):.12g}",
                  c3_prime_upper_bound=float(prime), num_steps=n, zeroed_heights=zeroed)
