"""Building the chat messages for one proposal.

The prompt shows the problem, the parent program with its metrics and the
evaluator's feedback, a few inspirations with their scores, and asks for either
SEARCH/REPLACE diffs or a full rewrite of the EVOLVE blocks.  Small local models
follow a plain "return the whole block in one code fence" request far more
reliably than the diff format, so the rewrite request is deliberately simple.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from .config import PromptConfig

DEFAULT_SYSTEM = (
    "You are an expert programmer and researcher improving a program by evolution. "
    "Each change you propose is run and scored automatically. Make one focused, "
    "correct improvement at a time; keep the program's interface unchanged."
)

DIFF_FORMAT = """Reply with one or more SEARCH/REPLACE blocks, exactly in this format:

<<<<<<< SEARCH
lines copied exactly from the current program
=======
the lines that replace them
>>>>>>> REPLACE

Only edit code between EVOLVE-BLOCK-START and EVOLVE-BLOCK-END. The SEARCH part must
match the current program exactly (including indentation). Explain your idea in one
sentence before the blocks."""

REWRITE_FORMAT_ONE = """First write one sentence: the one concrete change you will make to what the code
computes, and why it should score better. Then give the complete new code of the EVOLVE
block (everything between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END lines, without those
marker lines) in a single ```{lang} code fence. Keep every function name and signature the
rest of the program uses, and return the same kind of value (type, length, shape) as the
current program does. Define every helper you call. Do not write anything after the code fence."""

REWRITE_FORMAT_MANY = """Reply with the complete new program in a single ```{lang} code fence, keeping every
EVOLVE-BLOCK-START / EVOLVE-BLOCK-END marker line and leaving the code outside the blocks
exactly as it is."""


@dataclass
class Shown:
    """A program as the prompt shows it."""

    code: str
    score: float | None
    metrics: dict[str, Any]
    feedback: str = ""
    valid: bool = True


def truncate_middle(text: str, limit: int) -> str:
    """Keep head and tail: tracebacks and summaries live at both ends."""
    if len(text) <= limit:
        return text
    if limit <= 40:
        return text[:limit]
    half = (limit - 30) // 2
    return f"{text[:half]}\n… [{len(text) - 2 * half} characters cut] …\n{text[-half:]}"


def format_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(metrics.items()):
        parts.append(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts) or "(none)"


def feedback_of(stdout: str, stderr: str, error: str | None, artifacts: dict[str, Any], limit: int) -> str:
    """The evaluator output worth showing the model, within `limit` characters."""
    pieces = []
    if error:
        pieces.append(f"error: {error}")
    if artifacts:
        pieces.append("artifacts: " + json.dumps(artifacts, default=str)[: max(limit // 2, 1)])
    if stderr.strip():
        pieces.append("stderr:\n" + stderr.strip())
    if stdout.strip():
        pieces.append("stdout:\n" + stdout.strip())
    return truncate_middle("\n".join(pieces), limit) if limit else ""


def build_messages(
    *,
    description: str,
    objective: str,
    direction: str,
    language: str,
    parent: Shown,
    inspirations: Sequence[Shown],
    mode: str,
    n_blocks: int,
    config: PromptConfig,
    instruction: str | None = None,
    second_parent: Shown | None = None,
    objectives: Sequence[tuple[str, bool]] = (),
    packages: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking for a `mode` ("diff" or "rewrite") edit of `parent`.

    `objectives` are the (metric, maximize) pairs of multi-objective search (``search.objectives``):
    the prompt then names every one with its direction and shows each program's value of each.
    `packages`, when the problem declares them, are the only third-party modules the prompt offers."""
    lang = language if language not in ("text", "markdown") else ""
    goal = "maximise" if direction == "maximize" else "minimise"
    parts = []
    if description.strip():
        parts.append("# Problem\n" + description.strip())
    if packages is not None:
        parts.append(environment_section(language, packages))
    pareto: list[tuple[str, bool]] = []
    for metric, maximize in objectives:  # `score` is the problem's objective under another name
        metric = objective if metric == "score" else metric
        if all(metric != m for m, _ in pareto):
            pareto.append((metric, maximize))
    shown = [(objective, direction == "maximize")] + [o for o in pareto if o[0] != objective]
    if pareto:
        parts.append(objectives_section(objective, direction, pareto))
    else:
        parts.append(f"# Objective\n{goal} the metric `{objective}`.")
    values = lambda p: "; ".join(f"{m} = {objective_value(p, m, objective)}" for m, _ in shown)  # noqa: E731
    status = f"{values(parent)}; metrics: {format_metrics(parent.metrics)}"
    if not parent.valid:
        status = "INVALID — fix it first."
    current = [f"# Current program ({status})", f"```{lang}\n{truncate_middle(parent.code, config.max_program_chars)}\n```"]
    if parent.feedback:
        current.append("Evaluator feedback on the current program:\n" + parent.feedback)
    parts.append("\n".join(current))
    for i, insp in enumerate(inspirations, 1):
        parts.append(
            f"# Inspiration {i} ({values(insp)})\n"
            f"```{lang}\n{truncate_middle(insp.code, config.max_program_chars // 2)}\n```"
        )
    if second_parent is not None:
        parts.append(
            f"# Second parent ({values(second_parent)})\n"
            f"```{lang}\n{truncate_middle(second_parent.code, config.max_program_chars)}\n```\n"
            "Combine the best ideas of both parents into one program."
        )
    if instruction:
        parts.append("# Guidance\n" + instruction.strip())
    if mode == "diff":
        parts.append("# Task\nPropose an improvement to the current program.\n" + DIFF_FORMAT)
    else:
        fmt = REWRITE_FORMAT_ONE if n_blocks == 1 else REWRITE_FORMAT_MANY
        parts.append("# Task\nWrite an improved version.\n" + fmt.format(lang=lang))
    return [
        {"role": "system", "content": config.system_message or DEFAULT_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def environment_section(language: str, packages: Sequence[str]) -> str:
    """What the candidate can import: small models otherwise import packages that are not installed."""
    where = f"{language} with the standard library" if language != "python" else \
        f"Python {sys.version_info.major}.{sys.version_info.minor} with the standard library"
    extra = f" and only these packages: {', '.join(packages)}" if packages else " only"
    return f"# Environment\nThe program runs under {where}{extra}. Nothing else can be imported."


def objectives_section(objective: str, direction: str, pareto: Sequence[tuple[str, bool]]) -> str:
    """The `# Objectives` section of multi-objective search: every metric with its direction."""
    lines = ["# Objectives", "Several metrics are optimised at once; the search keeps every program that no "
             "other program dominates (is at least as good on all of them and better on one):"]
    for metric, maximize in pareto:
        what = " (the length of the code in characters)" if metric == "complexity" else ""
        lines.append(f"- {'maximise' if maximize else 'minimise'} `{metric}`{what}")
    goal = "maximise" if direction == "maximize" else "minimise"
    lines.append(f"The main objective, which decides the best program, is to {goal} `{objective}`.")
    return "\n".join(lines)


def objective_value(p: Shown, metric: str, objective: str) -> str:
    """A program's value of one objective metric, as the prompt shows it ("n/a" when it has none)."""
    if metric == objective:
        value = p.score if p.score is not None else p.metrics.get(metric)
    elif metric == "complexity" and metric not in p.metrics:
        value = len(p.code)
    else:
        value = p.metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return _score(float(value))


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.10g}"
