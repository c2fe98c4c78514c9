"""Hardened scorer: 26 disks in the unit square, maximise the sum of radii (AlphaEvolve B.12).

construct_packing() runs in the candidate's own sandboxed process and returns
raw data only; the sum of radii is recomputed here.  Malformed data (NaN, inf,
complex, booleans, wrong shapes, negative radii) is invalid.  A constraint
violated by more than TOL is invalid; within TOL every radius is shrunk by the
violation and the shrunk packing is verified in exact rational arithmetic, so
the score is always that of an exactly feasible packing.
"""
from evoforge.problems.geometry import certify_disks_in_box, problem_info, result
from evoforge.scoring import ScoreError

N = 26
TOL = 1e-9
INFO = problem_info(__file__)


def score(candidate):
    out = candidate.call("construct_packing")
    if not isinstance(out, list) or len(out) != 2:
        got = type(out).__name__ + (f" of length {len(out)}" if isinstance(out, list) else "")
        return {"valid": False, "error": f"construct_packing() must return a pair (centers, radii), got {got}"}
    try:
        total, shrink = certify_disks_in_box(out[0], out[1], N, 1.0, 1.0, tol=TOL)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    note = f" (radii shrunk by {shrink:.3g} to remove rounding-level violations)" if shrink else ""
    return result(INFO, total, f"valid packing of {N} disks in the unit square{note}", shrink=shrink)
