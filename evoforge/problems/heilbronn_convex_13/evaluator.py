"""Hardened scorer: Heilbronn problem for convex regions, n = 13 (AlphaEvolve B.10).

Score = (smallest area of a triangle with vertices among the points) /
(area of the convex hull of the points): the best convex container of unit area
for this point set is its own hull.  Hull, areas and their ratio are computed in
exact rational arithmetic (float64 coordinates are exact dyadic rationals) and
rounded once; there is no tolerance.  Coincident points, all points collinear,
wrong shapes, NaN, inf, complex numbers and booleans are invalid.
"""
from evoforge.problems.geometry import heilbronn_convex_score, points, problem_info, result
from evoforge.scoring import ScoreError

N = 13
INFO = problem_info(__file__)


def score(candidate):
    try:
        p = points(candidate.call("construct_points"), N, 2)
        value, info = heilbronn_convex_score(p)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(INFO, value, f"{N} distinct points, convex hull area {info['hull_area']:.12g}; smallest "
                               f"triangle {info['smallest_triangle']}")
