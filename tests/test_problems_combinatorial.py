"""The built-in combinatorial and performance problems (evoforge/problems/): cap set,
knapsack, online bin packing and the conv2d speed-up task.

The cap set of size 512 (../shared/data) verifies; the checks and the knapsack DP
match brute force; broken, cached and hostile candidates are invalid with a clear
reason; the conv2d timing harness resists caching and implausible speed-ups.
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from evoforge import records as R
from evoforge import scoring_extra as X
from evoforge.problem import load_problem
from evoforge.scoring import ScoreError

from problems_helpers import FS, _shared, _cap_set_512, _program, _evaluate_all, _module, _invalid, _valid, evaluators  # noqa: F401 - evaluators is a fixture


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
