"""Hardened scorer: 21 disks in a rectangle of perimeter 4, maximise the sum of radii (AlphaEvolve B.13).

The rectangle is the axis-parallel bounding box of the disks, so the constraint
is width + height <= 2 with width = max(x_i + r_i) - min(x_i - r_i) and height
likewise.  Everything is recomputed here from the returned centres and radii.
Overlaps up to TOL are removed by shrinking the radii; a bounding box up to TOL
too large is fixed by scaling the whole configuration (which keeps it disjoint);
the score is the sum of radii of that exactly feasible configuration, computed
in exact rational arithmetic.  Anything beyond TOL is invalid.
"""
from evoforge.problems.geometry import certify_disks_in_perimeter, problem_info, result
from evoforge.problems.geometry_scorers import pair_error
from evoforge.scoring import ScoreError

N = 21
TOL = 1e-9
INFO = problem_info(__file__)


def score(candidate):
    out = candidate.call("construct_packing")
    if (bad := pair_error(out)) is not None:
        return {"valid": False, "error": bad}
    try:
        total, box = certify_disks_in_perimeter(out[0], out[1], N, half_perimeter=2.0, tol=TOL)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    summary = (f"valid packing of {N} disks in a {box['width']:.10g} x {box['height']:.10g} rectangle"
               + (f" (scaled by {box['scale']:.17g} to perimeter 4)" if box["scale"] != 1 else "")
               + (f" (radii shrunk by {box['shrink']:.3g})" if box["shrink"] else ""))
    return result(INFO, total, summary, width=box["width"], height=box["height"],
                  shrink=box["shrink"], scale=box["scale"])
