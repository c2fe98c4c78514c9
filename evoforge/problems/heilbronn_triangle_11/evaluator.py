"""Hardened scorer: Heilbronn problem in a triangle, n = 11 (AlphaEvolve B.9).

The container is the closed equilateral triangle T with vertices (0, 0), (1, 0),
(1/2, sqrt(3)/2).  Score = (smallest area of a triangle formed by three of the
points) / area(T), i.e. the smallest triangle for a container of unit area.
Containment and all areas are computed in exact rational arithmetic (sqrt(3)
enclosed by rationals 2^-200 apart, always rounding towards a lower score).  A
point outside T by at most TOL is accepted, but then the score is that of the
configuration shrunk towards the centre of T until it lies in T exactly.
"""
from evoforge.problems.geometry import heilbronn_triangle_score, points, problem_info, result
from evoforge.scoring import ScoreError

N = 11
TOL = 1e-9
INFO = problem_info(__file__)


def score(candidate):
    try:
        p = points(candidate.call("construct_points"), N, 2)
        value, info = heilbronn_triangle_score(p, tol=TOL)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    note = f" (a point is {info['outside_by']:.3g} outside: shrunk into the triangle)" if info["outside_by"] else ""
    return result(INFO, value, f"{N} distinct points in the triangle{note}; smallest triangle "
                               f"{info['smallest_triangle']}", outside_by=info["outside_by"])
