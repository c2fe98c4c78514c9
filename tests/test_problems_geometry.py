"""The built-in geometry problems (evoforge/problems/), checked against the published
AlphaEvolve constructions in ../shared/data/alphaevolve.

For every problem: the published constructions, returned by a candidate program and
scored by the real Evaluator (two sandboxed processes), reproduce the published
``alphaevolve_value`` to 1e-9 relative (exactly for the kissing number); the
initial program is valid with its pinned baseline score; broken variants are
invalid with a clear reason.  Many more broken variants are scored in-process by
the same ``score()`` functions (fast), with data sent through the real wire codec.
"""
from __future__ import annotations

import importlib.util
import json
import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from evoforge import problems as registry
from evoforge import records as R
from evoforge.evaluate import Evaluator
from evoforge.harness import wire
from evoforge.problem import load_problem
from evoforge.problems import geometry as G
from evoforge.scoring import ScoreError, as_int_array

from shared_data import SHARED_DATA  # noqa: E402

REFS = SHARED_DATA / "alphaevolve"

# problem -> (candidate function, reference files, pinned baseline score of the initial program)
GEOMETRY = {
    "circle_packing_26": ("construct_packing", ["b12_circle_packing_square_n26", "newer_circle_packing_square_n26"],
                          26 / 12),
    "circle_packing_32": ("construct_packing", ["b12_circle_packing_square_n32", "newer_circle_packing_square_n32"],
                          32 / 12),
    "circles_rectangle_21": ("construct_packing", ["b13_circle_packing_rectangle_perimeter4_n21",
                                                   "newer_circle_packing_rectangle_perimeter4_n21"], 2.1),
    "min_max_distance_ratio_16_2d": ("construct_points", ["b08_min_max_distance_ratio_n16_d2"], 18.0),
    "min_max_distance_ratio_14_3d": ("construct_points", ["b08_min_max_distance_ratio_n14_d3"], 6.0),
    "heilbronn_triangle_11": ("construct_points", ["b09_heilbronn_triangle_n11"], None),  # computed below
    "heilbronn_convex_13": ("construct_points", ["b10_heilbronn_convex_n13"], 2 * (1 - math.cos(2 * math.pi / 13)) / 13),
    "heilbronn_convex_14": ("construct_points", ["b10_heilbronn_convex_n14"], 2 * (1 - math.cos(2 * math.pi / 14)) / 14),
    "kissing_number_11": ("construct_vectors", ["b11_kissing_number_d11"], 220),
}


def _heilbronn_baseline() -> float:
    r, t = 0.9 * math.sqrt(3) / 6, 2 * math.pi / 11  # regular 11-gon: three consecutive vertices
    return 0.5 * r * r * (2 * math.sin(t) - math.sin(2 * t)) / (math.sqrt(3) / 4)


def _ref(stem: str) -> dict:
    path = REFS / f"{stem}.json"
    if not path.is_file():
        pytest.skip(f"reference data not found: {path} (see ../shared/data/README.md)")
    return json.loads(path.read_text())


def _data(ref: dict):
    c = ref["construction"]
    return [c["centers"], c["radii"]] if "radii" in c else c["points"]


def _program(fn: str, data, transform: str = "") -> str:
    """A candidate returning `data` (as plain lists) after `transform` (code acting on `data`)."""
    return (f"import math\nimport numpy as np\n# EVOLVE-BLOCK-START\ndef {fn}():\n"
            f"    data = {json.dumps(data)}\n{transform}    return data\n# EVOLVE-BLOCK-END\n")


def _evaluate_all(evaluator: Evaluator, codes: dict[str, str]) -> dict:
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {k: pool.submit(evaluator.evaluate, code) for k, code in codes.items()}
        return {k: f.result() for k, f in futures.items()}


class _Candidate:
    """Stands in for the sandboxed candidate: the value crosses the real wire codec."""

    def __init__(self, value):
        self.value = wire.loads(wire.dumps(value))

    def call(self, fn, *args):
        return self.value


_MODULES: dict = {}


def _scorer(name: str):
    if name not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"_evaluator_{name}", registry.BUILTIN_DIR / name / "evaluator.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[name] = module
    return _MODULES[name]


def _score(name: str, value) -> dict:
    return _scorer(name).score(_Candidate(value))


# -- the registry ---------------------------------------------------------------------------
def test_every_geometry_problem_is_registered():
    assert set(GEOMETRY) <= set(registry.names())


@pytest.mark.parametrize("name", sorted(GEOMETRY))
def test_problem_definition(name):
    p = load_problem(name)  # by name: the registry resolves it
    assert p.root == registry.BUILTIN_DIR / name and p.name == name
    assert p.format == "native" and p.evaluator_kind == "hardened" and p.language == "python"
    assert p.best_known is not None and "arXiv" in (p.best_known_source or "")
    assert p.objective in p.description and "Scoring:" in p.description
    assert p.limits.timeout_s <= 120
    fn = GEOMETRY[name][0]
    assert f"def {fn}()" in p.initial_code and "EVOLVE-BLOCK-START" in p.initial_code
    # best_known is the best value in the reference data (the newer constructions supersede)
    values = [_ref(stem)["alphaevolve_value"] for stem in GEOMETRY[name][1]]
    assert p.best_known == (max(values) if p.maximize else min(values))


# -- through the real Evaluator ---------------------------------------------------------------
def _evaluator_cases(name: str, fn: str, refs: dict[str, dict]) -> tuple[dict, dict]:
    """A few broken variants per problem that go through the sandboxed processes end to end."""
    first = _data(next(iter(refs.values())))
    if fn == "construct_packing":
        codes = {"nan": _program(fn, first, "    data[0][3][1] = float('nan')\n"),
                 "overlap": _program(fn, first, "    data[0][1] = list(data[0][0])\n")}
        expect = {"nan": "centers[3, 1] is nan", "overlap": "infeasible packing (tolerance 1e-09): circles 0 and 1 overlap"}
    elif fn == "construct_points":
        codes = {"nan": _program(fn, first, "    data[2][0] = float('nan')\n"),
                 "duplicate": _program(fn, first, "    data[1] = list(data[0])\n")}
        expect = {"nan": "points[2, 0] is nan", "duplicate": "points 0 and 1 coincide"}
    else:
        codes = {"floats": _program(fn, first, "    data = [[float(v) for v in x] for x in data]\n"),
                 "too_close": _program(fn, first, "    data[1] = list(data[0]); data[1][0] += 1\n"),
                 "numpy": _program(fn, first, "    data = np.array(data, dtype=np.int64)\n")}
        expect = {"floats": "integers are required", "too_close": "vectors 0 and 1 are too close"}
    return codes, expect


@pytest.mark.parametrize("name", sorted(GEOMETRY))
def test_published_constructions_initial_program_and_broken_variants(name):
    fn, stems, baseline = GEOMETRY[name]
    refs = {stem: _ref(stem) for stem in stems}
    problem = load_problem(registry.BUILTIN_DIR / name)
    codes = {"initial": problem.initial_code, **{stem: _program(fn, _data(ref)) for stem, ref in refs.items()}}
    broken, expect = _evaluator_cases(name, fn, refs)
    codes.update(broken)
    with Evaluator(problem) as ev:
        res = _evaluate_all(ev, codes)
    obj = problem.objective

    initial = res["initial"]
    assert initial.valid, initial.error
    want = _heilbronn_baseline() if baseline is None else baseline
    assert initial.metrics[obj] == pytest.approx(want, rel=1e-12, abs=0), (name, initial.metrics)
    assert initial.metrics[obj] != pytest.approx(problem.best_known, rel=1e-3)  # a baseline, not a record

    for stem, ref in refs.items():
        got = res[stem]
        assert got.valid, (stem, got.error)
        value, published = got.metrics[obj], ref["alphaevolve_value"]
        if name.startswith("kissing"):
            assert value == published == 593
        else:
            assert abs(value - published) <= 1e-9 * abs(published), (stem, value, published)
        assert got.metrics["fraction_of_best_known"] == pytest.approx(
            value / problem.best_known if problem.maximize else problem.best_known / value, rel=1e-15)
        assert "feedback" in got.artifacts

    for case, fragment in expect.items():
        got = res[case]
        assert not got.valid and got.failure_kind == R.INVALID, (case, got.failure_kind, got.error)
        assert fragment in got.error, (case, got.error)
    if "numpy" in res:  # an int64 array is as good as lists of ints
        assert res["numpy"].valid and res["numpy"].metrics[obj] == 593, res["numpy"].error


# -- in-process: many broken variants against the same score() --------------------------------
def _invalid(name: str, value, fragment: str) -> None:
    out = _score(name, value)
    assert out.get("valid") is False, (name, fragment, out)
    assert fragment in out["error"], (name, fragment, out["error"])


def _valid(name: str, value) -> float:
    out = _score(name, value)
    assert out.get("valid", True) is not False, out
    return out[_scorer(name).INFO["objective"]]


def _nudge_into_neighbour(centers, radii, shift: float):
    """Move circle 0 `shift` towards the disk it is closest to touching."""
    c, r = np.array(centers), np.array(radii)
    gaps = [np.hypot(*(c[0] - c[j])) - r[0] - r[j] for j in range(1, len(r))]
    j = 1 + int(np.argmin(gaps))
    direction = (c[j] - c[0]) / np.hypot(*(c[j] - c[0]))
    c[0] = c[0] + shift * direction
    return c.tolist(), r.tolist(), j


@pytest.mark.parametrize("name,n", [("circle_packing_26", 26), ("circle_packing_32", 32)])
def test_circle_packing_in_square_rejects_broken_packings(name, n):
    ref = _ref(f"b12_circle_packing_square_n{n}")
    c, r = ref["construction"]["centers"], ref["construction"]["radii"]
    nudged_c, nudged_r, j = _nudge_into_neighbour(c, r, 1e-7)
    _invalid(name, [nudged_c, nudged_r], "overlap")
    _invalid(name, [c, [v + 1e-6 for v in r]], "infeasible packing (tolerance 1e-09)")
    left = [list(p) for p in c]
    i = int(np.argmin([x - q for (x, _), q in zip(c, r)]))  # the disk nearest the left side
    left[i][0] -= 1e-6
    _invalid(name, [left, r], f"circle {i} (centre")
    _invalid(name, [left, r], "sticks out of the left side by 9.9")
    _invalid(name, [c, [-0.01] + r[1:]], "radius 0 is negative")
    _invalid(name, [c, [float("inf")] + r[1:]], "radii[0] is inf")
    _invalid(name, [c, [True] + r[1:]], "boolean")
    _invalid(name, [c, [complex(r[0], 0)] + r[1:]], "complex")
    _invalid(name, [c, ["0.1"] + r[1:]], "not a number")
    _invalid(name, [c[:-1], r[:-1]], f"expected shape ({n}, 2)")
    _invalid(name, [c, r[:-1]], f"expected shape ({n},)")
    _invalid(name, [c + [[0.5, 0.5]], r + [0.0]], f"expected shape ({n}, 2)")
    _invalid(name, [[list(c[0])] * n, r], "overlap")
    _invalid(name, {"centers": c, "radii": r}, "must return a pair")
    # Tolerance abuse: in the newer packing, tight to rounding level, every radius inflated
    # within the tolerance earns nothing (the shrunk packing is exactly feasible).
    tight = _ref(f"newer_circle_packing_square_n{n}")["construction"]
    exact = _valid(name, [tight["centers"], tight["radii"]])
    inflated = _score(name, [tight["centers"], [v + 4e-10 for v in tight["radii"]]])
    assert inflated["shrink"] >= 8e-10 and inflated["sum_of_radii"] <= exact + 1e-15


def test_circle_packing_tolerance_returns_an_exactly_feasible_packing():
    # Two touching disks inflated by 3e-10 each: accepted, and the score is that of radii shrunk to fit.
    total, shrink = G.certify_disks_in_box([[0.25, 0.5], [0.75, 0.5]], [0.25 + 3e-10, 0.25 + 3e-10], 2)
    assert shrink > 0 and total <= 0.5
    total, shrink = G.certify_disks_in_box([[0.25, 0.5], [0.75, 0.5]], [0.25, 0.25], 2)
    assert (total, shrink) == (0.5, 0.0)
    # An overlap that float64 arithmetic cannot see (computed violation 0) is found exactly and removed.
    c, r = np.array([[0.3, 0.4], [0.4763774618976614, 0.5255069025739422]]), np.array([0.1, 0.11647399765137154])
    assert G._pair_violation(c, r)[0] <= 0 and not G._exact_disks_ok(c, r, None)
    total, shrink = G.certify_disks_in_box(c, r, 2)
    assert 0 < shrink < 1e-16 and total < 0.1 + 0.11647399765137154
    assert G._exact_disks_ok(c, np.maximum(r - shrink, 0), (1.0, 1.0))
    total, box = G.certify_disks_in_perimeter(c, r, 2, half_perimeter=10.0)
    assert box["shrink"] == shrink and box["scale"] == 1


def test_circles_in_rectangle_rejects_and_scales():
    name = "circles_rectangle_21"
    ref = _ref("b13_circle_packing_rectangle_perimeter4_n21")
    c, r = ref["construction"]["centers"], ref["construction"]["radii"]
    exact = _valid(name, [c, r])
    big = 1 + 1e-6
    _invalid(name, [[[x * big, y * big] for x, y in c], [v * big for v in r]], "exceeds 2 (perimeter 4)")
    nudged_c, nudged_r, _ = _nudge_into_neighbour(c, r, 1e-7)
    _invalid(name, [nudged_c, nudged_r], "overlap")
    _invalid(name, [c, [float("nan")] + r[1:]], "radii[0] is nan")
    _invalid(name, [c, [-1e-3] + r[1:]], "negative")
    _invalid(name, [c[:20], r[:20]], "expected shape (21, 2)")
    # Inflated past perimeter 4 within the tolerance: scaled back to perimeter 4 exactly, so the
    # score is that of the reference scaled up to perimeter 4 (it has slack: W + H = 2 - 3.2e-8).
    semi = sum(max(c[i][k] + r[i] for i in range(21)) - min(c[i][k] - r[i] for i in range(21)) for k in (0, 1))
    small = 2 / semi * (1 + 4e-10)
    scaled = _score(name, [[[x * small, y * small] for x, y in c], [v * small for v in r]])
    assert scaled["scale"] < 1 and scaled["width"] + scaled["height"] == pytest.approx(2, rel=1e-15)
    assert scaled["sum_of_radii"] == pytest.approx(exact * 2 / semi, rel=1e-14)
    assert scaled["sum_of_radii"] <= exact * 2 / semi * (1 + 1e-15)
    # The rectangle may sit anywhere: translating changes nothing.
    moved = _valid(name, [[[x + 10.0, y - 3.0] for x, y in c], r])
    assert moved == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("name,stem,dim", [
    ("min_max_distance_ratio_16_2d", "b08_min_max_distance_ratio_n16_d2", 2),
    ("min_max_distance_ratio_14_3d", "b08_min_max_distance_ratio_n14_d3", 3),
])
def test_min_max_distance_ratio(name, stem, dim):
    ref = _ref(stem)
    p = ref["construction"]["points"]
    n = len(p)
    exact = _valid(name, p)
    # Invariant under similarity, including scales that underflow or nearly overflow squared distances.
    for scale in (1e-200, 1e150, 3.0):
        scaled = _valid(name, [[v * scale for v in q] for q in p])
        assert scaled == pytest.approx(exact, rel=1e-12)
    _invalid(name, [p[0]] + p[1:-1] + [p[0]], f"points 0 and {n - 1} coincide")
    _invalid(name, [[float("nan")] * dim] + p[1:], "points[0, 0] is nan")
    _invalid(name, [[float("-inf")] * dim] + p[1:], "is -inf")
    _invalid(name, [q + [0.0] for q in p], f"expected shape ({n}, {dim})")
    _invalid(name, p[:-1], f"expected shape ({n}, {dim})")
    _invalid(name, [[True] * dim] + p[1:], "boolean")
    _invalid(name, [[1j] * dim] + p[1:], "complex")
    _invalid(name, 12.0, "expected shape")
    # The exact ratio matches a direct float64 computation.
    a = np.array(p)
    d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))[np.triu_indices(n, 1)]
    assert exact == pytest.approx((d.max() / d.min()) ** 2, rel=1e-13)


def test_heilbronn_triangle():
    name = "heilbronn_triangle_11"
    ref = _ref("b09_heilbronn_triangle_n11")
    p = ref["construction"]["points"]
    exact = _score(name, p)
    assert 0 < exact["outside_by"] < 1e-16  # the published point 9e-18 outside a side (see the data's notes)
    out = [list(q) for q in p]
    out[1][1] = -1e-6  # below the bottom side
    _invalid(name, out, "point 1 (0.295651145881, -1e-06) lies outside the triangle")
    out = [list(q) for q in p]
    out[2] = [0.0, 0.5]  # far left of the left side
    _invalid(name, out, "beyond its left side")
    out = [list(q) for q in p]
    out[0] = [1.0 + 1e-6, 0.0]
    _invalid(name, out, "outside the triangle")
    _invalid(name, [p[0], p[0]] + p[2:], "points 0 and 1 coincide")
    _invalid(name, p[:10], "expected shape (11, 2)")
    _invalid(name, [[float("nan"), 0.1]] + p[1:], "points[0, 0] is nan")
    # Slightly outside (within the tolerance): accepted, but scored as the configuration shrunk into T.
    out = [list(q) for q in p]
    out[1][1] = -5e-10
    slightly = _score(name, out)
    assert slightly["outside_by"] == pytest.approx(5e-10) and slightly["min_area"] < exact["min_area"]
    # Three collinear points: valid, score 0.
    col = [list(q) for q in p]
    col[3] = [(col[0][0] + col[1][0]) / 2, 0.0]
    assert _valid(name, col) == 0.0
    # The vertices are in the closed triangle exactly; the apex rounded in float64 lies just outside
    # or inside, and is accepted either way within the tolerance.
    value, info = G.heilbronn_triangle_score(np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]]))
    assert value == pytest.approx(1.0, rel=1e-15) and info["outside_by"] < 1e-16


def test_heilbronn_triangle_shrink_is_exact_scaling():
    pts = np.array([[0.2, 0.1], [0.8, 0.1], [0.5, 0.6]])
    base, _ = G.heilbronn_triangle_score(pts)
    assert base == pytest.approx(0.5 * 0.6 * 0.5 / (math.sqrt(3) / 4), rel=1e-14)
    moved = pts.copy()
    moved[:, 1] -= 0.1 + 4e-10  # the bottom two points 4e-10 below y = 0
    value, info = G.heilbronn_triangle_score(moved)
    rho = math.sqrt(3) / 6
    assert info["outside_by"] == pytest.approx(4e-10, rel=1e-6)
    assert value == pytest.approx(base * (rho / (rho + 4e-10)) ** 2, rel=1e-12) and value < base


@pytest.mark.parametrize("name,stem", [("heilbronn_convex_13", "b10_heilbronn_convex_n13"),
                                       ("heilbronn_convex_14", "b10_heilbronn_convex_n14")])
def test_heilbronn_convex(name, stem):
    p = _ref(stem)["construction"]["points"]
    n = len(p)
    exact = _valid(name, p)
    for scale in (2.0 ** -900, 2.0 ** 500):  # scale-invariant, exactly (no underflow tricks)
        assert _valid(name, [[x * scale, y * scale] for x, y in p]) == exact
    assert _valid(name, [[x + 7, y - 3] for x, y in p]) == pytest.approx(exact, rel=1e-9)
    _invalid(name, [p[0]] + p[1:-1] + [p[0]], f"points 0 and {n - 1} coincide")
    _invalid(name, [[float(i), 2.0 * i] for i in range(n)], "collinear")
    _invalid(name, [[0.5, float("inf")]] + p[1:], "points[0, 1] is inf")
    _invalid(name, p[:-1], f"expected shape ({n}, 2)")
    _invalid(name, [[x, y, 0.0] for x, y in p], f"expected shape ({n}, 2)")
    _invalid(name, [["0.5", 0.5]] + p[1:], "not a number")
    # Matches a direct float64 computation of the smallest triangle (the hull area is checked below).
    a = np.array(p)

    def area(i, j, k):
        (ux, uy), (vx, vy) = a[j] - a[i], a[k] - a[i]
        return abs(ux * vy - uy * vx) / 2

    smallest = min(area(i, j, k) for i in range(n) for j in range(i + 1, n) for k in range(j + 1, n))
    q, k = G._int_points(a)
    assert exact == pytest.approx(smallest / (G._hull_area2(q) / 4 ** k / 2), rel=1e-12)


def test_heilbronn_convex_hull_area():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [0.25, 0.75]], dtype=float)
    q, k = G._int_points(square)
    assert Fraction(G._hull_area2(q), 2 * 4 ** k) == 1


def test_kissing_number():
    name = "kissing_number_11"
    vecs = _ref("b11_kissing_number_d11")["construction"]["points"]
    assert _valid(name, vecs) == 593
    assert _valid(name, [[2 * v for v in x] for x in vecs]) == 593  # homogeneous
    assert _valid(name, vecs[:100]) == 100  # a subset of a valid set is valid
    _invalid(name, [[float(v) for v in vecs[0]]] + vecs[1:], "vectors[0, 0] is a float")
    _invalid(name, [[0.5] + vecs[0][1:]] + vecs[1:], "integers are required")
    _invalid(name, [[True] * 11] + vecs[1:], "boolean")
    _invalid(name, [[0] * 11] + vecs[1:], "vector 0 is the zero vector")
    _invalid(name, vecs + [list(vecs[5])], "vectors 5 and 593 are equal")
    _invalid(name, [vecs[0][:10]] + vecs[1:], "expected shape (any, 11)")
    _invalid(name, [vecs[0] + [0]] + vecs[1:], "expected shape (any, 11)")
    _invalid(name, [[str(v) for v in vecs[0]]] + vecs[1:], "not an integer")
    _invalid(name, [[complex(v) for v in vecs[0]]] + vecs[1:], "complex")
    _invalid(name, [], "no vectors")
    _invalid(name, [[1] + [0] * 10] * 1001, "refusing to check")
    closer = [list(x) for x in vecs]
    closer[7] = [v + (1 if i == 0 else 0) for i, v in enumerate(closer[3])]
    _invalid(name, closer, "vectors 3 and 7 are too close")
    # A vector longer than all others by 1 unit of squared norm breaks a tight criterion.
    norms = [sum(v * v for v in x) for x in vecs]
    longest = norms.index(max(norms))
    longer = [list(x) for x in vecs]
    longer[longest] = [v * 2 for v in longer[longest]]
    _invalid(name, longer, "too close")


def test_kissing_check_exact_beyond_float_precision():
    # Entries beyond 2^52: the float prefilter is skipped and every pair is checked exactly.
    big = 2 ** 60
    vecs = [[big, 0, 0], [0, big, 0], [-big, 0, 0], [0, -big, 0], [0, 0, big], [0, 0, -big]]
    assert G.kissing_check(vecs, 3, 100)[0] == 6  # the octahedron: |x - y|^2 = 2 big^2 >= big^2
    vecs[1][0] = 1  # still fine
    assert G.kissing_check(vecs, 3, 100)[0] == 6
    # squared distance exceeds the max norm by 1 part in 2^120: decided exactly
    a = 2 ** 60
    tight = [[a, 0], [a // 2, 0]]
    with pytest.raises(ScoreError, match="too close"):
        G.kissing_check(tight, 2, 10)


def test_as_int_array():
    assert as_int_array([[1, 2], [3, 4]], (None, 2)) == [[1, 2], [3, 4]]
    assert as_int_array(np.array([[1, 2]], dtype=np.int32), (None, 2)) == [[1, 2]]
    assert as_int_array([[10 ** 30, np.int64(3)]], (1, 2)) == [[10 ** 30, 3]]
    for bad, msg in (([[1, 2.0]], "is a float"), ([[1, True]], "boolean"), ([[1, 2], [3]], "length 1"),
                     (np.zeros((1, 2)), "floats"), ([1, 2], "single integer"), ([[1, None]], "not an integer"),
                     ([[[1], [2]]], "a list, expected a single integer")):
        with pytest.raises(ScoreError, match=msg):
            as_int_array(bad, (None, 2))


def test_dyadic_ints_are_exact():
    vals = [0.1, -2.5, 1e-300, 3.0, 5e-324]
    ints, k = G.dyadic_ints(vals)
    assert [Fraction(m, 2 ** k) for m in ints] == [Fraction(v) for v in vals]


def test_result_guards():
    info = {"objective": "x", "direction": "maximize", "best_known": 2.0, "proven_bound": 3.0}
    assert G.result(info, 1.0, "ok")["fraction_of_best_known"] == 0.5
    beat = G.result(info, 2.5, "ok")
    assert beat["beats_best_known"] == 1 and "check the construction" in beat["feedback"]
    assert G.result(info, 3.5, "ok")["valid"] is False
    mini = G.result({"objective": "y", "direction": "minimize", "best_known": 4.0}, 8.0, "ok")
    assert mini["fraction_of_best_known"] == 0.5
