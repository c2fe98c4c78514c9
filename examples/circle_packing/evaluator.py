"""Hardened scorer for circle packing (AlphaEvolve B.12, n = 26).

The candidate's construct_packing() runs in its own sandboxed process and
returns raw data only.  The score is recomputed here from the centres and radii;
any malformed or infeasible construction is invalid (see evoforge.scoring).
"""
from evoforge.scoring import ScoreError, check_circles_in_box

N_CIRCLES = 26
BEST_KNOWN = 2.6358627564136983  # AlphaEvolve (Novikov et al. 2025), Appendix B.12
TOL = 1e-9  # float rounding allowance; it cannot raise the score (see check_circles_in_box)


def score(candidate):
    out = candidate.call("construct_packing")
    if not isinstance(out, list) or len(out) != 2:
        return {"valid": False, "error": "construct_packing() must return a pair (centers, radii), "
                                         f"got {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, list) else "")}
    centers, radii = out
    try:
        total = check_circles_in_box(centers, radii, 1.0, 1.0, tol=TOL, n=N_CIRCLES)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return {
        "combined_score": total,
        "sum_of_radii": total,
        "ratio_to_best_known": total / BEST_KNOWN,
        "feedback": f"valid packing of {N_CIRCLES} circles, sum of radii {total:.10f} "
                    f"({100 * total / BEST_KNOWN:.3f} % of the best known {BEST_KNOWN})",
    }
