"""Hardened scorer: 14 points in R^3, minimise (max distance / min distance)^2 (AlphaEvolve B.8).

construct_points() returns the raw coordinates; the ratio is recomputed here in
exact rational arithmetic (float64 coordinates are exact dyadic rationals) and
rounded once to float64.  No tolerance is needed or used.  Coincident points,
a wrong number of points or coordinates, NaN, inf, complex numbers and
booleans are invalid.
"""
from evoforge.problems.geometry import points, problem_info, ratio_squared, result
from evoforge.scoring import ScoreError

N, DIM = 14, 3
INFO = problem_info(__file__)


def score(candidate):
    try:
        p = points(candidate.call("construct_points"), N, DIM)
        value, info = ratio_squared(p)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, value, f"{N} distinct points in R^{DIM}; closest pair {info['closest_pair']}, "
                               f"farthest pair {info['farthest_pair']}")
