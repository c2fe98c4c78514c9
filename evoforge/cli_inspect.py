"""`evoforge status`, `best` and `config`: reading, never writing (`evaluate`: cli_evaluate.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli import EXIT_FAILED, EXIT_OK, UsageError
from .rundir import RunDir, RunDirError


def _open(run_dir_arg: str):
    from .database.store import Store

    try:
        run_dir = RunDir(run_dir_arg).require()
    except RunDirError as err:
        raise UsageError(str(err)) from None
    return run_dir, Store(run_dir.db_path, readonly=True)


def _direction(store) -> bool:
    obj = store.meta_get("objective") or {}
    return obj.get("direction", "maximize") == "maximize"


def cmd_status(args) -> int:
    from .cli_front import feature_status, feature_status_lines
    from .strategies import status_extras, status_lines

    run_dir, store = _open(args.run_dir)
    with store:
        summary = store.summary()
        summary["run_dir"] = str(run_dir.path)
        summary["problem"] = store.meta_get("problem_path")
        summary["objective"] = store.meta_get("objective")
        summary["isolation"] = store.meta_get("isolation")
        best = store.best_program(_direction(store))
        summary["best"] = None if best is None else {"id": best.id, "score": best.score, "iteration": best.iteration,
                                                      "model": best.model, "flags": best.flags}
        summary.update(status_extras(store, summary))  # cost, improvement shares, issue #6 features
        summary.update(feature_status(store, _direction(store)))  # rubric judge, Pareto front (cli_front.py)
    if args.json:
        print(json.dumps(summary, default=str))
        return EXIT_OK
    obj = summary.get("objective") or {}
    print(f"run       {summary['run_dir']}")
    print(f"problem   {summary['problem']}  ({obj.get('direction', '?')} {obj.get('name', '?')})")
    print(f"sandbox   {summary['isolation']}")
    print(f"programs  {summary.get('n_programs', 0)} ({summary.get('n_valid', 0)} valid), "
          f"proposals {summary.get('n_proposals', 0)}, last iteration {summary.get('last_iteration')}")
    b = summary["best"]
    print("best      " + ("none yet" if b is None else f"{b['score']:.10g} (program {b['id']}, iteration {b['iteration']})"))
    for line in status_lines(summary) + feature_status_lines(summary):  # models, cost, features
        print(line)
    failures = summary.get("failures") or {}
    if failures:
        print("failures  " + ", ".join(f"{k} {v}" for k, v in sorted(failures.items(), key=lambda kv: -kv[1])))
    return EXIT_OK


def cmd_best(args) -> int:
    if getattr(args, "front", False):
        from .cli_front import cmd_best_front

        return cmd_best_front(args)
    _, store = _open(args.run_dir)
    with store:
        best = store.best_program(_direction(store))
    if best is None:
        if args.json:
            print(json.dumps({"best": None}))
        else:
            print("no valid program yet", file=sys.stderr)
        return EXIT_FAILED
    record = {"id": best.id, "score": best.score, "metrics": best.metrics, "iteration": best.iteration,
              "generation": best.generation, "island": best.island, "model": best.model, "flags": best.flags,
              "code": best.code}
    if args.json:
        print(json.dumps(record, default=str))
    else:
        print(f"# program {best.id}  score {best.score:.10g}  iteration {best.iteration}  model {best.model}")
        print("# metrics: " + json.dumps(best.metrics, default=str))
        print(best.code)
    return EXIT_OK


def cmd_config(args) -> int:
    from . import config as cfg

    if args.validate:
        try:
            cfg.load(Path(args.validate))
        except cfg.ConfigError as err:
            raise UsageError(str(err)) from None
        print(f"{args.validate}: valid")
        return EXIT_OK
    print(cfg.docs_markdown())
    return EXIT_OK
