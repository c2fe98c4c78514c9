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
    diff_probability: float | None = Field(None, ge=0, le=1, description="Overrides `prompt.diff_probability` for this model; `local` models default to 0 (full rewrites), which small models follow far more reliably (docs/local_model.md).")


class LLMConfig(_Strict):
    models: list[ModelConfig] = Field(default_factory=list, description="The model ensemble.")
    max_in_flight: int = Field(8, gt=0, description="LLM requests kept in flight at once.")
    max_retries: int = Field(5, ge=0, description="Retries per request on 429/5xx/timeouts before giving up.")


class SearchConfig(_Strict):
    num_islands: int = Field(4, gt=0, description="Independent sub-populations.")
    population_per_island: int = Field(40, gt=1, description="Programs kept per island for selection (bounded, so selection cost does not grow with the database).")
    migration_interval: int = Field(25, gt=0, description="Iterations between migrations of each island's best programs to the next island (ring).")
    migration_count: int = Field(2, ge=0, description="Programs copied per island at each migration.")
    archive_dims: list[str] = Field(default_factory=lambda: ["complexity", "score"], description="MAP-Elites feature dimensions: `complexity` (code length), `score`, or any metric name returned by the evaluator.")
    archive_bins: int = Field(8, gt=0, description="Bins per archive dimension.")
    exploitation_ratio: float = Field(0.6, ge=0, le=1, description="Share of parents drawn from the island's elites by rank.")
    exploration_ratio: float = Field(0.25, ge=0, le=1, description="Share of parents drawn uniformly from the island's population; the rest come from random archive cells.")
    num_inspirations: int = Field(3, ge=0, description="Other programs shown in the prompt (best and diverse).")

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


class EvaluationConfig(_Strict):
    timeout_s: float | None = Field(None, gt=0, description="Wall-clock limit per evaluation; default: the problem's, else 60.")
    memory_mb: int | None = Field(None, gt=0, description="Memory limit per evaluation; default: the problem's, else 2048.")
    max_in_flight: int = Field(default_factory=_cores, gt=0, description="Evaluations running at once (default: the number of cores).")
    isolation: Literal["auto", "namespaces", "bwrap", "process"] = Field("auto", description="Sandbox mode (docs/security.md).")
    cascade: bool = Field(True, description="Use the problem's evaluate_stageN cascade when it has one.")


class RunConfig(_Strict):
    iterations: int = Field(100, ge=0, description="LLM proposals to make in this invocation.")
    max_wall_s: float | None = Field(None, gt=0, description="Stop after this many seconds.")
    target_score: float | None = Field(None, description="Stop once the objective reaches this value.")
    max_total_tokens: int | None = Field(None, gt=0, description="Stop once this many tokens were used (whole run).")
    seed: int = Field(0, description="Seed of every random decision evoforge makes.")


class Config(_Strict):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    run: RunConfig = Field(default_factory=RunConfig)


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
