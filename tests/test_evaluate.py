"""Evaluation of the three problem formats in real sandboxed child processes."""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from evaluate_helpers import FIXTURES, SIMPLE_SCORER, evaluator_for, fixture
from evoforge import records as R
from evoforge.problem import ProblemError, load_problem

SORT_WRONG = "def sort_numbers(xs):\n    return list(xs)\n"


# -- hardened (native) -------------------------------------------------------------
def test_hardened_fixture_scores_initial_and_worse_candidate():
    ev = fixture("hardened_problem")
    ok = ev.check()
    assert ok.valid and ok.metrics["combined_score"] == 1.0 and ok.metrics["array_ok"] is True
    assert ok.artifacts["feedback"] == "6 of 6 cases sorted correctly"
    assert ok.isolation == ev.isolation and ok.duration_s > 0
    bad = ev.evaluate(SORT_WRONG)
    assert bad.valid and 0 < bad.metrics["combined_score"] < 1  # only the trivially sorted cases pass


def test_hardened_candidate_prints_are_kept_apart_from_the_score():
    ev = fixture("hardened_problem")
    code = SORT_WRONG.replace("return", "print('hello from the candidate')\n    return sorted(xs)\n    return")
    res = ev.evaluate(code)
    assert res.valid and res.metrics["combined_score"] == 1.0
    assert "hello from the candidate" in res.stdout


def test_hardened_numpy_and_complex_reach_the_scorer_tagged(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        import numpy as np
        def score(candidate):
            arr = candidate.call("f", np.arange(3.0))
            z = candidate.call("g")
            t = candidate.call("h")
            return {"combined_score": float(arr.sum()), "is_array": isinstance(arr, np.ndarray),
                    "dtype": str(arr.dtype), "z_is_complex": isinstance(z, complex), "nan": t[0], "tuple_is_list": isinstance(t, list)}
        """, program="# EVOLVE-BLOCK-START\ndef f(a):\n    return a * 2\n# EVOLVE-BLOCK-END\n"
                     "def g():\n    return 1 + 2j\ndef h():\n    return (float('nan'), 1)\n")
    res = ev.evaluate(ev.problem.initial_code)
    assert res.valid, res.error
    m = res.metrics
    assert m["combined_score"] == 6.0 and m["is_array"] is True and m["z_is_complex"] is True
    assert math.isnan(m["nan"]) and m["tuple_is_list"] is True and res.artifacts["dtype"] == "float64"


@pytest.mark.parametrize("body, kind, words", [
    ("def f(x):\n    raise ValueError('boom in f')\n", R.EXCEPTION, ["f() raised", "ValueError: boom in f"]),
    ("def f(x):\n    return {1, 2}\n", R.EXCEPTION, ["returned non-plain data of type set"]),
    ("def f(x)\n    return 1\n", R.EXCEPTION, ["failed to import", "SyntaxError"]),
    ("raise SystemExit(0)\ndef f(x):\n    return 1\n", R.EXCEPTION, ["failed to import", "SystemExit"]),
    ("def f(x):\n    raise SystemExit(3)\n", R.EXCEPTION, ["SystemExit"]),
    ("import os\ndef f(x):\n    os._exit(0)\n", R.CRASH, ["candidate process", "running f()"]),
    ("import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGSEGV)\n", R.CRASH, ["SIGSEGV"]),
    ("g = 3\n", R.EXCEPTION, ["defines no function f()"]),
])
def test_hardened_candidate_failures(tmp_path, body, kind, words):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER)
    res = ev.evaluate(body)
    assert not res.valid and res.failure_kind == kind, (res.failure_kind, res.error)
    for w in words:
        assert w in res.error, res.error


def test_hardened_candidate_timeout_is_reported_as_timeout(tmp_path):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER, timeout_s=1.5)
    res = ev.evaluate("def f(x):\n    while True:\n        pass\n")
    assert not res.valid and res.failure_kind == R.TIMEOUT, (res.failure_kind, res.error)
    assert "timeout" in res.error


def test_hardened_candidate_memory_is_reported_as_memory(tmp_path):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER)
    res = ev.evaluate("def f(x):\n    return len(bytearray(8 * 1024 ** 3))\n")
    assert not res.valid and res.failure_kind == R.MEMORY, (res.failure_kind, res.error)


def test_scorer_may_catch_candidate_exceptions(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        from evoforge.harness.scorer import CandidateError
        def score(candidate):
            got = []
            for x in (1, 2, 3):
                try:
                    got.append(candidate.call("f", x))
                except CandidateError as err:
                    got.append(str(err))
            return {"combined_score": sum(1 for g in got if g == 0), "msg": got[1]}
        """)
    res = ev.evaluate("def f(x):\n    if x == 2:\n        raise KeyError('two')\n    return 0\n")
    assert res.valid and res.metrics["combined_score"] == 2 and "KeyError" in res.artifacts["msg"]


def test_call_many_reports_the_failing_index(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        def score(candidate):
            values = candidate.call_many("f", [(i,) for i in range(50)])
            return {"combined_score": float(sum(values))}
        """)
    ok = ev.evaluate("def f(x):\n    return x\n")
    assert ok.valid and ok.metrics["combined_score"] == sum(range(50))
    bad = ev.evaluate("def f(x):\n    return 1 / (x - 17)\n")
    assert bad.failure_kind == R.EXCEPTION and "call 17 of f() raised" in bad.error and "ZeroDivisionError" in bad.error


@pytest.mark.parametrize("scorer, kind, words", [
    ("def score(c):\n    return [1, 2]\n", R.BAD_RESULT, ["score() returned list", "dict of metrics"]),
    ("def score(c):\n    return {'combined_score': float('nan')}\n", R.INVALID, ["nan"]),
    ("def score(c):\n    return {'combined_score': float('inf')}\n", R.INVALID, ["inf"]),
    ("def score(c):\n    return {'other': 1.0}\n", R.BAD_RESULT, ["no numeric 'combined_score'", "other"]),
    ("def score(c):\n    return {'combined_score': 'high'}\n", R.BAD_RESULT, ["no numeric 'combined_score'"]),
    ("def score(c):\n    return {'valid': False, 'error': 'wrong shape', 'combined_score': 0}\n", R.INVALID, ["wrong shape"]),
    ("def score(c):\n    raise RuntimeError('scorer bug')\n", R.EXCEPTION, ["score() raised RuntimeError: scorer bug"]),
    ("def score(c):\n    return {'combined_score': 1.0, 'x': object()}\n", R.BAD_RESULT, ["cannot be stored"]),
])
def test_scorer_results_are_checked(tmp_path, scorer, kind, words):
    res = evaluator_for(tmp_path / "p", scorer).evaluate("def f(x):\n    return 1\n")
    assert not res.valid and res.failure_kind == kind, (res.failure_kind, res.error)
    for w in words:
        assert w in res.error, res.error


def test_non_numeric_metrics_become_artifacts(tmp_path):
    ev = evaluator_for(tmp_path / "p", "def score(c):\n    return {'combined_score': 2, 'ok': True, 'text': 'hi', 'v': [1, 2]}\n")
    res = ev.evaluate("def f(x):\n    return 1\n")
    assert res.valid and res.metrics == {"combined_score": 2, "ok": True}
    assert res.artifacts == {"text": "hi", "v": [1, 2]}


def test_concurrent_evaluations_are_independent(tmp_path):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER)
    codes = [f"def f(x):\n    return x * {k}\n" for k in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(ev.evaluate, codes))
    assert [r.metrics["combined_score"] for r in results] == [float(k) for k in range(6)]


def test_workdir_is_private_and_removed(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        import os
        def score(candidate):
            return {"combined_score": 1.0, "cand_dir": candidate.call("f", 0), "scorer_dir": os.getcwd()}
        """)
    res = ev.evaluate("import os\ndef f(x):\n    open('junk.txt', 'w').write('x')\n    return os.getcwd()\n")
    assert res.valid, res.error
    cand_dir, scorer_dir = res.artifacts["cand_dir"], res.artifacts["scorer_dir"]
    assert cand_dir != scorer_dir
    import os
    assert not os.path.exists(cand_dir) and not os.path.exists(scorer_dir)


def test_workdirs_of_killed_controllers_are_removed(tmp_path):
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from evoforge.evaluate import WORKDIR_PREFIX

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid no longer exists: as if SIGKILLed mid-evaluation
    stale = Path(tempfile.gettempdir()) / f"{WORKDIR_PREFIX}{gone.pid}-test"
    (stale / "candidate" / "ro").mkdir(parents=True)
    (stale / "candidate" / "ro" / "out.txt").write_text("x")
    os.chmod(stale / "candidate" / "ro", 0o500)  # a candidate may leave a read-only directory
    mine = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    try:
        evaluator_for(tmp_path / "p", SIMPLE_SCORER)
        assert not stale.exists() and mine.exists()
    finally:
        mine.rmdir()


def test_close_stops_running_evaluations(tmp_path):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER, timeout_s=30)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", ev.evaluate("def f(x):\n    while True:\n        pass\n")))
    t.start()
    threading.Event().wait(1.0)
    ev.close()
    t.join(20)
    assert not t.is_alive() and not out["r"].valid
    after = ev.evaluate("def f(x):\n    return 1\n")
    assert not after.valid and "closed" in after.error


# -- OpenEvolve ------------------------------------------------------------------------
def test_openevolve_cascade_stops_below_threshold():
    ev = fixture("oe_problem")
    res = ev.check()  # x = 1.0: score 0.2 < threshold 0.5
    assert res.valid and res.stage == 1 and res.metrics["combined_score"] == pytest.approx(0.2)
    assert "distance" not in res.metrics and "stopped after stage 1" in res.artifacts["cascade"]
    assert res.artifacts["stage1_x"] == "x = 1.0000"


def test_openevolve_cascade_runs_all_stages_for_a_good_candidate():
    ev = fixture("oe_problem")
    code = ev.problem.initial_code.replace("x += 0.1", "x += 0.3")  # x = 3.0
    res = ev.evaluate(code)
    assert res.valid and res.stage == 2, res.error
    assert res.metrics["combined_score"] == pytest.approx(1.0) and res.metrics["distance"] == pytest.approx(0, abs=1e-9)
    assert res.artifacts["note"] == "stage 2 ran" and res.metrics["runs"] == 1.0  # stage-1 metrics merged


def test_openevolve_without_cascade_calls_evaluate():
    ev = fixture("oe_problem", cascade=False)
    res = ev.check()
    assert res.valid and res.stage is None and res.metrics["x"] == pytest.approx(1.0)
    assert "optimum is near 3" in res.artifacts["feedback"]


def test_openevolve_stage_exception_and_candidate_crash(tmp_path):
    ev = fixture("oe_problem")
    crash = ev.evaluate(ev.problem.initial_code.replace("return x\n", "raise RuntimeError('nope')\n", 1))
    assert crash.valid and crash.metrics["combined_score"] == 0.0  # stage 1 catches it, as the evaluator chose
    assert "nope" in crash.artifacts["stderr"]
    ev2 = evaluator_for(tmp_path / "p", "def evaluate(p):\n    raise ValueError('broken evaluator')\n", yaml="")
    res = ev2.evaluate("x = 1\n")
    assert res.failure_kind == R.EXCEPTION and "evaluate() raised ValueError: broken evaluator" in res.error
    assert "Traceback" in res.artifacts["traceback"]


@pytest.mark.parametrize("evaluator, kind, words", [
    ("def evaluate(p):\n    return 3\n", R.BAD_RESULT, ["evaluate() returned int"]),
    ("def evaluate(p):\n    return {'combined_score': float('nan')}\n", R.INVALID, ["nan"]),
    ("def evaluate(p):\n    while True:\n        pass\n", R.TIMEOUT, ["timeout"]),
    ("import os\ndef evaluate(p):\n    os._exit(0)\n", R.CRASH, ["without a result"]),
])
def test_openevolve_failures(tmp_path, evaluator, kind, words):
    res = evaluator_for(tmp_path / "p", evaluator, timeout_s=2, yaml="").evaluate("x = 1\n")
    assert not res.valid and res.failure_kind == kind, (res.failure_kind, res.error)
    for w in words:
        assert w in res.error


def test_openevolve_mean_of_metrics_when_no_combined_score(tmp_path):
    ev = evaluator_for(tmp_path / "p", "def evaluate(p):\n    return {'a': 1.0, 'b': 3.0, 'error': 'x'}\n", yaml="")
    res = ev.evaluate("x = 1\n")
    assert res.valid and res.metrics["combined_score"] == 2.0 and res.artifacts["error"] == "x"


def test_openevolve_stages_only_without_cascade_runs_every_stage(tmp_path):
    ev = evaluator_for(tmp_path / "p", "def evaluate_stage1(p):\n    return {'combined_score': 0.0}\n"
                                       "def evaluate_stage2(p):\n    return {'combined_score': 0.9, 's2': 1}\n",
                       yaml="cascade_thresholds: [0.5]\n")
    assert ev.evaluate("x = 1\n").stage == 1  # cascade on: stops
    ev.cascade = False
    res = ev.evaluate("x = 1\n")
    assert res.stage == 2 and res.metrics == {"combined_score": 0.9, "s2": 1}


# -- ShinkaEvolve --------------------------------------------------------------------------
def test_shinka_fixture_valid_invalid_and_better():
    ev = fixture("shinka_problem")
    res = ev.check()
    assert res.valid and res.metrics["combined_score"] == pytest.approx(0.8)
    assert res.artifacts["public"] == {"num_circles": 4, "sum_radii": pytest.approx(0.8)}
    assert res.artifacts["text_feedback"] == "sum of radii 0.8000" and res.metrics["num_valid_runs"] == 1
    assert "Evaluating program" in res.stdout
    better = ev.evaluate(ev.problem.initial_code.replace("np.full(4, 0.2)", "np.full(4, 0.25)"))
    assert better.valid and better.metrics["combined_score"] == pytest.approx(1.0)
    overlap = ev.evaluate(ev.problem.initial_code.replace("np.full(4, 0.2)", "np.full(4, 0.3)"))
    assert not overlap.valid and overlap.failure_kind == R.INVALID and "Validation failed" in overlap.error
    crash = ev.evaluate(ev.problem.initial_code.replace("return centers, radii\n", "return 1 / 0\n"))
    assert crash.failure_kind == R.INVALID and "division by zero" in crash.error


def test_shinka_main_that_writes_nothing_is_a_bad_result(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "initial.py").write_text("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")
    (root / "evaluate.py").write_text("def main(program_path, results_dir):\n    print('did nothing')\n")
    from evoforge.evaluate import Evaluator
    res = Evaluator(load_problem(root)).evaluate("x = 2\n")
    assert res.failure_kind == R.BAD_RESULT and "no metrics.json" in res.error


# -- check() on broken problems ---------------------------------------------------------------
def test_check_reports_an_evaluator_that_fails_to_import():
    with pytest.raises(ProblemError) as info:
        fixture("broken_import").check()
    assert str(info.value).startswith("evaluator.py failed to import: ModuleNotFoundError")
    assert "evoforge_fixture_missing_dependency" in str(info.value)


def test_check_reports_an_initial_program_the_evaluator_rejects():
    with pytest.raises(ProblemError) as info:
        fixture("broken_initial_fails").check()
    msg = str(info.value)
    assert msg.startswith("the initial program is invalid under the evaluator: evaluate() raised AttributeError")
    assert "construct" in msg


@pytest.mark.parametrize("name, words", [("broken_no_initial", "no initial program"),
                                         ("broken_no_markers", "no EVOLVE-BLOCK-START")])
def test_unloadable_problem_dirs(name, words):
    with pytest.raises(ProblemError, match=words):
        load_problem(FIXTURES / name)


def test_lingering_candidate_threads_do_not_hold_the_evaluation(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        import importlib.util
        def evaluate(program_path):
            spec = importlib.util.spec_from_file_location("program", program_path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return {"combined_score": 1.0}
        """, timeout_s=5, yaml="")
    res = ev.evaluate("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n")
    assert res.valid, res.error


def test_hardened_needs_a_python_program(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "initial_program.c").write_text("// EVOLVE-BLOCK-START\nint f(){return 1;}\n// EVOLVE-BLOCK-END\n")
    (root / "evaluator.py").write_text(SIMPLE_SCORER)
    from evoforge.evaluate import Evaluator
    with pytest.raises(ProblemError, match="need a Python program"):
        Evaluator(load_problem(root))


def test_openevolve_evaluator_with_its_own_multiprocessing_timeout(tmp_path):
    ev = evaluator_for(tmp_path / "p", """
        import importlib.util, multiprocessing as mp

        def _run(path, q):
            spec = importlib.util.spec_from_file_location("program", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            q.put(mod.solve())

        def evaluate(program_path):
            q = mp.Queue()
            p = mp.Process(target=_run, args=(program_path, q))
            p.start()
            p.join(3)
            if p.is_alive():
                p.kill()
                return {"combined_score": 0.0, "error": "timed out"}
            return {"combined_score": float(q.get(timeout=1))}
        """, timeout_s=10, yaml="")
    assert ev.evaluate("def solve():\n    return 4\n").metrics["combined_score"] == 4.0
    slow = ev.evaluate("import time\ndef solve():\n    time.sleep(30)\n")
    assert slow.valid and slow.metrics["combined_score"] == 0.0 and slow.artifacts["error"] == "timed out"
