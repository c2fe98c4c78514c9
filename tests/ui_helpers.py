"""Run databases for the dashboard and report tests.

``make_real_run`` drives the real CLI against the LLM double, with a few scripted
replies that fail in different ways, so every view has something to show.
``seed_large`` writes a synthetic run of any size straight through
``evoforge.database.store.Store`` (the same writer the engine uses).
"""
from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import evoforge_cli, write_tiny_problem

# Replies the engine turns into: an edit failure, an exception in the candidate, a wrong type.
BAD_REPLIES = [
    "I cannot help with that.",
    "```python\n# EVOLVE-BLOCK-START\ndef f(x):\n    raise ValueError('nope')\n# EVOLVE-BLOCK-END\n```",
    "```python\n# EVOLVE-BLOCK-START\ndef f(x):\n    return 'seven'\n# EVOLVE-BLOCK-END\n```",
]


def make_real_run(root: Path, double, iterations: int = 24) -> Path:
    """A finished run of the tiny problem with two models and some failures; returns RUN_DIR."""
    problem = write_tiny_problem(root / "tiny")
    cfg = root / "run.yaml"
    cfg.write_text("prompt:\n  diff_probability: 0.0\nllm:\n  max_in_flight: 2\n"
                   "  models:\n    - {name: m1, price_in_per_mtok: 1.0, price_out_per_mtok: 3.0}\n"
                   "    - {name: m2}\n")
    double.script(BAD_REPLIES)
    out = root / "run"
    proc = evoforge_cli("run", str(problem), "--api-base", double.base_url, "--config", str(cfg),
                        "--iterations", str(iterations), "--seed", "5", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def seed_large(db_path: Path, n: int, *, seed: int = 0, objectives: bool = True, fast: bool = True) -> None:
    """Write ``n`` programs (≈ n proposals) with islands, two models, failures of several
    kinds, a deep lineage and two objectives, through ``Store.record_iteration``."""
    from evoforge.database import features_of
    from evoforge.database.store import ProgramRecord, ProposalRecord, Store

    rng = random.Random(seed)
    store = Store(db_path)
    if fast:  # a benchmark database, not a durable one
        store.con.execute("PRAGMA synchronous=OFF")
    store.meta_set("objective", {"name": "combined_score", "direction": "maximize"})
    store.meta_set("problem_path", "/synthetic/large")
    store.meta_set("isolation", "process")
    search = {"num_islands": 4, "archive_dims": ["complexity", "score"], "archive_bins": 8}
    if objectives:  # as the engine stores a multi-objective config (search.objectives)
        search["objectives"] = [{"metric": "score", "direction": "maximize"},
                                {"metric": "runtime", "direction": "minimize"}]
    store.meta_set("config", {"search": search,
                              "llm": {"models": [{"name": "big", "price_in_per_mtok": 2.0, "price_out_per_mtok": 8.0},
                                                 {"name": "small"}]}})
    good: list[tuple[int, float, int]] = []  # (id, score, generation) of valid programs
    code = "def f(x):\n    return x\n"
    for k in range(4):
        pid = store.add_program(ProgramRecord(None, None, None, k, 0, 0, code, "python", True, 0.0,
                                              {"combined_score": 0.0, "runtime": 1.0}, features=features_of(code)))
        good.append((pid, 0.0, 0))
    kinds = ["timeout", "exception", "invalid_output", "memory"]
    it = 0
    made = 4
    while made < n:
        it += 1
        pool = sorted(rng.sample(good, min(len(good), 8)), key=lambda g: -g[1])
        parent = pool[0] if rng.random() < 0.7 else rng.choice(pool)
        model = "big" if rng.random() < 0.4 else "small"
        body = code + "# " + "x" * rng.randint(0, 400) + "\n"
        prop = ProposalRecord(None, it, it % 4, parent[0], None, model, "diff",
                              [{"role": "user", "content": f"improve program {parent[0]}"}], "reply",
                              rng.randint(500, 900), rng.randint(50, 200), rng.random(), "evaluated", None, None)
        roll = rng.random()
        if roll < 0.04:
            prop.outcome, prop.error = "edit_failed", "search_not_found: the SEARCH text is not in the program"
            store.record_iteration(prop, None)
            continue
        valid = roll > 0.12
        score = parent[1] + rng.gauss(0.0, 1.0) if valid else None
        metrics = {"combined_score": score, "runtime": abs(rng.gauss(1.0, 0.3)) + 0.01 * abs(score)} if valid else {}
        child = ProgramRecord(None, parent[0], None, it % 4, parent[2] + 1, it, body, "python", valid, score, metrics,
                              error=None if valid else "it broke", failure_kind=None if valid else rng.choice(kinds),
                              features=features_of(body), model=model)
        store.record_iteration(prop, child)
        made += 1
        if valid:
            good.append((child.id, score, parent[2] + 1))
    store.close()


def shared_real_run(tmp_path_factory) -> Path:
    """One real run per test session, shared by the dashboard, browser and report tests
    (treat it as read-only; copy it to change it)."""
    from evoforge.testing.llm_double import LLMDouble

    root = tmp_path_factory.getbasetemp() / "ui-real-run"
    if not (root / "run" / "evoforge.db").exists():
        root.mkdir(exist_ok=True)
        with LLMDouble(seed=1) as double:
            make_real_run(root, double)
    return root / "run"


LARGE_N = int(os.environ.get("EVOFORGE_UI_LARGE_N", "10000"))  # bench/ui_scale.py runs 100,000


def shared_large_run(tmp_path_factory) -> Path:
    """One synthetic run of LARGE_N programs per test session (read-only for the tests)."""
    root = tmp_path_factory.getbasetemp() / "ui-large-run"
    done = root.with_name("ui-large-run.done")
    if not done.exists():
        root.mkdir(exist_ok=True)
        (root / "evoforge.db").unlink(missing_ok=True)
        seed_large(root / "evoforge.db", LARGE_N)
        done.touch()
    return root


class UIProcess:
    """``evoforge ui RUN_DIR --port 0 --json`` in a subprocess; ``.url`` once it serves."""

    def __init__(self, run_dir: Path, *extra: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "evoforge", "ui", str(run_dir), "--port", "0", "--json",
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise AssertionError(f"evoforge ui did not start: {self.proc.stderr.read()}")
        self.info = json.loads(line)
        self.url = self.info["url"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> "UIProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
