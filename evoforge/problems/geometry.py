"""Exact checks for the built-in geometry problems (used by their evaluator.py).

Every objective is recomputed from the raw numbers a candidate returns, never
from a value it reports.  Float64 inputs are dyadic rationals, so most checks
are done exactly: all coordinates are scaled by one common power of two to
Python integers (`dyadic_ints`) and compared with integer arithmetic.  Where a
tolerance is accepted (disks, points on the boundary of a triangle), the score
returned is that of a nearby object that satisfies every constraint exactly
(radii shrunk, configuration scaled), so breaking a constraint never pays.

Everything here raises `evoforge.scoring.ScoreError` with a message meant for
the candidate's author; the evaluators turn it into ``{"valid": False, ...}``.
"""
from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations
from typing import Any, Sequence

import numpy as np

from ..scoring import ScoreError, as_int_array, as_real_array, circle_violation

__all__ = [
    "dyadic_ints", "certify_disks_in_box", "certify_disks_in_perimeter", "points", "check_distinct",
    "ratio_squared", "min_triangle_area2", "heilbronn_triangle_score", "heilbronn_convex_score",
    "kissing_check", "problem_info", "result", "SQRT3_LO", "SQRT3_HI",
]

# sqrt(3) enclosed by rationals 2**-200 apart.
_K = 200
SQRT3_LO = Fraction(math.isqrt(3 << (2 * _K)), 1 << _K)
SQRT3_HI = SQRT3_LO + Fraction(1, 1 << _K)


def dyadic_ints(values: Sequence[float]) -> tuple[list[int], int]:
    """Exact integers m_i and one shift k with ``values[i] == m_i / 2**k``."""
    ratios = [float(v).as_integer_ratio() for v in values]  # denominators are powers of two
    k = max((d.bit_length() - 1 for _, d in ratios), default=0)
    return [n << (k - (d.bit_length() - 1)) for n, d in ratios], k


def _pair_violation(c: np.ndarray, r: np.ndarray) -> tuple[float, str]:
    n = len(r)
    if n < 2:
        return -math.inf, "no pairs"
    i_idx, j_idx = np.triu_indices(n, 1)
    dist = np.hypot(c[i_idx, 0] - c[j_idx, 0], c[i_idx, 1] - c[j_idx, 1])
    over = r[i_idx] + r[j_idx] - dist
    k = int(np.argmax(over))
    i, j = int(i_idx[k]), int(j_idx[k])
    return float(over[k]), (f"circles {i} and {j} overlap by {over[k]:.3g} (distance between centres "
                            f"{dist[k]:.12g} < r{i} + r{j} = {r[i] + r[j]:.12g})")


def _exact_disks_ok(c: np.ndarray, r: np.ndarray, box: tuple[float, float] | None) -> bool:
    """Every constraint in exact rational arithmetic (on the float64 values as given)."""
    n = len(r)
    extra = list(box) if box else []
    ints, _ = dyadic_ints([*c[:, 0].tolist(), *c[:, 1].tolist(), *r.tolist(), *extra])
    xs, ys, rs = ints[:n], ints[n:2 * n], ints[2 * n:3 * n]
    if box:
        w, h = ints[3 * n], ints[3 * n + 1]
        for x, y, q in zip(xs, ys, rs):
            if x - q < 0 or x + q > w or y - q < 0 or y + q > h:
                return False
    for i in range(n):
        xi, yi, ri = xs[i], ys[i], rs[i]
        for j in range(i + 1, n):
            dx, dy, s = xi - xs[j], yi - ys[j], ri + rs[j]
            if dx * dx + dy * dy < s * s:
                return False
    return True


def _certify(c: np.ndarray, r: np.ndarray, box: tuple[float, float] | None, tol: float) -> tuple[np.ndarray, float]:
    if box:
        worst, what = circle_violation(c, r, box[0], box[1])
    else:
        worst, what = _pair_violation(c, r)
    if worst > tol:
        raise ScoreError(f"infeasible packing (tolerance {tol:g}): {what}")
    shrink = max(worst, 0.0)
    while True:
        cert = np.maximum(r - shrink, 0.0) if shrink > 0 else r
        if _exact_disks_ok(c, cert, box):
            return cert, shrink
        # Float rounding hid a violation of at most a few ulps: shrink a little more.
        shrink = max(2 * shrink, 2.0 ** -60)
        if shrink > 2 * tol:
            raise ScoreError(f"infeasible packing (tolerance {tol:g}): a constraint fails in exact arithmetic")


def _disk_data(centers: Any, radii: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    c = as_real_array(centers, (n, 2), "centers")
    r = as_real_array(radii, (n,), "radii")
    neg = np.flatnonzero(r < 0)
    if len(neg):
        raise ScoreError(f"radius {int(neg[0])} is negative ({r[neg[0]]!r})")
    return c, r


def certify_disks_in_box(centers: Any, radii: Any, n: int, width: float = 1.0, height: float = 1.0,
                         tol: float = 1e-9) -> tuple[float, float]:
    """Certified sum of radii of `n` disks in [0, width] x [0, height]: (sum, shrink).

    Constraints: r_i >= 0, r_i <= x_i <= width - r_i, r_i <= y_i <= height - r_i,
    |c_i - c_j| >= r_i + r_j.  A worst violation v > tol is rejected; otherwise
    every radius is reduced by max(v, 0) (more if exact arithmetic still finds a
    violation) and the packing with these radii is verified in exact rational
    arithmetic.  The sum of the certified radii is returned (math.fsum).
    """
    c, r = _disk_data(centers, radii, n)
    cert, shrink = _certify(c, r, (float(width), float(height)), tol)
    return math.fsum(cert.tolist()), shrink


def certify_disks_in_perimeter(centers: Any, radii: Any, n: int, half_perimeter: float = 2.0,
                               tol: float = 1e-9) -> tuple[float, dict]:
    """Certified sum of radii of `n` disjoint disks in an axis-parallel rectangle of
    perimeter 2 * half_perimeter (the bounding box of the disks: W + H <= half_perimeter).

    Overlaps up to `tol` are removed by shrinking radii (as in
    `certify_disks_in_box`); if W + H exceeds half_perimeter by at most `tol`, the
    whole configuration is scaled by half_perimeter / (W + H), which keeps it
    disjoint and makes W + H equal to half_perimeter exactly; the score is that of
    the scaled configuration, computed exactly and rounded once.
    """
    c, r = _disk_data(centers, radii, n)
    lo_x, hi_x = float(np.min(c[:, 0] - r)), float(np.max(c[:, 0] + r))
    lo_y, hi_y = float(np.min(c[:, 1] - r)), float(np.max(c[:, 1] + r))
    over = (hi_x - lo_x) + (hi_y - lo_y) - half_perimeter
    if over > tol:
        raise ScoreError(f"the disks' bounding box is {hi_x - lo_x:.12g} x {hi_y - lo_y:.12g}: width + height = "
                         f"{hi_x - lo_x + hi_y - lo_y:.12g} exceeds {half_perimeter:g} (perimeter "
                         f"{2 * half_perimeter:g}) by {over:.3g} (tolerance {tol:g})")
    cert, shrink = _certify(c, r, None, tol)
    ints, k = dyadic_ints([*c[:, 0].tolist(), *c[:, 1].tolist(), *cert.tolist()])
    xs, ys, rs = ints[:n], ints[n:2 * n], ints[2 * n:]
    w = max(x + q for x, q in zip(xs, rs)) - min(x - q for x, q in zip(xs, rs))
    h = max(y + q for y, q in zip(ys, rs)) - min(y - q for y, q in zip(ys, rs))
    semi = Fraction(w + h, 1 << k)
    scale = min(Fraction(1), Fraction(half_perimeter) / semi) if semi > 0 else Fraction(1)
    total = Fraction(sum(rs), 1 << k) * scale
    return float(total), {"width": float(Fraction(w, 1 << k) * scale), "height": float(Fraction(h, 1 << k) * scale),
                          "shrink": shrink, "scale": float(scale)}


# -- point sets -----------------------------------------------------------------------------
def points(value: Any, n: int, dim: int, name: str = "points") -> np.ndarray:
    """`n` points in R^dim as a validated float64 array, pairwise distinct."""
    p = as_real_array(value, (n, dim), name)
    check_distinct(p, name)
    return p


def check_distinct(p: np.ndarray, name: str = "points") -> None:
    seen: dict[tuple, int] = {}
    for i, row in enumerate(p.tolist()):
        key = tuple(v + 0.0 for v in row)  # -0.0 == 0.0
        if key in seen:
            raise ScoreError(f"{name} {seen[key]} and {i} coincide at {list(key)}: the points must be distinct")
        seen[key] = i


def _int_points(p: np.ndarray) -> tuple[list[list[int]], int]:
    n, d = p.shape
    ints, k = dyadic_ints(p.reshape(-1).tolist())
    return [ints[i * d:(i + 1) * d] for i in range(n)], k


def ratio_squared(p: np.ndarray) -> tuple[float, dict]:
    """(max pairwise distance / min pairwise distance)^2, exactly, rounded once."""
    q, _ = _int_points(p)
    best_min = best_max = None
    for i, j in combinations(range(len(q)), 2):
        d2 = sum((a - b) * (a - b) for a, b in zip(q[i], q[j]))
        if best_min is None or d2 < best_min[0]:
            best_min = (d2, i, j)
        if best_max is None or d2 > best_max[0]:
            best_max = (d2, i, j)
    if best_min is None or best_min[0] == 0:
        raise ScoreError("need at least two distinct points")
    value = float(Fraction(best_max[0], best_min[0]))
    return value, {"closest_pair": [best_min[1], best_min[2]], "farthest_pair": [best_max[1], best_max[2]]}


def min_triangle_area2(q: list[list[int]]) -> tuple[int, tuple[int, int, int]]:
    """Smallest |cross product| (twice the area) over all triples of integer points."""
    best, where = None, (0, 1, 2)
    for i, j, k in combinations(range(len(q)), 3):
        (ax, ay), (bx, by), (cx, cy) = q[i], q[j], q[k]
        a2 = abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
        if best is None or a2 < best:
            best, where = a2, (i, j, k)
            if a2 == 0:
                break
    if best is None:
        raise ScoreError("need at least three points")
    return best, where


def heilbronn_triangle_score(p: np.ndarray, tol: float = 1e-9) -> tuple[float, dict]:
    """Heilbronn problem in the equilateral triangle T with vertices (0, 0), (1, 0), (1/2, sqrt(3)/2).

    Score = (smallest triangle area) / area(T) with area(T) = sqrt(3)/4.  Points must
    lie in the closed triangle, checked exactly.  A point outside by a distance
    t <= tol is accepted, but the score is then that of the configuration shrunk
    towards the centre of T by lambda = rho / (rho + t) (rho = sqrt(3)/6, the
    inradius), which lies in T exactly: score * lambda^2.  All arithmetic is
    rational (sqrt(3) enclosed by rationals 2^-200 apart, rounded towards a lower
    score) up to the final rounding to float64.
    """
    q, k = _int_points(p)
    one = 1 << k
    worst, worst_i, side = Fraction(0), -1, ""
    for i, (x, y) in enumerate(q):
        for name, a in (("left side y = sqrt(3) x", x), ("right side y = sqrt(3) (1 - x)", one - x)):
            inside = (a >= 0 or y * y >= 3 * a * a) if y <= 0 else (a >= 0 and y * y <= 3 * a * a)  # sqrt(3) a >= y
            if not inside:  # distance outside (y - sqrt(3) a) / 2, bounded above
                s = SQRT3_LO if a >= 0 else SQRT3_HI
                t = (Fraction(y, one) - s * Fraction(a, one)) / 2
                if t > worst:
                    worst, worst_i, side = t, i, name
        if y < 0 and Fraction(-y, one) > worst:
            worst, worst_i, side = Fraction(-y, one), i, "bottom side y = 0"
    if worst > tol:
        x, y = p[worst_i]
        raise ScoreError(f"point {worst_i} ({x:.12g}, {y:.12g}) lies outside the triangle, {float(worst):.3g} beyond "
                         f"its {side} (tolerance {tol:g})")
    a2, tri = min_triangle_area2(q)
    area = Fraction(a2, 2 * one * one)
    lam_inv = 1 + 6 * worst / SQRT3_LO  # 1 / lambda, rounded up
    score = 4 * area / SQRT3_HI / (lam_inv * lam_inv)
    return float(score), {"smallest_triangle": list(tri), "outside_by": float(worst)}


def _hull_area2(q: list[list[int]]) -> int:
    """Twice the area of the convex hull of integer points (monotone chain, exact)."""
    pts = sorted({(a, b) for a, b in q})
    if len(pts) < 3:
        return 0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for pt in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], pt) <= 0:
            lower.pop()
        lower.append(pt)
    upper: list = []
    for pt in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], pt) <= 0:
            upper.pop()
        upper.append(pt)
    hull = lower[:-1] + upper[:-1]
    return abs(sum(hull[i][0] * hull[i - 1][1] - hull[i - 1][0] * hull[i][1] for i in range(len(hull))))


def heilbronn_convex_score(p: np.ndarray) -> tuple[float, dict]:
    """(smallest triangle area) / (area of the convex hull of the points), exactly, rounded once."""
    q, _ = _int_points(p)
    hull2 = _hull_area2(q)
    if hull2 == 0:
        raise ScoreError("the points are all collinear: their convex hull has no area")
    a2, tri = min_triangle_area2(q)
    return float(Fraction(a2, hull2)), {"smallest_triangle": list(tri), "hull_area": float(Fraction(hull2, 2))}


# -- kissing configurations ----------------------------------------------------------------
def kissing_check(value: Any, dim: int, max_vectors: int) -> tuple[int, dict]:
    """Number of vectors of a valid AlphaEvolve kissing certificate in Z^dim.

    C (integer vectors) is valid when 0 is not in C and
    min_{x != y in C} |x - y|^2 >= max_{x in C} |x|^2; then the unit spheres at
    2x/|x| all touch the unit sphere at 0 without overlapping, so the kissing
    number is at least |C|.  Checked with Python integers only.  Pairs whose
    float64 distance exceeds max |x|^2 by a margin far larger than float64 error
    are settled by the float computation (proved bound, used only when every
    entry is below 2^52 in absolute value); every other pair is checked exactly.
    """
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) > max_vectors:
        raise ScoreError(f"{len(value)} vectors: more than {max_vectors} cannot satisfy the criterion in dimension "
                         f"{dim} (the kissing number there is far smaller); refusing to check")
    vecs = as_int_array(value, (None, dim), "vectors")
    if len(vecs) > max_vectors:
        raise ScoreError(f"{len(vecs)} vectors: more than {max_vectors} cannot satisfy the criterion; refusing to check")
    if not vecs:
        raise ScoreError("no vectors returned")
    norms = [sum(v * v for v in x) for x in vecs]
    for i, nrm in enumerate(norms):
        if nrm == 0:
            raise ScoreError(f"vector {i} is the zero vector (0 must not be in C)")
    max_norm = max(norms)
    i_max = norms.index(max_norm)
    n = len(vecs)
    big = max(abs(v) for x in vecs for v in x)
    candidates: list[tuple[int, int]]
    if big < 2 ** 52:
        arr = np.array(vecs, dtype=np.float64)  # exact: every entry has < 53 bits
        bound = float(max_norm) * (1 + 1e-9)
        candidates = []
        for i in range(n - 1):
            diff = arr[i + 1:] - arr[i]  # exact (< 2^53)
            d2 = np.einsum("ij,ij->i", diff, diff)  # relative error < 1e-14
            candidates.extend((i, i + 1 + int(j)) for j in np.flatnonzero(d2 <= bound))
    else:
        candidates = [(i, j) for i in range(n) for j in range(i + 1, n)]
    min_d2, pair = None, None
    for i, j in candidates:
        d2 = sum((a - b) * (a - b) for a, b in zip(vecs[i], vecs[j]))
        if d2 < max_norm:
            if d2 == 0:
                raise ScoreError(f"vectors {i} and {j} are equal: C must be a set of distinct vectors")
            raise ScoreError(f"vectors {i} and {j} are too close: |x{i} - x{j}|^2 = {d2} < max |x|^2 = {max_norm} "
                             f"(|x{i_max}|^2); the criterion needs min |x - y|^2 >= max |x|^2")
        if min_d2 is None or d2 < min_d2:
            min_d2, pair = d2, (i, j)
    info = {"max_norm2": str(max_norm), "checked_exactly": len(candidates)}
    if min_d2 is not None:
        info["min_dist2"] = str(min_d2)
        info["closest_pair"] = list(pair)
    return n, info


# -- the problem's own facts -------------------------------------------------------------------
def problem_info(evaluator_file: str) -> dict:
    """The problem.yaml next to an evaluator (best_known, proven_bound, direction, ...)."""
    import yaml
    from pathlib import Path

    path = Path(evaluator_file).resolve().with_name("problem.yaml")
    return yaml.safe_load(path.read_text()) or {}


# -- the metrics dict -----------------------------------------------------------------------
def result(info: dict, value: float, summary: str, **extra: Any) -> dict:
    """Metrics of a valid construction, with the plausibility guard.

    `info` is the problem.yaml (`problem_info`): its objective names the metric,
    direction, best_known and proven_bound come from it.
    ``fraction_of_best_known`` is value / best (maximise) or best / value
    (minimise): 1.0 matches the record, above 1 beats it.  A value beyond a
    proven bound cannot come from a valid construction: it is reported as invalid
    (a scorer bug), never rewarded.
    """
    objective, maximize = info["objective"], info.get("direction", "maximize") == "maximize"
    best, bound = info.get("best_known"), info.get("proven_bound")
    if bound is not None and (value > bound if maximize else value < bound):
        return {"valid": False, "error": f"implausible {objective} {value!r}: beyond the proven bound "
                                          f"{bound!r}; this indicates a scorer bug, please report it"}
    out: dict[str, Any] = {objective: value}
    feedback = f"{summary}; {objective} = {value:.12g}"
    if best:
        frac = value / best if maximize else (best / value if value else 0.0)
        out["fraction_of_best_known"] = frac
        feedback += f" ({100 * frac:.4f} % of the best known {best:.12g})"
        if frac > 1 + 1e-9:
            feedback += ("; this beats the best known value: exciting if true, so check the construction "
                         "independently before claiming it")
            out["beats_best_known"] = 1
    out.update(extra)
    out["feedback"] = feedback
    return out
