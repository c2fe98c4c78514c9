"""Building the chat messages for one proposal.

The prompt shows the problem, the parent program with its metrics and the
evaluator's feedback, a few inspirations with their scores, and asks for either
SEARCH/REPLACE diffs or a full rewrite of the EVOLVE blocks.  Small local models
follow a plain "return the whole block in one code fence" request far more
reliably than the diff format, so the rewrite request is deliberately simple.
"""
from __future__ import annotations

import json
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

REWRITE_FORMAT_ONE = """Reply with the complete new code of the EVOLVE block (everything between the
EVOLVE-BLOCK-START and EVOLVE-BLOCK-END lines, without those marker lines) in a single
```{lang} code fence. Keep every function name and signature the rest of the program uses,
and return the same kind of value (type, length, shape) as the current program does.
Do not write anything after the code fence."""

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
) -> list[dict[str, str]]:
    """Chat messages asking for a `mode` ("diff" or "rewrite") edit of `parent`."""
    lang = language if language not in ("text", "markdown") else ""
    goal = "maximise" if direction == "maximize" else "minimise"
    parts = []
    if description.strip():
        parts.append("# Problem\n" + description.strip())
    parts.append(f"# Objective\n{goal} the metric `{objective}`.")
    status = f"{objective} = {_score(parent.score)}; metrics: {format_metrics(parent.metrics)}"
    if not parent.valid:
        status = "INVALID — fix it first."
    current = [f"# Current program ({status})", f"```{lang}\n{truncate_middle(parent.code, config.max_program_chars)}\n```"]
    if parent.feedback:
        current.append("Evaluator feedback on the current program:\n" + parent.feedback)
    parts.append("\n".join(current))
    for i, insp in enumerate(inspirations, 1):
        parts.append(
            f"# Inspiration {i} ({objective} = {_score(insp.score)})\n"
            f"```{lang}\n{truncate_middle(insp.code, config.max_program_chars // 2)}\n```"
        )
    if second_parent is not None:
        parts.append(
            f"# Second parent ({objective} = {_score(second_parent.score)})\n"
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


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.10g}"
