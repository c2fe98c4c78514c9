"""The built-in analysis problems (evoforge/problems/): autocorrelation inequalities,
Erdos minimum overlap, sums and differences; plus the problem definitions of the whole
part-B set and the exact-arithmetic helpers.

Published constructions (../shared/data, read in place, never copied) returned by a
candidate program and scored by the real Evaluator (two sandboxed processes)
reproduce the published values to 1e-9 relative; the initial programs are valid with
pinned baseline scores; broken and hostile candidates are invalid with a clear
reason.  Many more broken variants are scored in-process by the same ``score()``
functions, with data through the real wire codec.  The exact-arithmetic helpers are
checked against independent brute-force computations.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest

from evoforge import problems as registry
from evoforge import records as R
from evoforge import scoring_extra as X
from evoforge.problem import load_problem

from problems_helpers import PART_B, _ref, _cap_set_512, _program, _rel, _Candidate, _module, _invalid, _valid, evaluators  # noqa: F401 - evaluators is a fixture


# -- definitions ------------------------------------------------------------------------------
def test_every_part_b_problem_is_registered():
    assert set(PART_B) <= set(registry.names())


@pytest.mark.parametrize("name", sorted(PART_B))
def test_problem_definition(name):
    objective, fn = PART_B[name]
    p = load_problem(name)
    assert p.root == registry.BUILTIN_DIR / name and p.name == name
    assert p.format == "native" and p.evaluator_kind == "hardened" and p.language == "python"
    assert p.objective == objective and objective in p.description and "Scoring:" in p.description
    assert "Typical evaluation time" in p.description
    assert f"def {fn}(" in p.initial_code and "EVOLVE-BLOCK-START" in p.initial_code
    assert p.best_known_source
    if name != "conv2d_speedup":  # a speed-up depends on the machine: no best known value
        assert p.best_known is not None
    assert p.limits.timeout_s <= 120


def test_best_known_values_match_the_reference_data():
    assert load_problem("first_autocorrelation").best_known == _ref("newer_first_autocorrelation_c1_n1319")["alphaevolve_value"]
    assert load_problem("second_autocorrelation").best_known == _ref("newer_second_autocorrelation_c2_n50000")["alphaevolve_value"]
    assert load_problem("third_autocorrelation").best_known == _ref("b03_third_autocorrelation_c3")["alphaevolve_value"]
    assert load_problem("erdos_minimum_overlap").best_known == _ref("b05_erdos_minimum_overlap")["alphaevolve_value"]
    assert load_problem("sums_differences").best_known == _ref("b06_sums_differences_54265")["alphaevolve_value"]
    assert load_problem("cap_set_8").best_known == len(_cap_set_512()) == 512


# -- initial programs (through the real Evaluator) --------------------------------------------
def _c2_of_constant(n: int) -> float:
    """||g||_2^2 / (||g||_1 ||g||_inf) for g = f*f, f constant with n steps (b = 1, 2, .., n, .., 1)."""
    b = [min(k + 1, 2 * n - 1 - k) for k in range(2 * n - 1)]
    y = [0, *b, 0]
    l2 = sum(Fraction(p * p + p * q + q * q, 3) for p, q in zip(y, y[1:]))
    return float(l2 / (sum(b) * max(b)))


def test_initial_programs_are_valid(evaluators):
    names = [n for n in PART_B if n != "conv2d_speedup"]  # timed separately, on a quiet evaluator
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {n: pool.submit(evaluators(n).check) for n in names}
        res = {n: f.result() for n, f in futures.items()}
    m = {n: r.metrics for n, r in res.items()}
    assert m["first_autocorrelation"]["c1_upper_bound"] == 2.0
    assert m["second_autocorrelation"]["c2_lower_bound"] == _c2_of_constant(50)
    assert m["third_autocorrelation"]["c3_upper_bound"] == 2.0
    assert m["third_autocorrelation"]["c3_prime_upper_bound"] == 2.0
    assert m["erdos_minimum_overlap"]["c5_upper_bound"] == 0.5
    # Mian-Chowla Sidon set of 20 elements: |U+U| = 20*21/2, |U-U| = 20*19 + 1, max 474
    assert m["sums_differences"]["sumset_size"] == 210 and m["sums_differences"]["difference_set_size"] == 381
    assert m["sums_differences"]["c6_lower_bound"] == pytest.approx(1 + math.log(381 / 210) / math.log(949), abs=1e-15)
    assert m["cap_set_8"]["cap_set_size"] == 256  # lexicographic greedy: {0, 1}^8
    assert m["knapsack"]["mean_ratio_to_optimum"] == pytest.approx(0.9963613754752293, abs=1e-12)
    assert m["knapsack"]["optimal_instances"] == 3
    assert m["bin_packing_online"]["excess_pct"] == pytest.approx(4.6721950631874964, abs=1e-9)  # best fit
    for n, r in res.items():
        assert r.valid and r.isolation, (n, r.error)
        assert "feedback" in r.artifacts, n


# -- published constructions through the real Evaluator ----------------------------------------
STEP_REFS = [  # (problem, reference, metric)
    ("first_autocorrelation", "b01_first_autocorrelation_c1", "c1_upper_bound"),
    ("first_autocorrelation", "newer_first_autocorrelation_c1_n1319", "c1_upper_bound"),
    ("second_autocorrelation", "b02_second_autocorrelation_c2", "c2_lower_bound"),
    ("third_autocorrelation", "b03_third_autocorrelation_c3", "c3_upper_bound"),
    ("third_autocorrelation", "b03_third_autocorrelation_c3_prime", "c3_prime_upper_bound"),
    ("erdos_minimum_overlap", "b05_erdos_minimum_overlap", "c5_upper_bound"),
]


def test_published_constructions_reproduce_the_published_values(evaluators):
    jobs = [(name, stem, metric, _program("construct_function", _ref(stem)["construction"]["heights"]))
            for name, stem, metric in STEP_REFS]
    jobs.append(("sums_differences", "b06_sums_differences_2003", "c6_lower_bound",
                 _program("construct_set", _ref("b06_sums_differences_2003")["construction"]["U"])))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [(name, stem, metric, pool.submit(evaluators(name).evaluate, code))
                   for name, stem, metric, code in jobs]
        for name, stem, metric, fut in futures:
            r = fut.result()
            assert r.valid, (stem, r.error)
            want = _ref(stem)["alphaevolve_value"]
            assert _rel(r.metrics[metric], want) <= 1e-9, (stem, r.metrics[metric], want)
            if stem in ("newer_first_autocorrelation_c1_n1319", "b03_third_autocorrelation_c3",
                        "b05_erdos_minimum_overlap"):  # the best known values
                assert r.metrics.get("fraction_of_best_known") == pytest.approx(1.0, abs=1e-9), stem


@pytest.mark.slow
def test_published_large_constructions_reproduce_the_published_values(evaluators):
    """The 50000-step C2 function and the 54265-element set (about 10-40 s together)."""
    c2 = evaluators("second_autocorrelation").evaluate(
        _program("construct_function", _ref("newer_second_autocorrelation_c2_n50000")["construction"]["heights"]))
    assert c2.valid, c2.error
    assert _rel(c2.metrics["c2_lower_bound"], _ref("newer_second_autocorrelation_c2_n50000")["alphaevolve_value"]) <= 1e-9
    sd = evaluators("sums_differences").evaluate(
        _program("construct_set", _ref("b06_sums_differences_54265")["construction"]["U"]))
    assert sd.valid, sd.error
    assert _rel(sd.metrics["c6_lower_bound"], _ref("b06_sums_differences_54265")["alphaevolve_value"]) <= 1e-9
    assert sd.metrics["fraction_of_best_known"] == pytest.approx(1.0, abs=1e-12)
    assert sd.metrics["set_size"] == 54265 and sd.metrics["max_element"] == 814210134


def test_broken_constructions_are_rejected_end_to_end(evaluators):
    c1 = _ref("b01_first_autocorrelation_c1")["construction"]["heights"]
    erdos = _ref("b05_erdos_minimum_overlap")["construction"]["heights"]
    cases = {
        ("first_autocorrelation", "nan"): (_program("construct_function", c1, "    data[7] = float('nan')\n"),
                                           "heights[7] is nan"),
        ("second_autocorrelation", "negative"): (_program("construct_function", c1, "    data[3] = -1e-3\n"),
                                                "heights[3] = -0.001 is negative"),
        ("third_autocorrelation", "complex"): (_program("construct_function", c1, "    data = np.array(data) + 0j\n"),
                                               "complex"),
        ("erdos_minimum_overlap", "integral"): (_program("construct_function", erdos,
                                                         "    data = [0.999 * h for h in data]\n"),
                                                "the integral of h is"),
        ("sums_differences", "float"): (_program("construct_set", [0, 1, 5], "    data[1] = 1.0\n"),
                                        "U[1] is a float (1.0); integers are required"),
        ("cap_set_8", "line"): (_program("construct_cap_set", [[0] * 8, [1] * 8, [2] * 8]), "form a line"),
        ("knapsack", "overweight"): ("def solve(values, weights, capacity):\n    return list(range(len(values)))\n",
                                     "more than the capacity"),
        ("bin_packing_online", "nan"): ("import numpy as np\ndef priority(item, bins):\n"
                                        "    p = -np.arange(len(bins), dtype=float)\n    p[-1] = np.nan\n    return p\n",
                                        "is nan"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(evaluators(key[0]).evaluate, code) for key, (code, _) in cases.items()}
        for key, fut in futures.items():
            r = fut.result()
            assert not r.valid and r.failure_kind == R.INVALID, (key, r.failure_kind, r.error)
            assert cases[key][1] in r.error, (key, r.error)


# -- step functions in-process: exploits ------------------------------------------------------
@pytest.mark.parametrize("name", ["first_autocorrelation", "second_autocorrelation", "third_autocorrelation",
                                  "erdos_minimum_overlap"])
def test_step_function_malformed_data_is_rejected(name):
    ok = [0.5] * 10
    _invalid(name, [*ok[:3], float("inf"), *ok[4:]], "heights[3] is inf")
    _invalid(name, [*ok[:3], float("-inf"), *ok[4:]], "heights[3] is -inf")
    _invalid(name, [*ok[:1], True, *ok[2:]], "boolean")
    _invalid(name, np.array(ok, dtype=complex), "complex")
    _invalid(name, [0.5, [0.5]], "ragged")
    _invalid(name, [[0.5, 0.5], [0.5, 0.5]], "expected shape (any,)")
    _invalid(name, [], "at least one step")
    _invalid(name, 0.5, "expected shape (any,)")
    _invalid(name, {"heights": ok}, "not a number")
    _invalid(name, None, "not a number")
    _invalid(name, [0.5] * 100_001, "at most 100000 are allowed")


def test_negative_heights_and_zero_functions():
    for name in ("first_autocorrelation", "second_autocorrelation"):
        _invalid(name, [1.0, -1e-300, 1.0], "heights[1] = -1e-300 is negative")
        _invalid(name, [0.0, 0.0, -0.0], "all heights are 0")
    _invalid("erdos_minimum_overlap", [0.5, -1e-12, 0.5], "is negative")
    _invalid("erdos_minimum_overlap", [1.5, 0.5, 0.0, 0.0], "heights[0] = 1.5 exceeds 1")
    _invalid("erdos_minimum_overlap", [1.0000000000000002, 0.0], "exceeds 1")
    # C3 allows negative heights but needs a nonzero integral
    _invalid("third_autocorrelation", [1.0, -1.0], "sum to 0")
    out = _valid("third_autocorrelation", [1.0, -0.25, 1.0])
    assert out["c3_upper_bound"] > 0
    # -0.0 is 0, not negative
    assert _valid("first_autocorrelation", [1.0, -0.0, 1.0])["c1_upper_bound"] == pytest.approx(
        2 * 3 * 2 / 4)  # a*a = 1, 0, 2, 0, 1


def test_step_function_scores_are_exact():
    # C1 of (1, 2): a*a = 1, 4, 4 -> 2 * 2 * 4 / 9
    assert _valid("first_autocorrelation", [1, 2])["c1_upper_bound"] == float(Fraction(16, 9))
    # scale invariance holds exactly, whatever the magnitude (no underflow, no overflow)
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 200)
    base = _valid("first_autocorrelation", a)["c1_upper_bound"]
    for scale in (2.0 ** -1000, 2.0 ** 1000):  # exact scalings
        assert _valid("first_autocorrelation", a * scale)["c1_upper_bound"] == base, scale
    # subnormal heights (3, 1, 2) * 2**-1074: the same value as (3, 1, 2), a*a = 9, 6, 13, 4, 4
    assert _valid("first_autocorrelation", np.array([3, 1, 2]) * 5e-324)["c1_upper_bound"] == float(Fraction(6 * 13, 36))
    base2 = _valid("second_autocorrelation", a)["c2_lower_bound"]
    assert _valid("second_autocorrelation", a * 2.0 ** -1000)["c2_lower_bound"] == base2
    # the float computation agrees to rounding
    conv = np.convolve(a, a)
    assert base == pytest.approx(2 * len(a) * conv.max() / a.sum() ** 2, rel=1e-12)
    y = np.concatenate([[0], conv, [0]])
    l2 = np.sum(y[:-1] ** 2 + y[:-1] * y[1:] + y[1:] ** 2) / 3
    assert base2 == pytest.approx(l2 / (conv.sum() * conv.max()), rel=1e-12)
    s = rng.normal(size=120)
    out = _valid("third_autocorrelation", s)
    cs = np.convolve(s, s)
    assert out["c3_upper_bound"] == pytest.approx(2 * 120 * max(cs.max(), 0) / s.sum() ** 2, rel=1e-9)
    assert out["c3_prime_upper_bound"] == pytest.approx(2 * 120 * np.abs(cs).max() / s.sum() ** 2, rel=1e-9)


def test_underflow_trick_does_not_pay():
    """Tiny heights cannot hide mass from the autoconvolution: the exact value counts them
    (or they are zeroed, and then the score is exactly that of the zeroed function)."""
    a = np.ones(10)
    tiny = a.copy()
    tiny[[2, 5]] = 1e-310  # subnormal: a float product of two of them underflows to 0
    exact = _valid("first_autocorrelation", tiny)
    zeroed = a.copy()
    zeroed[[2, 5]] = 0.0
    assert exact["c1_upper_bound"] == _valid("first_autocorrelation", zeroed)["c1_upper_bound"]
    assert exact["zeroed_heights"] == 2
    # with heights that are small but representable exactly, nothing is zeroed and the value is exact
    small = a.copy()
    small[3] = 2.0 ** -150
    out = _valid("first_autocorrelation", small)
    assert out["zeroed_heights"] == 0
    ints = [1 << 150] * 10
    ints[3] = 1
    conv = [sum(ints[i] * ints[k - i] for i in range(max(0, k - 9), min(k, 9) + 1)) for k in range(19)]
    assert out["c1_upper_bound"] == float(Fraction(20 * max(conv), sum(ints) ** 2))


def test_erdos_tolerance_never_pays():
    ref = np.array(_ref("b05_erdos_minimum_overlap")["construction"]["heights"])
    n = len(ref)
    base = _valid("erdos_minimum_overlap", ref)["c5_upper_bound"]
    # removing mass within the tolerance lowers the raw overlap, but the correction adds it back
    for eps in (1e-10, 5e-10):
        h = ref * (1 - eps)
        raw, info = X.erdos_overlap(h, sum_tol=1.0)
        assert float(raw) >= base - 1e-15, eps  # certified value: not better than the admissible one
        assert _valid("erdos_minimum_overlap", h)["c5_upper_bound"] >= base - 1e-15
    _invalid("erdos_minimum_overlap", ref * (1 - 2e-9), "may differ from 1 by at most 1e-09")
    more = ref.copy()
    more[20] += 1e-7  # the integral grows by 2e-7 / 95 > 1e-9
    _invalid("erdos_minimum_overlap", more, "the integral of h is")
    assert _valid("erdos_minimum_overlap", [0.5] * 7)["c5_upper_bound"] == 0.5
    # h = 1 on [0, 1], 0 on [1, 2]: shifted by one step, h meets 1 - h = 1 on all its mass
    assert _valid("erdos_minimum_overlap", [1.0, 0.0])["c5_upper_bound"] == 1.0
    assert n == 95


def test_beyond_a_proven_bound_is_reported_as_a_scorer_bug(monkeypatch):
    module = _module("first_autocorrelation")
    monkeypatch.setitem(module.INFO, "proven_bound", 2.5)  # pretend: the constant function (2.0) beats it
    out = module.score(_Candidate([1.0] * 5))
    assert out["valid"] is False and "beyond the proven bound" in out["error"]


# -- sums and differences ---------------------------------------------------------------------
def test_sums_differences_rejects_malformed_sets():
    name = "sums_differences"
    _invalid(name, [0, 1, 1, 5], "contains 1 more than once")
    _invalid(name, [1, 2, 5], "must contain 0")
    _invalid(name, [0, -3, 5], "negative integer -3")
    _invalid(name, [0, True, 5], "boolean")
    _invalid(name, [0, 2.0, 5], "float")
    _invalid(name, np.array([0.0, 2.0]), "floats")
    _invalid(name, [0, "2"], "not an integer")
    _invalid(name, [0], "at least 2 are needed")
    _invalid(name, [0, 2 ** 31], "above the largest allowed element")
    _invalid(name, [0, 2 ** 70], "above the largest allowed element")
    _invalid(name, list(range(60_001)), "at most 60000 are allowed")
    _invalid(name, [0, 1 + 0j], "complex")
    assert _valid(name, [0, 1, 2, 3])["c6_lower_bound"] == 1.0  # an interval: |U-U| = |U+U|
    out = _valid(name, np.array([7, 0, 3], dtype=np.int64))  # any order, integer arrays
    assert out["sumset_size"] == 6 and out["difference_set_size"] == 7


def _brute_sizes(u) -> tuple[int, int]:
    return len({a + b for a in u for b in u}), len({a - b for a in u for b in u})


def test_sumset_sizes_match_brute_force(monkeypatch):
    rng = np.random.default_rng(3)
    for size, top in ((2, 1), (5, 10), (40, 100), (60, 10_000), (200, 3_000)):
        u = np.unique(np.concatenate([[0], rng.integers(0, top + 1, size)]))
        assert X.sumset_sizes(u) == _brute_sizes(u.tolist()), (size, top)
    monkeypatch.setattr(X, "_WINDOW", 64)  # many windows: every window boundary case
    for _ in range(20):
        u = np.unique(np.concatenate([[0], rng.integers(0, 700, rng.integers(2, 60))]))
        assert X.sumset_sizes(u) == _brute_sizes(u.tolist())



# -- exact arithmetic helpers ---------------------------------------------------------------------
def test_dyadic_is_exact():
    rng = np.random.default_rng(2)
    for x in (rng.normal(size=50), rng.normal(size=50) * 2.0 ** rng.integers(-1070, 1000, 50),
              np.array([0.0, 5e-324, -5e-324, 1.0, -0.0]), np.array([3.0, 6.0, 12.0]), np.zeros(4)):
        ints, e = X.dyadic(x)
        for m, v in zip(ints, x.tolist()):
            assert Fraction(m) * Fraction(2) ** e == Fraction(v)
    ints, e = X.dyadic(np.array([3.0, 6.0, 12.0]))
    assert (ints, e) == ([3, 6, 12], 0)


def test_int_convolve_matches_schoolbook():
    rng = np.random.default_rng(4)

    def naive(a, b):
        out = [0] * (len(a) + len(b) - 1)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                out[i + j] += x * y
        return out
    for na, nb, bits in ((1, 1, 3), (3, 500, 20), (90, 70, 64), (200, 200, 300), (7, 1, 1000)):
        a = [int(v) for v in rng.integers(0, 2 ** 62, na)]
        b = [int(v) for v in rng.integers(0, 2 ** 62, nb)]
        a = [v << int(rng.integers(0, max(1, bits - 62))) for v in a]
        a[0] = 0
        assert X.int_convolve(a, b) == naive(a, b), (na, nb, bits)
        s = [v * (1 if k % 3 else -1) for k, v in enumerate(a)]
        assert X.int_convolve_signed(s, b) == naive(s, b)
    assert X.int_convolve([0, 0], [5, 6, 7]) == [0, 0, 0, 0]
    assert X.int_convolve([], [1]) == []
