"""Runners for evaluators that execute the candidate in their own process.

* OpenEvolve: ``evaluate(program_path)`` or ``evaluate_stage1/2/3`` (cascade);
* ShinkaEvolve: ``main(program_path, results_dir)`` writing metrics.json and
  correct.json.

The candidate's code runs in this same (sandboxed) process, so nothing here can
stop it from faking its score; only the hardened kind can (see scorer.py).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

from . import wire
from .candidate import format_exc
from .paths import load_module, setup_sys_path
from .scorer import import_failure

MAX_VALUE_REPR = 4000


def run_evaluate(job: dict) -> dict:
    """job: evaluator, root, program, stages, thresholds, cascade, objective, maximize."""
    setup_sys_path(job)
    sys.argv = [job["evaluator"]]
    try:
        module = load_module(job["evaluator"], "evaluation_module")
    except BaseException as err:  # noqa: BLE001
        return import_failure(job["evaluator"], err)
    stages = [(n, getattr(module, n, None)) for n in job.get("stages") or []]
    stages = [(n, f) for n, f in stages if callable(f)]
    evaluate = getattr(module, "evaluate", None)
    if stages and (job.get("cascade", True) or not callable(evaluate)):
        return _cascade(job, stages)
    if not callable(evaluate):
        return {"status": "error", "phase": "import", "kind": "exception",
                "error": f"{os.path.basename(job['evaluator'])} defines no evaluate(program_path)"}
    try:
        res = evaluate(job["program"])
    except BaseException as err:  # noqa: BLE001
        return _raised("evaluate", err)
    metrics, artifacts, bad = _split(res, "evaluate")
    if bad:
        return {"status": "error", "phase": "result", "kind": "bad_result", "error": bad}
    return {"status": "ok", "metrics": _plain(metrics), "artifacts": _plain(artifacts), "stage": None}


def _cascade(job: dict, stages: list) -> dict:
    """OpenEvolve's cascade: stop after stage i if the merged metrics so far are
    below threshold i (see `passes`); later stages' metrics override earlier ones."""
    thresholds = list(job.get("thresholds") or []) if job.get("cascade", True) else []
    metrics: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    for i, (name, fn) in enumerate(stages, 1):
        try:
            res = fn(job["program"])
        except BaseException as err:  # noqa: BLE001
            return {**_raised(name, err), "stage": i, "partial_metrics": _plain(metrics)}
        m, a, bad = _split(res, name)
        if bad:
            return {"status": "error", "phase": "result", "kind": "bad_result", "error": bad, "stage": i}
        metrics.update(m)
        artifacts.update(a)
        if i < len(stages) and i - 1 < len(thresholds):
            t = float(thresholds[i - 1])
            if not passes(metrics, t, job.get("objective") or "combined_score", job.get("maximize", True)):
                artifacts["cascade"] = f"stopped after stage {i} of {len(stages)}: below threshold {t:g}"
                return {"status": "ok", "metrics": _plain(metrics), "artifacts": _plain(artifacts), "stage": i}
    return {"status": "ok", "metrics": _plain(metrics), "artifacts": _plain(artifacts), "stage": len(stages)}


def passes(metrics: dict, threshold: float, objective: str, maximize: bool = True) -> bool:
    """Does a stage result pass `threshold`?

    The problem's objective if present (compared in its direction); else
    ``combined_score``; else the mean of all numeric metrics except ``error``
    (OpenEvolve's rule).  No numeric metric at all does not pass.
    """
    def num(x: Any) -> bool:
        return isinstance(x, (int, float))

    v = metrics.get(objective)
    if num(v):
        return v >= threshold if maximize else v <= threshold
    v = metrics.get("combined_score")
    if num(v):
        return v >= threshold
    vals = [float(x) for k, x in metrics.items() if k != "error" and num(x)]
    return bool(vals) and sum(vals) / len(vals) >= threshold


def run_shinka(job: dict) -> dict:
    """job: evaluator, root, program, workdir.  Calls main(), reads its files."""
    setup_sys_path(job)
    sys.argv = [job["evaluator"]]
    try:
        module = load_module(job["evaluator"], "evaluate")
    except BaseException as err:  # noqa: BLE001
        return import_failure(job["evaluator"], err)
    main = getattr(module, "main", None)
    if not callable(main):
        return {"status": "error", "phase": "import", "kind": "exception",
                "error": f"{os.path.basename(job['evaluator'])} defines no main(program_path, results_dir)"}
    results = os.path.join(job["workdir"], "results")
    os.makedirs(results, exist_ok=True)
    try:
        main(job["program"], results)
    except SystemExit as err:
        if err.code not in (None, 0):
            return _raised("main", err)
    except BaseException as err:  # noqa: BLE001
        return _raised("main", err)
    out: dict[str, Any] = {"status": "ok", "stage": None}
    for name in ("metrics", "correct"):
        path = os.path.join(results, name + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"status": "error", "phase": "result", "kind": "bad_result",
                    "error": f"main() wrote no {name}.json in results_dir"}
        except (OSError, ValueError) as err:
            return {"status": "error", "phase": "result", "kind": "bad_result",
                    "error": f"main() wrote an unreadable {name}.json: {err}"}
        if not isinstance(data, dict):
            return {"status": "error", "phase": "result", "kind": "bad_result",
                    "error": f"{name}.json holds {type(data).__name__}, expected a JSON object"}
        out[name] = _plain(data)
    return out


# -- helpers ---------------------------------------------------------------------
def _split(res: Any, name: str) -> tuple[dict, dict, str | None]:
    """dict, or an EvaluationResult-like object (``.metrics`` / ``.artifacts``)."""
    if isinstance(res, dict):
        return res, {}, None
    metrics = getattr(res, "metrics", None)
    if isinstance(metrics, dict):
        artifacts = getattr(res, "artifacts", None)
        return metrics, dict(artifacts) if isinstance(artifacts, dict) else {}, None
    return {}, {}, f"{name}() returned {type(res).__name__}, expected a dict of metrics or an EvaluationResult"


def _raised(name: str, err: BaseException) -> dict:
    if isinstance(err, MemoryError):
        return {"status": "error", "phase": "evaluate", "kind": "memory", "error": f"{name}() ran out of memory"}
    return {"status": "error", "phase": "evaluate", "kind": "exception",
            "error": f"{name}() raised {type(err).__name__}: {err}", "traceback": format_exc(err, 1)}


def _plain(d: dict) -> dict:
    """Values that can cross the wire; others become text (bytes decoded)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = k if isinstance(k, str) else str(k)
        try:
            wire.encode(v)
            out[key] = v
        except wire.WireError:
            if isinstance(v, (bytes, bytearray)):
                out[key] = bytes(v[:MAX_VALUE_REPR * 4]).decode("utf-8", "replace")
            else:
                out[key] = repr(v)[:MAX_VALUE_REPR]
    return out

