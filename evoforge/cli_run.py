"""`evoforge run` and `evoforge resume`."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import config as cfg
from .cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from .problem import Problem, ProblemError, load_problem
from .rundir import RunDir


def _load_problem(path: str) -> Problem:
    try:
        problem = load_problem(path)
    except ProblemError as err:
        raise UsageError(str(err)) from None
    for w in problem.warnings:
        print(f"evoforge: warning: {w}", file=sys.stderr)
    return problem


def _cli_overrides(args) -> dict[str, Any]:
    """Only the flags the user actually gave override the config."""
    o: dict[str, Any] = {"run": {}, "llm": {}, "evaluation": {}}
    for flag, section, key in (("iterations", "run", "iterations"), ("seed", "run", "seed"),
                               ("max_wall", "run", "max_wall_s"), ("target_score", "run", "target_score"),
                               ("max_tokens", "run", "max_total_tokens"), ("max_cost", "run", "max_cost"), ("llm_in_flight", "llm", "max_in_flight"),
                               ("eval_in_flight", "evaluation", "max_in_flight"), ("timeout", "evaluation", "timeout_s"),
                               ("memory_mb", "evaluation", "memory_mb"), ("isolation", "evaluation", "isolation"),
                               ("executor", "evaluation", "executor"), ("ray_address", "evaluation", "ray_address")):
        value = getattr(args, flag, None)
        if value is not None:
            o[section][key] = value
    return {k: v for k, v in o.items() if v}


def _models(args, configured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names, weights, bases = args.model or [], args.weight or [], args.api_base or []
    if weights and len(weights) != len(names):
        raise UsageError(f"--weight given {len(weights)} times for {len(names)} --model; give one per model")
    if names:
        if len(bases) not in (0, 1, len(names)):
            raise UsageError("--api-base must be given once (for all models) or once per --model")
        models = []
        for i, name in enumerate(names):
            m = {"name": name, "weight": weights[i] if weights else 1.0}
            if bases:
                m["api_base"] = bases[0] if len(bases) == 1 else bases[i]
            models.append(m)
        return models
    if bases:
        if not configured:
            raise UsageError("--api-base needs a --model NAME (the model to ask at that endpoint)")
        if len(bases) not in (1, len(configured)):
            raise UsageError("--api-base must be given once or once per configured model")
        return [{**m, "api_base": bases[0] if len(bases) == 1 else bases[i]} for i, m in enumerate(configured)]
    return configured


def _resolve_models(config: cfg.Config) -> cfg.Config:
    """Fill in the local model when nothing is configured; check every model has an endpoint."""
    models = list(config.llm.models)
    if not models:
        from . import local_model

        if local_model.is_installed():
            print("evoforge: no endpoint configured; using the local model (--model local)", file=sys.stderr)
            models = [cfg.ModelConfig(name="local")]
        else:
            raise UsageError("no LLM configured. Either point at an OpenAI-compatible endpoint:\n"
                             "    evoforge run PROBLEM --api-base http://127.0.0.1:8000/v1 --model NAME\n"
                             "(or set OPENAI_BASE_URL and pass --model), or install the local model:\n"
                             "    " + local_model.install_hint())
    models = [m.model_copy(update={"diff_probability": 0.0})
              if m.name.startswith("local") and m.diff_probability is None else m for m in models]
    for m in models:
        if not m.name.startswith("local") and not (m.api_base or os.environ.get("OPENAI_BASE_URL")):
            raise UsageError(f"model '{m.name}' has no endpoint: pass --api-base URL or set OPENAI_BASE_URL")
    return config.model_copy(update={"llm": config.llm.model_copy(update={"models": models})})


def _config(base: dict[str, Any], args) -> cfg.Config:
    data = base
    if getattr(args, "config", None):
        try:
            data = cfg.merge(data, cfg.read_yaml(Path(args.config)))
        except cfg.ConfigError as err:
            raise UsageError(str(err)) from None
    data = cfg.merge(data, _cli_overrides(args))
    llm = dict(data.get("llm") or {})
    llm["models"] = _models(args, list(llm.get("models") or []))
    data["llm"] = llm
    try:
        config = cfg.validate(data, args.config or "command line")
    except cfg.ConfigError as err:
        raise UsageError(str(err)) from None
    try:  # a configured feature that cannot work (e.g. no embedding model) fails before the run
        from .strategies import check_config

        check_config(config)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return _resolve_models(config)


def _stored_config(config: cfg.Config) -> dict[str, Any]:
    """The config as kept in the database: never the API keys."""
    data = config.model_dump()
    for m in data["llm"]["models"]:
        m["api_key"] = None
    if "max_in_flight" not in config.evaluation.model_fields_set:
        del data["evaluation"]["max_in_flight"]  # a default: recomputed on resume (cores, or the Ray cluster)
    return data


def effective_limits(problem: Problem, config: cfg.Config):
    ev = config.evaluation
    limits = problem.limits
    if ev.timeout_s is not None:
        limits = replace(limits, timeout_s=ev.timeout_s)
    if ev.memory_mb is not None:
        limits = replace(limits, memory_mb=ev.memory_mb)
    return limits


def cmd_run(args) -> int:
    problem = _load_problem(args.problem)
    config = _config(problem.run_config, args)
    out = args.out or f"runs/{problem.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = RunDir(out)
    if run_dir.exists():
        raise UsageError(f"{run_dir.path} already holds a run; continue it with: evoforge resume {out}")
    return _execute(problem, config, run_dir, new=True, verbose=args.verbose, progress=not args.no_progress)


def cmd_resume(args) -> int:
    from .database.store import Store

    run_dir = RunDir(args.run_dir)
    if not run_dir.exists():
        raise UsageError(f"{run_dir.path} is not an evoforge run directory (no evoforge.db)")
    with Store(run_dir.db_path, readonly=True) as store:
        problem_path = store.meta_get("problem_path")
        stored = store.meta_get("config") or {}
    if not problem_path:
        raise UsageError(f"{run_dir.db_path} has no problem recorded; was the run started by evoforge run?")
    problem = _load_problem(problem_path)
    if args.model:  # new models replace the stored ones; --api-base alone re-points the stored ones
        stored.setdefault("llm", {})["models"] = []
    config = _config(stored, args)
    return _execute(problem, config, run_dir, new=False, verbose=args.verbose, progress=not args.no_progress)


def _execute(problem: Problem, config: cfg.Config, run_dir: RunDir, *, new: bool, verbose: bool, progress: bool) -> int:
    from .database.store import Store
    from .engine import Engine
    from .executor import build_executor
    from .llm import Ensemble
    from .progress import ProgressDisplay

    from .judge import JudgeSetupError, check_setup

    try:
        check_setup(problem, config)  # a rubric objective with the judge switched off, ...
    except JudgeSetupError as err:
        raise UsageError(str(err)) from None
    try:  # local: an Evaluator behind a thread pool; ray: joins the cluster (executor.py)
        executor = build_executor(problem, config, effective_limits(problem, config))
    except ProblemError as err:
        raise UsageError(str(err)) from None
    store = None
    try:
        try:
            if new:  # before any LLM call: a broken problem stops here with one message
                initial = executor.check()
            isolation = executor.isolation
        except ProblemError as err:
            raise UsageError(str(err)) from None
        if new:
            run_dir.create()
        logger = run_dir.setup_logging(verbose)
        store = Store(run_dir.db_path)
        store.meta_set("problem_path", str(problem.root))
        store.meta_set("config", _stored_config(config))
        store.meta_set("isolation", isolation)
        store.meta_set("objective", {"name": problem.objective, "direction": problem.direction})
        logger.info("%s run on %s (%s format, %s evaluator, sandbox %s)", "new" if new else "resumed",
                    problem.root, problem.format, problem.evaluator_kind, isolation)
        logger.info("evaluations: %s, %d in flight", executor.description, executor.width)
        ensemble = Ensemble.from_config(config.llm)
        total = config.run.iterations
        with ProgressDisplay(total, enabled=progress) as display:
            engine = Engine(problem, config, store, getattr(executor, "evaluator", None), ensemble, run_dir,
                            on_progress=display, executor=executor)
            if new:
                engine.seed_initial(initial)
            p = asyncio.run(_run_with_signals(engine, total))
        logger.info("stopped: %s; %d iterations, best %s", p.stop_reason, p.done, p.best_score)
        final = {"run_dir": str(run_dir.path), "iterations": p.done, "best_score": p.best_score,
                 "best_id": p.best_id, "stopped": p.stop_reason, "failures": p.failures,
                 "tokens": p.tokens, "cost": round(p.cost, 6)}
        if engine.judge is not None:  # the rubric judge's share of tokens and cost (both included above)
            final["judge"] = {"tokens": p.judge_tokens, "cost": round(p.judge_cost, 6)}
        print(json.dumps(final), file=sys.stderr)
        if p.fatal:
            print(f"evoforge: error: {p.fatal}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_INTERRUPTED if p.stop_reason and p.stop_reason.startswith("signal") else EXIT_OK
    finally:
        executor.close()  # idempotent; Engine.run closes it too
        if store is not None:
            store.close()


async def _run_with_signals(engine, total: int):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.request_stop, f"signal {signal.Signals(sig).name}")
    try:
        return await engine.run(total)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
