"""The built-in analysis, combinatorics and performance problems (evoforge/problems/):
autocorrelation inequalities, Erdos minimum overlap, sums and differences, cap set,
online bin packing, knapsack and the conv2d speed-up task.

Published constructions (../shared/data, read in place, never copied) returned by a
candidate program and scored by the real Evaluator (two sandboxed processes)
reproduce the published values to 1e-9 relative; the cap set of size 512 verifies;
the initial programs are valid with pinned baseline scores; broken and hostile
candidates are invalid with a clear reason.  Many more broken variants are scored
in-process by the same ``score()`` functions (fast), with data through the real
wire codec.  The exact-arithmetic helpers are checked against independent
brute-force computations.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from evoforge import problems as registry
from evoforge import records as R
from evoforge import scoring_extra as X
from evoforge.evaluate import Evaluator
from evoforge.harness import wire
from evoforge.problem import load_problem
from evoforge.scoring import ScoreError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
AE, FS = SHARED / "alphaevolve", SHARED / "funsearch"

PART_B = {  # name -> (objective, candidate function)
    "first_autocorrelation": ("c1_upper_bound", "construct_function"),
    "second_autocorrelation": ("c2_lower_bound", "construct_function"),
    "third_autocorrelation": ("c3_upper_bound", "construct_function"),
    "erdos_minimum_overlap": ("c5_upper_bound", "construct_function"),
    "sums_differences": ("c6_lower_bound", "construct_set"),
    "cap_set_8": ("cap_set_size", "construct_cap_set"),
    "bin_packing_online": ("excess_pct", "priority"),
    "knapsack": ("mean_ratio_to_optimum", "solve"),
    "conv2d_speedup": ("speedup", "conv2d"),
}


# -- helpers ----------------------------------------------------------------------------------
def _shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"reference data not found: {path} (see ../shared/data/README.md)")
    return path


def _ref(stem: str) -> dict:
    return json.loads(_shared(AE / f"{stem}.json").read_text())


def _cap_set_512() -> list[list[int]]:
    return [json.loads(line) for line in _shared(FS / "cap_set_n8_size512.txt").read_text().splitlines() if line]


def _program(fn: str, data, transform: str = "") -> str:
    """A candidate whose `fn()` returns `data` (plain lists) after `transform` (code acting on `data`)."""
    return (f"import json\nimport math\nimport numpy as np\n# EVOLVE-BLOCK-START\ndef {fn}():\n"
            f"    data = json.loads({json.dumps(json.dumps(data))})\n{transform}    return data\n# EVOLVE-BLOCK-END\n")


def _evaluate_all(evaluator: Evaluator, codes: dict[str, str], workers: int = 3) -> dict:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {k: pool.submit(evaluator.evaluate, code) for k, code in codes.items()}
        return {k: f.result() for k, f in futures.items()}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


class _Candidate:
    """Stands in for the sandboxed candidate: arguments and results cross the real wire codec.

    `impl` is a value (returned by every call) or a callable run on the decoded arguments.
    """

    def __init__(self, impl):
        self.impl = impl
        self.calls = 0

    def _one(self, args):
        self.calls += 1
        args = wire.loads(wire.dumps(list(args)))
        value = self.impl(*args) if callable(self.impl) else self.impl
        return wire.loads(wire.dumps(value))

    def call(self, fn, *args):
        return self._one(args)

    def call_many(self, fn, calls):
        return [self._one(c if isinstance(c, tuple) else (c,)) for c in calls]


_MODULES: dict = {}


def _module(name: str, file: str = "evaluator.py"):
    """Import a problem's module the way the trusted scorer does (its directory on sys.path)."""
    key = (name, file)
    if key not in _MODULES:
        path = registry.BUILTIN_DIR / name / file
        saved_path, saved_mods = list(sys.path), set(sys.modules)
        sys.path.insert(0, str(path.parent))
        try:
            mod_name = f"_problem_{name}_{path.stem}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
        finally:
            sys.path[:] = saved_path
            for extra in set(sys.modules) - saved_mods - {mod_name}:
                if str(path.parent) in (getattr(sys.modules[extra], "__file__", None) or ""):
                    del sys.modules[extra]  # the problem's helper modules (e.g. "instances")
        _MODULES[key] = module
    return _MODULES[key]


def _score(name: str, impl) -> dict:
    return _module(name).score(_Candidate(impl))


def _invalid(name: str, impl, fragment: str) -> str:
    out = _score(name, impl)
    assert out.get("valid") is False, (name, fragment, out)
    assert fragment in out["error"], (name, fragment, out["error"])
    return out["error"]


def _valid(name: str, impl) -> dict:
    out = _score(name, impl)
    assert out.get("valid", True) is not False, (name, out)
    return out


@pytest.fixture(scope="module")
def evaluators():
    made: dict[str, Evaluator] = {}

    def get(name: str) -> Evaluator:
        if name not in made:
            made[name] = Evaluator(load_problem(registry.BUILTIN_DIR / name))
        return made[name]

    yield get
    for ev in made.values():
        ev.close()


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


# -- cap set ----------------------------------------------------------------------------------
def test_cap_set_512_verifies_in_process_and_end_to_end(evaluators):
    caps = _cap_set_512()
    assert _valid("cap_set_8", caps)["cap_set_size"] == 512
    # the initial program's frozen greedy with a priority that puts the published set first
    init = load_problem("cap_set_8").initial_code
    start, end = init.index("# EVOLVE-BLOCK-START"), init.index("# EVOLVE-BLOCK-END")
    members = {tuple(v) for v in caps}
    block = (f"# EVOLVE-BLOCK-START\nMEMBERS = {sorted(members)!r}\nMEMBERS = set(MEMBERS)\n\n"
             "def priority(vector, n):\n    return 1.0 if tuple(vector) in MEMBERS else 0.0\n")
    codes = {"direct": _program("construct_cap_set", caps), "greedy": init[:start] + block + init[end:],
             "with_line": _program("construct_cap_set", caps, "    data.append([(-(a + b)) % 3 for a, b in "
                                                              "zip(data[0], data[1])])\n")}
    res = _evaluate_all(evaluators("cap_set_8"), codes)
    for k in ("direct", "greedy"):
        assert res[k].valid and res[k].metrics["cap_set_size"] == 512, (k, res[k].error)
        assert res[k].metrics["fraction_of_best_known"] == 1.0
    assert not res["with_line"].valid and "vectors 0, 1 and 512" in res["with_line"].error


def test_cap_set_rejections():
    caps = _cap_set_512()
    a, b = caps[10], caps[200]
    third = [(-(x + y)) % 3 for x, y in zip(a, b)]
    _invalid("cap_set_8", [a, b, third], "vectors 0, 1 and 2")
    _invalid("cap_set_8", [a, b, a], "vectors 0 and 2 are equal")
    _invalid("cap_set_8", [a, [3, 0, 0, 0, 0, 0, 0, 0]], "vectors[1][0] = 3: entries must be 0, 1 or 2")
    _invalid("cap_set_8", [a, [-1, 0, 0, 0, 0, 0, 0, 0]], "entries must be 0, 1 or 2")
    _invalid("cap_set_8", [a, [1.0, 0, 0, 0, 0, 0, 0, 0]], "float")
    _invalid("cap_set_8", [a, [True, 0, 0, 0, 0, 0, 0, 0]], "boolean")
    _invalid("cap_set_8", [a, [0] * 7], "has length 7")
    _invalid("cap_set_8", [], "empty")
    _invalid("cap_set_8", np.zeros((3, 8)), "floats")
    _invalid("cap_set_8", [[0] * 8] * 4375, "at most 4374")
    assert _valid("cap_set_8", np.array(caps[:5], dtype=np.int8))["cap_set_size"] == 5


def test_cap_set_check_matches_brute_force():
    rng = np.random.default_rng(5)
    vecs = list(itertools.product(range(3), repeat=3))
    for _ in range(200):
        k = int(rng.integers(1, 12))
        pick = [list(vecs[i]) for i in rng.choice(len(vecs), k, replace=False)]
        has_line = any(all((x + y + z) % 3 == 0 for x, y, z in zip(p, q, r))
                       for p, q, r in itertools.combinations(pick, 3))
        try:
            X.cap_set_check(pick, 3, 100)
            assert not has_line, pick
        except ScoreError as err:
            assert has_line and "form a line" in str(err), pick


# -- knapsack ---------------------------------------------------------------------------------
def test_knapsack_dp_matches_brute_force():
    inst = _module("knapsack", "instances.py")
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(1, 12))
        v, w = rng.integers(1, 50, n).tolist(), rng.integers(1, 30, n).tolist()
        cap = int(rng.integers(0, sum(w) + 5))
        best = max(sum(v[i] for i in s) for r in range(n + 1) for s in itertools.combinations(range(n), r)
                   if sum(w[i] for i in s) <= cap)
        assert inst.optimum(v, w, cap) == best


def test_knapsack_instances_are_deterministic_and_classical():
    inst = _module("knapsack", "instances.py")
    a, b = inst.instances(7), inst.instances(7)
    assert [(i.values, i.weights, i.capacity) for i in a] == [(i.values, i.weights, i.capacity) for i in b]
    assert len(a) == 15 and {i.family for i in a} == set(inst.FAMILIES)
    for i in a:
        if i.family == "strongly_correlated":
            assert all(v == w + 100 for v, w in zip(i.values, i.weights))
        if i.family == "subset_sum":
            assert i.values == i.weights
        assert i.capacity < sum(i.weights) and min(i.weights) >= 1


def test_knapsack_scoring(monkeypatch):
    ev = _module("knapsack")
    inst = _module("knapsack", "instances.py")
    insts = inst.instances(ev.SEED)
    optima: dict = {}

    def optimum(values, weights, capacity):  # the scorer's DP, once per instance
        key = (tuple(values), tuple(weights), capacity)
        if key not in optima:
            optima[key] = inst.optimum(values, weights, capacity)
        return optima[key]
    monkeypatch.setattr(ev, "optimum", optimum)

    def exact(values, weights, capacity):  # DP with backtracking: every instance optimal
        n = len(values)
        table = np.zeros((n + 1, capacity + 1), dtype=np.int64)
        for k in range(n):
            table[k + 1] = table[k]
            w = weights[k]
            if w <= capacity:
                table[k + 1, w:] = np.maximum(table[k, w:], table[k, :capacity + 1 - w] + values[k])
        chosen, c = [], capacity
        for k in range(n, 0, -1):
            if table[k, c] != table[k - 1, c]:
                chosen.append(k - 1)
                c -= weights[k - 1]
        return chosen

    out = _valid("knapsack", exact)
    assert out["mean_ratio_to_optimum"] == 1.0 and out["optimal_instances"] == len(insts)
    assert _valid("knapsack", [])["mean_ratio_to_optimum"] == 0.0  # nothing chosen: valid, worthless
    _invalid("knapsack", [0, 0], "item 0 is chosen more than once")
    _invalid("knapsack", [10 ** 6], "is not an item index")
    _invalid("knapsack", [-1], "is not an item index")
    _invalid("knapsack", [0.0], "float")
    _invalid("knapsack", [True], "boolean")
    _invalid("knapsack", "0,1", "not an integer")
    _invalid("knapsack", list(range(1000)), "more than the")
    _invalid("knapsack", lambda v, w, c: list(range(len(v))), "more than the capacity")
    _invalid("knapsack", lambda v, w, c: np.arange(len(v), dtype=float)[:2], "floats")


# -- bin packing --------------------------------------------------------------------------------
def test_bin_packing_online_reproduces_funsearch_table1():
    import evoforge.problems.binpack as packing
    table = json.loads(_shared(FS / "table1_bin_packing.json").read_text())["results_percent"]
    for dataset, file in (("OR3", "bin_packing_or3.json"), ("Weibull 5k", "bin_packing_weibull_5k.json")):
        data = json.loads(_shared(FS / file).read_text())
        instances = [packing.Instance(i["name"], i["capacity"], i["items"]) for i in data["instances"]]
        bounds = [packing.l1_bound(i.items, i.capacity) for i in instances]
        for heuristic in ("first_fit", "best_fit"):
            fn = getattr(packing, heuristic)
            used = packing.pack_all(instances, lambda reqs: [fn(*q) for q in reqs], 1)
            assert round(packing.excess_percent(used, bounds), 2) == table[dataset][heuristic], (dataset, heuristic)


def test_bin_packing_online_rejections_in_process():
    _invalid("bin_packing_online", lambda item, bins: [1.0] * (len(bins) + 1), "expected shape")
    _invalid("bin_packing_online", lambda item, bins: np.ones(len(bins), dtype=bool), "booleans")
    _invalid("bin_packing_online", lambda item, bins: "high", "not a number")


# -- conv2d speed-up ----------------------------------------------------------------------------
def _conv_body(body: str) -> str:
    init = load_problem("conv2d_speedup").initial_code
    start, end = init.index("# EVOLVE-BLOCK-START"), init.index("# EVOLVE-BLOCK-END")
    return init[:start] + "# EVOLVE-BLOCK-START\n" + body + "\n" + init[end:]


FFT_BODY = """import scipy.fft

def conv2d(image, kernel):
    h, w = image.shape
    kh, kw = kernel.shape
    shape = (scipy.fft.next_fast_len(h, True), scipy.fft.next_fast_len(w, True))
    spectrum = scipy.fft.rfft2(image, shape) * scipy.fft.rfft2(kernel[::-1, ::-1], shape)
    return scipy.fft.irfft2(spectrum, shape)[kh - 1:h, kw - 1:w]
"""


def _conv_local(conv):
    """A local stand-in for the candidate's conv2d_packed around `conv`."""
    H = _module("conv2d_speedup", "conv_harness.py")

    def packed(image_b64, image_shape, kernel_b64, kernel_shape):
        return H.pack(conv(H.unpack(image_b64, image_shape), H.unpack(kernel_b64, kernel_shape)))
    return packed


def test_conv2d_reference_is_a_valid_cross_correlation():
    H = _module("conv2d_speedup", "conv_harness.py")
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(9, 7)), rng.normal(size=(3, 4))
    want = np.array([[np.sum(image[i:i + 3, j:j + 4] * kernel) for j in range(4)] for i in range(7)])
    assert np.allclose(H.reference_conv2d(image, kernel), want, rtol=0, atol=1e-13)
    a, b = H.fresh_inputs(), H.fresh_inputs()
    assert not np.array_equal(a[0], b[0]) and a[0].shape == (H.H, H.W) and a[1].shape == (H.KH, H.KW)
    assert np.array_equal(H.unpack(H.pack(a[0]), a[0].shape), a[0])


def test_conv2d_harness_rejects_wrong_and_cached_outputs(monkeypatch):
    H = _module("conv2d_speedup", "conv_harness.py")
    name = "conv2d_speedup"
    monkeypatch.setattr(_module(name), "REPS", 3)
    machine = H.measure_machine()
    monkeypatch.setattr(_module(name), "measure_machine", lambda: machine)  # measured once
    assert _valid(name, _conv_local(H.reference_conv2d))["max_rel_error"] == 0.0
    flipped = _invalid(name, _conv_local(lambda im, k: H.reference_conv2d(im, k[::-1, ::-1])),
                       "call 1 of conv2d_packed() (warm-up): the output differs from the reference")
    assert "tolerance is 1e-10" in flipped
    first = {}

    def cached(im, k):  # computes once, then replays its first answer
        first.setdefault("out", H.reference_conv2d(im, k))
        return first["out"]
    _invalid(name, _conv_local(cached), "call 2 of conv2d_packed() (warm-up): the output differs")
    _invalid(name, _conv_local(lambda im, k: H.reference_conv2d(im.astype(np.float32), k.astype(np.float32))),
             "the output differs from the reference")
    _invalid(name, _conv_local(lambda im, k: H.reference_conv2d(im, k) * (1 + 1e-7)), "differs from the reference")

    def nan_out(im, k):
        out = H.reference_conv2d(im, k)
        out[5, 6] = np.nan
        return out
    _invalid(name, _conv_local(nan_out), "output[5, 6] is nan")
    _invalid(name, _conv_local(lambda im, k: H.reference_conv2d(im, k)[:-1]), "expected 199424")
    _invalid(name, lambda *args: H.reference_conv2d(H.unpack(args[0], args[1]), H.unpack(args[2], args[3])).tolist(),
             "returned list, expected a base64 string")
    _invalid(name, lambda *args: "not base64!", "not valid base64")


def test_conv2d_plausibility_guard():
    H = _module("conv2d_speedup", "conv_harness.py")
    machine = H.Machine(flops_per_core=5e10, bandwidth=2e10, cores=2, wire_s=1e-3)
    floor = H.floor_seconds(machine)
    assert 1e-3 < floor < 2e-3
    honest = H.Timing(ref_s=[0.03] * 5, ref_wall_s=[0.03] * 5, ref_cpu_s=[0.03] * 5, cand_s=[0.006] * 5)
    s = H.summarise(honest, machine)
    assert s["plausible"] and s["speedup"] == pytest.approx(5.0) and s["max_plausible_speedup"] > 5
    fake = H.Timing(ref_s=[0.03] * 5, ref_wall_s=[0.03] * 5, ref_cpu_s=[0.03] * 5, cand_s=[floor / 3] * 5)
    s = H.summarise(fake, machine)
    assert not s["plausible"] and s["speedup"] > s["max_plausible_speedup"]
    # the evaluator turns it into a flagged, unrewarded result
    from evoforge.scoring_extra import suspicious
    flagged = suspicious("too fast", speedup=s["speedup"])
    assert flagged["valid"] is False and flagged["flags"] == ["suspicious"] and flagged["error"].startswith("suspicious")
    # the machine measurement is sane on this machine
    m = H.measure_machine()
    assert m.flops_per_core > 1e8 and m.bandwidth > 1e8 and m.cores >= 1 and 0 < m.wire_s < 1


def test_conv2d_reference_time_is_capped_by_its_cpu_time():
    H = _module("conv2d_speedup", "conv_harness.py")
    image, kernel = H.fresh_inputs()
    out, used, wall, cpu = H.time_reference(image, kernel)
    assert np.array_equal(out, H.reference_conv2d(image, kernel))
    assert used == min(wall, H.CPU_CAP * cpu) and used <= H.CPU_CAP * cpu


def test_conv2d_end_to_end(evaluators):
    ev = evaluators("conv2d_speedup")
    hostile = {
        "wrong": _conv_body("def conv2d(image, kernel):\n    import scipy.signal\n"
                            "    return scipy.signal.convolve2d(image, kernel, mode='valid')\n"),
        "cache": _conv_body("CACHE = []\ndef conv2d(image, kernel):\n    if not CACHE:\n"
                            "        import scipy.signal\n"
                            "        CACHE.append(scipy.signal.correlate2d(image, kernel, mode='valid'))\n"
                            "    return CACHE[0]\n"),
        "float32": _conv_body(FFT_BODY.replace("spectrum = ", "image, kernel = image.astype('f4'), "
                                               "kernel.astype('f4')\n    spectrum = ")),
        "raises": _conv_body("def conv2d(image, kernel):\n    raise RuntimeError('no')\n"),
        "zeros": _conv_body("def conv2d(image, kernel):\n    return np.zeros((164, 152))\n"),
        # patching the clock in its own process changes nothing: no time is taken there
        "fake_clock": _conv_body("import time\ntime.perf_counter = lambda: 0.0\ntime.perf_counter_ns = lambda: 0\n"
                                 "time.thread_time_ns = lambda: 0\n" + FFT_BODY),
    }
    res = _evaluate_all(ev, hostile)
    assert "call 1 of conv2d_packed() (warm-up): the output differs" in res["wrong"].error
    assert "call 2 of conv2d_packed() (warm-up): the output differs" in res["cache"].error
    assert "the output differs from the reference" in res["float32"].error
    assert "the output differs from the reference" in res["zeros"].error
    for k in ("wrong", "cache", "float32", "zeros"):
        assert not res[k].valid and res[k].failure_kind == R.INVALID, (k, res[k].error)
    assert not res["raises"].valid and "RuntimeError: no" in res["raises"].error
    clock = res["fake_clock"]
    assert clock.valid and 0 < clock.metrics["speedup"] < clock.metrics["max_plausible_speedup"], clock.metrics
    # timed ones one after the other (parallel evaluations would disturb the timing)
    init = ev.evaluate(ev.problem.initial_code)
    fft = ev.evaluate(_conv_body(FFT_BODY))
    for r in (init, fft):
        assert r.valid, r.error
        assert r.metrics["timed_pairs"] >= 3 and r.metrics["max_rel_error"] <= 1e-12
        assert r.metrics["candidate_ms"] > r.metrics["floor_ms"] > 0
        assert "flags" not in r.artifacts
    assert 0.05 < init.metrics["speedup"] < 3.0  # the reference against itself (less when the machine is busy)
    assert fft.metrics["speedup"] > 1.5 * init.metrics["speedup"], (fft.metrics, init.metrics)


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
