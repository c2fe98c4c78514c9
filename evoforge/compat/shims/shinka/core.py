"""``run_shinka_eval``: ShinkaEvolve's evaluation driver, re-implemented.

Contract (as in ShinkaEvolve): import the program, call
``experiment_fn_name(**kwargs)`` ``num_runs`` times (kwargs from
``get_experiment_kwargs(run_index)``, default ``{"seed": run_index + 1}``),
validate each result with ``validate_fn(result) -> (ok, message)``, aggregate
with ``aggregate_metrics_fn(results) -> dict``, add timing statistics, write
``correct.json`` ({"correct", "error"}) and ``metrics.json`` to
``results_dir`` and return ``(metrics, correct, first_error)``.  An exception
anywhere yields the default error metrics and ``correct = False``.

Differences: runs are always sequential (``run_workers`` only changes speed in
ShinkaEvolve), early stopping and ``plotting_fn`` are accepted and ignored
(every run is executed; no figures are drawn).
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import pickle
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

DEFAULT_METRICS_ON_ERROR: Dict[str, Any] = {
    "combined_score": 0.0,
    "execution_time_mean": 0.0,
    "execution_time_std": 0.0,
    "num_successful_runs": 0,
    "num_valid_runs": 0,
    "num_invalid_runs": 0,
    "all_validation_errors": [],
}


def load_program(program_path: str) -> Any:
    spec = importlib.util.spec_from_file_location("program", program_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Could not load spec for module at {program_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonable(obj: Any) -> Any:
    """json.dump fallback for numpy scalars/arrays and other odd values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def save_json_results(results_dir: str, metrics: Dict[str, Any], correct: bool, error: Optional[str] = None) -> None:
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": bool(correct), "error": error}, f, indent=4, default=_jsonable)
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=4, default=_jsonable)


def _mean_std(xs: List[float]) -> Tuple[float, float]:
    if not xs:
        return 0.0, 0.0
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def run_shinka_eval(
    program_path: str,
    results_dir: str,
    experiment_fn_name: str,
    num_runs: int,
    get_experiment_kwargs: Optional[Callable[[int], Dict[str, Any]]] = None,
    aggregate_metrics_fn: Optional[Callable[[List[Any]], Dict[str, Any]]] = None,
    validate_fn: Optional[Callable[[Any], Tuple[bool, Optional[str]]]] = None,
    plotting_fn: Optional[Callable[[Any], List[Any]]] = None,
    default_metrics_on_error: Optional[Dict[str, Any]] = None,
    early_stop_method: Any = None,
    early_stop_threshold: Optional[float] = None,
    early_stop_score_fn: Optional[Callable[[Any], float]] = None,
    early_stop_kwargs: Optional[Dict[str, Any]] = None,
    run_workers: int = 1,
    max_workers_cap: Optional[int] = None,
    **_ignored: Any,
) -> Tuple[Dict[str, Any], bool, Optional[str]]:
    if run_workers < 1:
        raise ValueError("run_workers must be >= 1")
    if max_workers_cap is not None and max_workers_cap < 1:
        raise ValueError("max_workers_cap must be >= 1 when provided")
    if early_stop_method not in (None, "none") and early_stop_threshold is None:
        raise ValueError("early_stop_threshold is required when early_stop_method is set")
    defaults = dict(default_metrics_on_error or DEFAULT_METRICS_ON_ERROR)

    correct, first_error = True, None
    errors: List[str] = []
    n_valid = n_invalid = 0
    results: List[Any] = []
    times: List[float] = []
    try:
        module = load_program(program_path)
        fn = getattr(module, experiment_fn_name, None)
        if fn is None:
            raise AttributeError(f"Experiment function '{experiment_fn_name}' not found in {program_path}")
        for i in range(num_runs):
            kwargs = get_experiment_kwargs(i) if get_experiment_kwargs else {"seed": i + 1}
            t0 = time.perf_counter()
            result = fn(**kwargs)
            times.append(time.perf_counter() - t0)
            results.append(result)
            if validate_fn:
                ok, message = validate_fn(result)
                if ok:
                    n_valid += 1
                else:
                    n_invalid += 1
                    correct = False
                    if message:
                        first_error = first_error or f"Validation failed: {message}"
                        if message not in errors:
                            errors.append(message)
            print(f"Run {i + 1}/{num_runs} completed in {times[-1]:.2f} seconds")
        if aggregate_metrics_fn:
            metrics = dict(aggregate_metrics_fn(results))
        else:
            metrics = {"num_successful_runs": len(results),
                       "first_run_result_type": str(type(results[0])) if results else "N/A",
                       "raw_results_preview": str(results[:2]) if results else "N/A"}
        metrics["execution_time_mean"], metrics["execution_time_std"] = _mean_std(times)
        if validate_fn:
            metrics.update(num_valid_runs=n_valid, num_invalid_runs=n_invalid, all_validation_errors=errors)
    except Exception as err:  # noqa: BLE001 - ShinkaEvolve reports any failure as incorrect
        print(f"Evaluation error: {err}")
        metrics = {k: defaults.get(k, v) for k, v in DEFAULT_METRICS_ON_ERROR.items()}
        if validate_fn:
            metrics.setdefault("num_valid_runs", 0)
            metrics.setdefault("num_invalid_runs", len(results))
            metrics.setdefault("all_validation_errors", [str(err)])
        first_error, correct = str(err), False

    if "extra_data" in metrics:
        os.makedirs(results_dir, exist_ok=True)
        with open(os.path.join(results_dir, "extra.pkl"), "wb") as f:
            pickle.dump(metrics.pop("extra_data"), f)
    save_json_results(results_dir, metrics, correct, first_error)
    return metrics, correct, first_error
