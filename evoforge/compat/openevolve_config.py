"""Mapping an OpenEvolve ``config.yaml`` onto evoforge's configuration.

Keys with an equivalent are translated; every other key produces exactly one
warning naming it, so a user knows what the file asked for that evoforge does not
do.  Nothing is silently dropped.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

# Keys that OpenEvolve uses for things evoforge does differently or not at all.
_EXPLAINED = {
    "checkpoint_interval": "evoforge commits every iteration; there is no checkpoint step",
    "log_level": "use evoforge's --verbose",
    "log_dir": "logs go to RUN_DIR/evoforge.log",
    "database.db_path": "the database lives in the run directory",
    "database.in_memory": "the database is always SQLite in the run directory",
    "database.log_prompts": "prompts are always stored",
    "evaluator.max_retries": "a failing candidate is recorded, not retried",
}


def _model(entry: dict[str, Any], defaults: dict[str, Any], warn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "name":
            out["name"] = value
        elif key in ("api_base", "api_key", "temperature", "max_tokens", "weight"):
            out[key] = value
        elif key == "timeout":
            out["timeout_s"] = value
        else:
            warn(f"llm.models[].{key}")
    for key, value in defaults.items():
        out.setdefault(key, value)
    return out


def map_config(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Return (run config dict, problem overrides, ignored key names)."""
    ignored: list[str] = []
    run: dict[str, Any] = {"llm": {}, "search": {}, "prompt": {}, "evaluation": {}, "run": {}}
    problem: dict[str, Any] = {}

    def warn(key: str) -> None:
        ignored.append(key)

    for key, value in data.items():
        if key == "max_iterations":
            run["run"]["iterations"] = int(value)
        elif key == "random_seed" and value is not None:
            run["run"]["seed"] = int(value)
        elif key == "diff_based_evolution":
            run["prompt"]["diff_probability"] = 1.0 if value else 0.0
        elif key in ("llm", "prompt", "database", "evaluator") and isinstance(value, dict):
            continue
        elif key in ("language", "file_suffix"):
            continue  # taken from the initial program's extension
        else:
            warn(key)

    llm = data.get("llm") or {}
    defaults = {k: llm[k] for k in ("api_base", "api_key", "temperature", "max_tokens") if llm.get(k) is not None}
    if llm.get("timeout") is not None:
        defaults["timeout_s"] = llm["timeout"]
    models = [_model(m, defaults, warn) for m in llm.get("models") or [] if isinstance(m, dict)]
    if not models and llm.get("primary_model"):
        models.append({"name": llm["primary_model"], "weight": llm.get("primary_model_weight", 1.0), **defaults})
        if llm.get("secondary_model"):
            models.append({"name": llm["secondary_model"], "weight": llm.get("secondary_model_weight", 0.2), **defaults})
    if models:
        run["llm"]["models"] = [m for m in models if m.get("name")]
    for key, value in llm.items():
        if key == "retries":
            run["llm"]["max_retries"] = int(value)
        elif key not in ("models", "primary_model", "primary_model_weight", "secondary_model",
                         "secondary_model_weight", "api_base", "api_key", "temperature", "max_tokens", "timeout"):
            warn(f"llm.{key}")

    prompt = data.get("prompt") or {}
    n_insp = 0
    for key, value in prompt.items():
        if key == "system_message" and value:
            run["prompt"]["system_message"] = str(value)
        elif key in ("num_top_programs", "num_diverse_programs"):
            n_insp += int(value)
        else:
            warn(f"prompt.{key}")
    if n_insp:
        run["search"]["num_inspirations"] = n_insp

    db = data.get("database") or {}
    islands = int(db.get("num_islands", 4) or 4)
    for key, value in db.items():
        if key == "num_islands":
            run["search"]["num_islands"] = islands
        elif key == "population_size":
            run["search"]["population_per_island"] = max(2, int(value) // islands)
        elif key == "migration_interval":
            run["search"]["migration_interval"] = int(value)
        elif key == "migration_rate":
            per_island = run["search"].get("population_per_island", 40)
            run["search"]["migration_count"] = max(1, round(float(value) * per_island))
        elif key in ("exploration_ratio", "exploitation_ratio"):
            run["search"][key] = float(value)
        elif key == "feature_dimensions":
            run["search"]["archive_dims"] = list(value)
        elif key == "feature_bins" and isinstance(value, int):
            run["search"]["archive_bins"] = value
        elif key == "random_seed" and value is not None:
            run["run"]["seed"] = int(value)
        else:
            warn(f"database.{key}")

    ev = data.get("evaluator") or {}
    for key, value in ev.items():
        if key == "timeout":
            problem["timeout_s"] = float(value)
        elif key == "cascade_evaluation":
            run["evaluation"]["cascade"] = bool(value)
        elif key == "cascade_thresholds":
            problem["cascade_thresholds"] = [float(v) for v in value]
        elif key == "parallel_evaluations":
            run["evaluation"]["max_in_flight"] = int(value)
        elif key == "memory_limit_mb" and value:
            problem["memory_mb"] = int(value)
        else:
            warn(f"evaluator.{key}")
    return {k: v for k, v in run.items() if v}, problem, ignored


def apply_openevolve_config(problem, data: dict[str, Any]) -> None:
    """Fill `problem` from an OpenEvolve config; one warning per ignored key."""
    from .. import config as cfg
    from ..problem import ProblemError

    run, overrides, ignored = map_config(data)
    try:
        cfg.validate(run, f"{problem.root / 'config.yaml'} (mapped from OpenEvolve)")
    except cfg.ConfigError as err:
        raise ProblemError(str(err)) from None
    problem.run_config = run
    limits = {k: overrides[k] for k in ("timeout_s", "memory_mb") if k in overrides}
    if limits:
        problem.limits = replace(problem.limits, **limits)
    if "cascade_thresholds" in overrides:
        problem.cascade_thresholds = overrides["cascade_thresholds"]
    prompt = data.get("prompt") or {}
    if isinstance(prompt.get("system_message"), str) and not problem.description:
        problem.description = prompt["system_message"]
    for key in ignored:
        reason = _EXPLAINED.get(key, "no equivalent in evoforge")
        problem.warnings.append(f"OpenEvolve config key '{key}' is ignored: {reason}")
