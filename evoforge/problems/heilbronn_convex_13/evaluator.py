"""Hardened scorer: Heilbronn problem for convex regions, n = 13 (AlphaEvolve B.10).

Score = (smallest area of a triangle with vertices among the points) /
(area of the convex hull of the points): the best convex container of unit area
for this point set is its own hull.  Hull, areas and their ratio are computed in
exact rational arithmetic (float64 coordinates are exact dyadic rationals) and
rounded once; there is no tolerance.  Coincident points, all points collinear,
wrong shapes, NaN, inf, complex numbers and booleans are invalid.
"""
from evoforge.problems.geometry import problem_info
from evoforge.problems.geometry_scorers import heilbronn_convex

INFO = problem_info(__file__)


def score(candidate):
    return heilbronn_convex(candidate, INFO, n=13)
