"""Hardened scorer: 32 disks in the unit square, maximise the sum of radii (AlphaEvolve B.12).

construct_packing() runs in the candidate's own sandboxed process and returns
raw data only; the sum of radii is recomputed here.  Malformed data (NaN, inf,
complex, booleans, wrong shapes, negative radii) is invalid.  A constraint
violated by more than TOL is invalid; within TOL every radius is shrunk by the
violation and the shrunk packing is verified in exact rational arithmetic, so
the score is always that of an exactly feasible packing.
"""
from evoforge.problems.geometry import problem_info
from evoforge.problems.geometry_scorers import disks_in_unit_square

INFO = problem_info(__file__)


def score(candidate):
    return disks_in_unit_square(candidate, INFO, n=32, tol=1e-9)
