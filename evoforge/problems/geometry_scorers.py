"""The `score(candidate)` bodies shared by the geometry problems that differ only in size.

Each built-in evaluator.py is a few lines that fix n (and the dimension) and call
one of these, so the validation and certification logic exists once.
"""
from __future__ import annotations

from evoforge.scoring import ScoreError

from .geometry import certify_disks_in_box, heilbronn_convex_score, points, ratio_squared, result


def pair_error(out) -> str | None:
    if isinstance(out, list) and len(out) == 2:
        return None
    got = type(out).__name__ + (f" of length {len(out)}" if isinstance(out, list) else "")
    return f"construct_packing() must return a pair (centers, radii), got {got}"


def disks_in_unit_square(candidate, info, n: int, tol: float = 1e-9) -> dict:
    out = candidate.call("construct_packing")
    if (bad := pair_error(out)) is not None:
        return {"valid": False, "error": bad}
    try:
        total, shrink = certify_disks_in_box(out[0], out[1], n, 1.0, 1.0, tol=tol)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    note = f" (radii shrunk by {shrink:.3g} to remove rounding-level violations)" if shrink else ""
    return result(info, total, f"valid packing of {n} disks in the unit square{note}", shrink=shrink)


def heilbronn_convex(candidate, info, n: int) -> dict:
    try:
        p = points(candidate.call("construct_points"), n, 2)
        value, details = heilbronn_convex_score(p)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(info, value, f"{n} distinct points, convex hull area {details['hull_area']:.12g}; smallest "
                               f"triangle {details['smallest_triangle']}")


def distance_ratio(candidate, info, n: int, dim: int) -> dict:
    try:
        p = points(candidate.call("construct_points"), n, dim)
        value, details = ratio_squared(p)
    except ScoreError as err:
        return {"valid": False, "error": str(err)}
    return result(info, value, f"{n} distinct points in R^{dim}; closest pair {details['closest_pair']}, "
                               f"farthest pair {details['farthest_pair']}")
