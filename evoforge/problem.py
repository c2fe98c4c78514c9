"""Loading a problem directory.

Three layouts are recognised, so that existing problems run unmodified:

* native: ``initial_program.<ext>`` + ``evaluator.py`` (+ optional ``problem.yaml``);
* OpenEvolve: ``initial_program.<ext>`` + ``evaluator.py`` + ``config.yaml``;
* ShinkaEvolve: ``initial.<ext>`` + ``evaluate.py`` with ``main(program_path, results_dir)``.

The evaluator's kind is read from its source with ``ast`` (no import), so a
broken evaluator is reported by the evaluation check, not by the loader.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import config as cfg
from .blocks import BlockError, find_blocks
from .feature_schemas import RubricSpec
from .records import Limits


class ProblemError(ValueError):
    """The problem directory is unusable; the message names the cause."""


LANGUAGES = {
    ".py": "python", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".rs": "rust",
    ".go": "go", ".js": "javascript", ".ts": "typescript", ".java": "java", ".jl": "julia",
    ".lua": "lua", ".sh": "bash", ".txt": "text", ".md": "markdown", ".json": "json",
    ".yaml": "yaml", ".cu": "cuda", ".metal": "metal", ".r": "r",
}


class LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_s: float = Field(60.0, gt=0)
    memory_mb: int = Field(2048, gt=0)
    cpu_s: float | None = Field(None, gt=0)
    max_processes: int = Field(64, gt=0)
    max_output_bytes: int = Field(1_000_000, gt=0)
    max_file_mb: int = Field(256, gt=0)
    max_disk_mb: int = Field(512, gt=0)


class ProblemSpec(BaseModel):
    """Schema of a native ``problem.yaml``."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str = ""
    objective: str = "combined_score"
    direction: Literal["maximize", "minimize"] = "maximize"
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    cascade_thresholds: list[float] = Field(default_factory=list)
    best_known: float | None = None
    best_known_source: str | None = None
    proven_bound: float | None = None
    grants: list[str] = Field(default_factory=list, description="Paths (relative to the problem) the candidate may read.")
    network: bool = False
    packages: list[str] | None = Field(None, description="Third-party Python packages a candidate may import (e.g. [numpy, scipy]). The prompt names those installed here and says nothing else can be imported, so that models do not reach for packages that are not there; a listed package that is not installed is a load warning.")
    config: dict[str, Any] = Field(default_factory=dict, description="Run-config defaults for this problem (same schema as --config).")
    rubric: RubricSpec | None = Field(None, description="LLM-judged rubric: weighted criteria graded after a candidate passes the evaluator; adds the metrics `rubric_score` and `rubric_<name>` (docs/features.md, \"Rubric judges\").")


@dataclass
class Problem:
    root: Path
    name: str
    format: str  # native | openevolve | shinka
    initial_program: Path
    initial_code: str
    language: str
    evaluator_path: Path
    evaluator_kind: str  # hardened | evaluate | shinka
    description: str = ""
    objective: str = "combined_score"
    direction: str = "maximize"
    limits: Limits = field(default_factory=Limits)
    stages: list[str] = field(default_factory=list)
    cascade_thresholds: list[float] = field(default_factory=list)
    grants: list[Path] = field(default_factory=list)
    best_known: float | None = None
    best_known_source: str | None = None
    proven_bound: float | None = None
    run_config: dict[str, Any] = field(default_factory=dict)  # defaults for the run Config
    warnings: list[str] = field(default_factory=list)
    packages: list[str] | None = None  # importable third-party packages named in the prompt (None: not declared)
    rubric: RubricSpec | None = None  # graded by the LLM judge in the controller (judge.py)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def judged_metrics(self) -> set[str]:
        """Metrics the rubric judge adds after evaluation (the evaluator need not return them)."""
        return set(self.rubric.metric_names()) if self.rubric is not None else set()

    def fitness(self, value: float) -> float:
        """Larger is better, whatever the direction."""
        return value if self.maximize else -value


def _find_initial(root: Path, stem: str) -> Path | None:
    hits = sorted(p for p in root.glob(stem + ".*") if p.is_file() and p.suffix not in (".pyc", ".orig", ".bak"))
    return hits[0] if hits else None


def _top_level_functions(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as err:
        raise ProblemError(f"evaluator {path.name} has a syntax error at line {err.lineno}: {err.msg}") from None
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _installed(package: str) -> bool:
    """Whether `package` can be imported here, found without importing (running) it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _description(root: Path) -> str:
    for name in ("description.md", "README.md", "prompt.md"):
        p = root / name
        if p.is_file():
            return p.read_text()[:8000]
    return ""


def load_problem(path: str | Path) -> Problem:
    """Load and statically check a problem directory (no code is run).

    `path` may also name a built-in problem (``evoforge problems``) when no such
    path exists.
    """
    if not Path(path).exists():
        from .problems import resolve

        path = resolve(path)  # ProblemError naming the built-in problems if there is none
    root = Path(path).resolve()
    if not root.is_dir():
        raise ProblemError(f"problem directory not found: {path}")

    initial = _find_initial(root, "initial_program")
    fmt = "native"
    evaluator = root / "evaluator.py"
    if initial is None:
        initial = _find_initial(root, "initial")
        if initial is not None and (root / "evaluate.py").is_file() and not evaluator.is_file():
            evaluator, fmt = root / "evaluate.py", "shinka"
    if initial is None:
        raise ProblemError(f"no initial program in {root}: expected initial_program.<ext> (native/OpenEvolve) or initial.<ext> (ShinkaEvolve)")
    if not evaluator.is_file():
        raise ProblemError(f"no evaluator in {root}: expected evaluator.py (or evaluate.py for ShinkaEvolve)")
    try:
        code = initial.read_text()
    except UnicodeDecodeError:
        raise ProblemError(f"initial program {initial.name} is not a text file") from None
    try:
        find_blocks(code)
    except BlockError as err:
        raise ProblemError(f"initial program {initial.name}: {err}") from None

    funcs = _top_level_functions(evaluator)
    stages = sorted(f for f in funcs if f.startswith("evaluate_stage") and f[len("evaluate_stage"):].isdigit())
    stages.sort(key=lambda s: int(s[len("evaluate_stage"):]))
    if fmt == "shinka":
        if "main" not in funcs:
            raise ProblemError(f"{evaluator.name} defines no main(program_path, results_dir)")
        kind = "shinka"
    elif "score" in funcs:
        kind = "hardened"
    elif "evaluate" in funcs or stages:
        kind = "evaluate"
    else:
        raise ProblemError(f"{evaluator.name} defines neither score(candidate) nor evaluate(program_path)")

    problem = Problem(
        root=root, name=root.name, format=fmt, initial_program=initial, initial_code=code,
        language=LANGUAGES.get(initial.suffix.lower(), initial.suffix.lstrip(".") or "text"),
        evaluator_path=evaluator, evaluator_kind=kind, stages=stages if kind == "evaluate" else [],
        description=_description(root),
    )
    if (root / "problem.yaml").is_file():
        _apply_native(problem, root / "problem.yaml")
    elif (root / "config.yaml").is_file() and fmt != "shinka":
        from .compat.openevolve_config import apply_openevolve_config

        problem.format = "openevolve"
        apply_openevolve_config(problem, cfg.read_yaml(root / "config.yaml"))
    elif kind == "evaluate" and fmt == "native":
        problem.format = "openevolve"
    return problem


def _apply_native(problem: Problem, path: Path) -> None:
    try:
        spec = ProblemSpec.model_validate(cfg.read_yaml(path))
    except ValidationError as err:
        raise ProblemError(cfg._format_errors(err, str(path))) from None
    except cfg.ConfigError as err:
        raise ProblemError(str(err)) from None
    if spec.config:
        try:
            cfg.validate(spec.config, f"{path} (config:)")
        except cfg.ConfigError as err:
            raise ProblemError(str(err)) from None
    problem.name = spec.name or problem.name
    problem.description = spec.description or problem.description
    problem.objective, problem.direction = spec.objective, spec.direction
    problem.limits = Limits(**spec.limits.model_dump(), network=spec.network)
    problem.cascade_thresholds = spec.cascade_thresholds
    problem.best_known, problem.best_known_source = spec.best_known, spec.best_known_source
    problem.proven_bound = spec.proven_bound
    problem.run_config = spec.config
    if spec.packages is not None:
        problem.packages = [name for name in spec.packages if _installed(name)]
        problem.warnings += [f"{path.name}: package {name} is not installed here; the prompt will not offer it"
                             for name in spec.packages if name not in problem.packages]
    for g in spec.grants:
        p = (problem.root / g).resolve()
        if not p.exists():
            raise ProblemError(f"{path}: granted path {g} does not exist")
        problem.grants.append(p)
    _apply_rubric(problem, spec, path)


def _apply_rubric(problem: Problem, spec: ProblemSpec, path: Path) -> None:
    problem.rubric = spec.rubric
    if spec.rubric is None:
        return
    for name in spec.rubric.context_files:
        if not (problem.root / name).is_file():
            raise ProblemError(f"{path}: rubric context file {name} does not exist")
