"""Helpers shared by the evaluate test modules: small problem directories."""
from __future__ import annotations

import textwrap
from pathlib import Path

from evoforge.evaluate import Evaluator
from evoforge.problem import load_problem
from evoforge.records import Limits

FIXTURES = Path(__file__).parent / "fixtures"
PROGRAM = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x + 1\n# EVOLVE-BLOCK-END\n"


def make_problem(root: Path, evaluator: str, program: str = PROGRAM, extra: dict | None = None,
                 yaml: str = "limits:\n  timeout_s: 10\n"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "initial_program.py").write_text(textwrap.dedent(program))
    (root / "evaluator.py").write_text(textwrap.dedent(evaluator))
    if yaml:
        (root / "problem.yaml").write_text(yaml)
    for name, text in (extra or {}).items():
        (root / name).write_text(textwrap.dedent(text))
    return load_problem(root)


def evaluator_for(root: Path, evaluator: str, timeout_s: float = 10.0, **kw) -> Evaluator:
    problem = make_problem(root, evaluator, **kw)
    return Evaluator(problem, limits=Limits(timeout_s=timeout_s, memory_mb=1024))


def fixture(name: str, **kw) -> Evaluator:
    return Evaluator(load_problem(FIXTURES / name), **kw)


# A hardened scorer that sums f(1) from the candidate.
SIMPLE_SCORER = """
def score(candidate):
    return {"combined_score": float(candidate.call("f", 1))}
"""
