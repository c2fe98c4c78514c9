"""Units of the evaluate stage: wire format, cascade rule, clipping, compat shims."""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest

from evoforge.compat import SHIMS_DIR
from evoforge.evaluate import clip, split_metrics
from evoforge.harness import wire
from evoforge.harness.runners import passes


def roundtrip(obj):
    return wire.loads(wire.dumps(obj))


def test_numpy_complex_and_special_floats_roundtrip():
    out = roundtrip({"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.array([1.5, np.nan]),
                     "c": np.array([True, False]), "z": 1 - 2j, "zs": np.array([1j, 2]),
                     "f": np.float32(0.5), "inf": float("inf"), "t": (1, (2, 3)), "s": np.array(["ab", "c"])})
    assert out["a"].dtype == np.int32 and out["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out["b"].dtype == np.float64 and math.isnan(out["b"][1])
    assert out["c"].dtype == np.bool_ and out["z"] == 1 - 2j and out["zs"].dtype == np.complex128
    assert out["f"] == 0.5 and type(out["f"]) is float and out["inf"] == math.inf
    assert out["t"] == [1, [2, 3]] and out["s"].tolist() == ["ab", "c"]


def test_dicts_with_odd_keys_keep_their_keys():
    src = {1: "one", (2, 3): "pair", "__ndarray__": "not an array", None: 0}
    assert roundtrip(src) == src
    assert roundtrip({"plain": {"x": [1, 2]}}) == {"plain": {"x": [1, 2]}}


@pytest.mark.parametrize("obj, words", [
    ({1, 2}, "type set"), (b"raw", "type bytes"), (object(), "type object"),
    (np.array([object()], dtype=object), "dtype object"), ({frozenset(): 1}, "key of non-plain type frozenset"),
])
def test_non_plain_data_is_refused_with_its_type(obj, words):
    with pytest.raises(wire.WireError, match=words):
        wire.dumps(obj)


def test_deep_nesting_is_refused_not_a_crash():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.dumps(deep)
    with pytest.raises(wire.WireError):
        wire.loads(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("raw", [b"{", b'{"__complex__": "ab"}', b'{"__ndarray__": [1], "dtype": "object"}',
                                 b'{"__ndarray__": [[1], [1, 2]], "dtype": "float64"}', b'{"__ndarray__": [1], "dtype": "nope"}',
                                 b"\xff\xfe"])
def test_malformed_frames_raise_wire_error(raw):
    with pytest.raises(wire.WireError):
        wire.loads(raw)


def test_frames_over_a_pipe_and_connection_loss():
    r, w = os.pipe()
    try:
        wire.send(w, {"x": np.array([1.0, 2.0])})
        assert wire.recv(r)["x"].tolist() == [1.0, 2.0]
        os.write(w, (2 ** 31).to_bytes(4, "big"))
        with pytest.raises(wire.WireError, match="exceeds"):
            wire.recv(r, max_frame=1024)
        os.write(w, b"\x00\x00")
        os.close(w)
        w = -1
        with pytest.raises(wire.ConnectionLost):
            wire.recv(r)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_cascade_threshold_rule():
    assert passes({"score": 0.7, "combined_score": 0.1}, 0.5, "score")  # the objective first
    assert not passes({"score": 0.7}, 0.5, "score", maximize=False)  # in its direction
    assert passes({"combined_score": 0.6, "a": 0.0}, 0.5, "score")  # then combined_score
    assert passes({"a": 0.2, "b": 1.0, "error": -100.0}, 0.5, "score")  # then the mean, without 'error'
    assert not passes({"a": 0.2, "b": 0.4}, 0.5, "score") and not passes({"note": "x"}, 0.0, "score")


def test_split_and_clip():
    assert split_metrics({"a": 1, "b": 2.5, "ok": False, "s": "x", "l": [1]}) == (
        {"a": 1, "b": 2.5, "ok": False}, {"s": "x", "l": [1]})
    text = "H" * 100 + "M" * 1000 + "T" * 100
    out = clip(text, 200)
    assert out.startswith("H" * 100) and out.endswith("T" * 100) and "1000 characters omitted" in out
    assert clip("short", 200) == "short"


@pytest.fixture
def shims(monkeypatch):
    monkeypatch.syspath_prepend(str(SHIMS_DIR))
    for name in [m for m in sys.modules if m.split(".")[0] in ("shinka", "openevolve")]:
        monkeypatch.delitem(sys.modules, name)


def test_openevolve_shim_evaluation_result(shims):
    from openevolve.evaluation_result import EvaluationResult

    r = EvaluationResult(metrics={"combined_score": 1.0}, artifacts={"a": "xyz", "b": b"\x00\x01"})
    assert r.has_artifacts() and r.get_artifact_keys() == ["a", "b"] and r.get_total_artifact_size() == 5
    assert EvaluationResult.from_dict({"s": 2}).to_dict() == {"s": 2}


PROGRAM = "def experiment(seed=0, scale=1):\n    if seed == 99:\n        raise RuntimeError('seed 99')\n    return seed * scale\n"


def test_shinka_shim_runs_validates_aggregates_and_writes_files(shims, tmp_path):
    from shinka.core import run_shinka_eval

    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    out = tmp_path / "res"
    metrics, correct, err = run_shinka_eval(
        str(prog), str(out), "experiment", num_runs=3,
        validate_fn=lambda r: (r != 2, "two is not allowed"),
        aggregate_metrics_fn=lambda rs: {"combined_score": float(sum(rs)), "extra_data": {"rs": rs}})
    assert not correct and err == "Validation failed: two is not allowed"
    assert metrics["combined_score"] == 6.0 and metrics["num_valid_runs"] == 2 and metrics["num_invalid_runs"] == 1
    assert metrics["all_validation_errors"] == ["two is not allowed"] and "extra_data" not in metrics
    assert json.loads((out / "correct.json").read_text()) == {"correct": False, "error": err}
    assert json.loads((out / "metrics.json").read_text())["combined_score"] == 6.0 and (out / "extra.pkl").exists()
    ok = run_shinka_eval(str(prog), str(out), "experiment", 2, get_experiment_kwargs=lambda i: {"seed": i, "scale": 10})
    assert ok[1] and ok[0]["num_successful_runs"] == 2 and "execution_time_mean" in ok[0]


def test_shinka_shim_failure_gives_default_metrics(shims, tmp_path):
    from shinka.core import run_shinka_eval

    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    metrics, correct, err = run_shinka_eval(str(prog), str(tmp_path / "r"), "experiment", 1,
                                            get_experiment_kwargs=lambda i: {"seed": 99})
    assert not correct and err == "seed 99" and metrics["combined_score"] == 0.0
    missing = run_shinka_eval(str(prog), str(tmp_path / "r2"), "nope", 1)
    assert not missing[1] and "nope" in missing[2]
