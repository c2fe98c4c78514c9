"""Shared fixtures: the LLM test double (a real HTTP server on 127.0.0.1) and a tiny problem."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoforge.testing.llm_double import LLMDouble

REPO = Path(__file__).resolve().parents[1]
from shared_data import SHARED_DATA  # noqa: E402,F401 - ../shared/data, wherever this clone is

TINY_PROGRAM = """\
# A tiny problem: make f(2) close to 7.3.
# EVOLVE-BLOCK-START
def f(x):
    return 1.0 * x + 1.0
# EVOLVE-BLOCK-END
"""

TINY_EVALUATOR = """\
import math

def score(candidate):
    y = candidate.call("f", 2.0)
    if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
        return {"valid": False, "error": f"f(2) must be a finite real number, got {y!r}"}
    return {"combined_score": -abs(float(y) - 7.3), "value": float(y)}
"""


@pytest.fixture
def llm_double():
    with LLMDouble(seed=1) as double:
        yield double


def write_tiny_problem(root: Path, *, timeout_s: float = 20) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "initial_program.py").write_text(TINY_PROGRAM)
    (root / "evaluator.py").write_text(TINY_EVALUATOR)
    (root / "problem.yaml").write_text(textwrap.dedent(f"""\
        description: Make f(2) as close to 7.3 as possible.
        objective: combined_score
        direction: maximize
        limits:
          timeout_s: {timeout_s}
        """))
    return root


@pytest.fixture
def tiny_problem(tmp_path) -> Path:
    return write_tiny_problem(tmp_path / "tiny")


def evoforge_cli(*args: str, env: dict | None = None, timeout: float = 300, check: bool = False,
                 **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "evoforge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"evoforge {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
