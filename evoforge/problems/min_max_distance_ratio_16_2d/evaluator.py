"""Hardened scorer: 16 points in R^2, minimise (max distance / min distance)^2 (AlphaEvolve B.8).

construct_points() returns the raw coordinates; the ratio is recomputed here in
exact rational arithmetic (float64 coordinates are exact dyadic rationals) and
rounded once to float64.  No tolerance is needed or used.  Coincident points,
a wrong number of points or coordinates, NaN, inf, complex numbers and
booleans are invalid.
"""
from evoforge.problems.geometry import problem_info
from evoforge.problems.geometry_scorers import distance_ratio

INFO = problem_info(__file__)


def score(candidate):
    return distance_ratio(candidate, INFO, n=16, dim=2)
